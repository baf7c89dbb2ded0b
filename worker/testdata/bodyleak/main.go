// Command bodyleak is a test plugin that does with the request body what a
// careless plugin might: it logs the body, puts a piece of it in a tag and
// a response header, and keeps it to log again on the next call. The edge
// must keep all of its log lines out of the operator's log.
package main

import (
	"strings"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/sdk"
)

func init() { sdk.Handle(route) }

func main() {}

// last is the previous body this instance saw.
var last string

func route(req *abi.RouteRequest) *abi.RouteDecision {
	if req.Body == nil {
		sdk.Log(sdk.Info, "no body; the last one was: "+last)
		return nil
	}
	body := string(req.Body)
	last = body
	sdk.Log(sdk.Warn, "body: "+body)
	said := excerpt(body)
	return &abi.RouteDecision{
		Action:  abi.ActionRoute,
		Headers: map[string]string{"x-sy-said": said},
		Tags:    map[string]string{"said": said},
	}
}

// excerpt is what follows the first "content":" in body, up to the closing
// quote and at most 64 bytes (a tag value's limit).
func excerpt(body string) string {
	const marker = `"content":"`
	i := strings.Index(body, marker)
	if i < 0 {
		return ""
	}
	s := body[i+len(marker):]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		s = s[:j]
	}
	if len(s) > abi.MaxTagValueLen {
		s = s[:abi.MaxTagValueLen]
	}
	return s
}
