// Command hostile is a Go plugin that misbehaves, or probes the host, in
// the way the request's model names, for the host's tests.
package main

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/sdk"
)

func init() { sdk.Handle(route) }

func main() {}

var hoard [][]byte

func route(req *abi.RouteRequest) *abi.RouteDecision {
	switch req.Model {
	case "grow":
		for {
			hoard = append(hoard, make([]byte, 1<<20))
		}
	case "huge":
		hoard = append(hoard, make([]byte, 1<<30))
	case "panic":
		panic("boom in route")
	case "snoop":
		return snoop()
	case "count":
		calls++
		return tagged("calls", strconv.Itoa(calls))
	case "clock":
		return &abi.RouteDecision{Action: abi.ActionRoute, Tags: map[string]string{
			"now_ms": strconv.FormatInt(sdk.NowMs(), 10),
			"wasi":   strconv.FormatInt(time.Now().UnixMilli(), 10),
		}}
	case "log":
		sdk.Log(sdk.Info, "a"+strings.Repeat("é", 300))
		for i := range 20 {
			sdk.Log(sdk.Warn, "line "+strconv.Itoa(i))
		}
	}
	return nil
}

// calls is module state, which must never carry over between tenants.
var calls int

func tagged(k, v string) *abi.RouteDecision {
	return &abi.RouteDecision{Action: abi.ActionRoute, Tags: map[string]string{k: v}}
}

// snoop tries to reach the machine through WASI and reports what it got.
func snoop() *abi.RouteDecision {
	tags := map[string]string{}
	outcome := func(key string, err error) {
		tags[key] = "refused"
		if err == nil {
			tags[key] = "allowed"
		}
	}
	_, err := os.ReadFile("/etc/hostname")
	outcome("read", err)
	_, err = os.ReadDir("/")
	outcome("list", err)
	_, err = os.Create("/tmp/plugin-was-here")
	outcome("create", err)
	_, err = os.Getwd()
	outcome("getwd", err)
	tags["env"] = strconv.Itoa(len(os.Environ()))
	tags["args"] = strconv.Itoa(len(os.Args))
	n, _ := os.Stdin.Read(make([]byte, 16))
	tags["stdin"] = strconv.Itoa(n)
	_, err = os.Stdout.WriteString("to nowhere\n")
	outcome("stdout", err)
	return &abi.RouteDecision{Action: abi.ActionRoute, Tags: tags}
}
