package sdk_test

import (
	"encoding/json"
	"fmt"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/sdk"
)

// A plugin is one route function registered with Handle; RouteJSON runs it
// natively exactly as the sy_route export does inside the module.
func Example() {
	sdk.Handle(func(req *abi.RouteRequest) *abi.RouteDecision {
		if req.Model == "fast" {
			return &abi.RouteDecision{Action: abi.ActionRoute, Model: "google/gemini-2.5-flash", Tags: map[string]string{"alias": "fast"}}
		}
		return nil // route as the client asked
	})
	fmt.Printf("%s\n", sdk.RouteJSON([]byte(`{"abi":1,"model":"fast"}`)))
	fmt.Printf("%s\n", sdk.RouteJSON([]byte(`{"abi":1,"model":"openai/gpt-4o"}`)))
	// Output:
	// {"action":"route","model":"google/gemini-2.5-flash","tags":{"alias":"fast"}}
	// {"action":"route"}
}

// Reject refuses a request with a client-visible status and message.
func ExampleReject() {
	sdk.Handle(func(req *abi.RouteRequest) *abi.RouteDecision {
		if req.Edge.Country == "" {
			return sdk.Reject(403, "requests must come from a known country")
		}
		return nil
	})
	req, _ := json.Marshal(&abi.RouteRequest{ABI: 1, Model: "openai/gpt-4o-mini"})
	fmt.Printf("%s\n", sdk.RouteJSON(req))
	// Output:
	// {"action":"reject","status":403,"message":"requests must come from a known country"}
}

// CounterAdd keeps state across requests: here, three requests a minute
// per user. Natively the counter lives in the test process.
func ExampleCounterAdd() {
	sdk.Handle(func(req *abi.RouteRequest) *abi.RouteDecision {
		if sdk.CounterAdd("rpm:"+req.Headers["x-sy-user"], 1, 60) > 3 {
			return sdk.Reject(429, "three requests a minute")
		}
		return nil
	})
	req := []byte(`{"abi":1,"headers":{"x-sy-user":"ada"}}`)
	for range 4 {
		fmt.Printf("%s\n", sdk.RouteJSON(req))
	}
	// Output:
	// {"action":"route"}
	// {"action":"route"}
	// {"action":"route"}
	// {"action":"reject","status":429,"message":"three requests a minute"}
}
