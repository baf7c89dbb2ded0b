// Command user-quota is a Switchyard routing plugin that gives each end
// user, named by the x-sy-user header, a daily request quota. See
// README.md.
package main

import (
	"strconv"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/sdk"
)

// dailyQuota is the tenant's setting: requests per user per UTC day.
const dailyQuota = 100

// maxUserLen keeps "quota:" + user within the host's 128-byte counter keys.
const maxUserLen = 120

const day = 86400

func init() { sdk.Handle(route) }

func main() {}

func route(req *abi.RouteRequest) *abi.RouteDecision {
	user := req.Headers["x-sy-user"]
	if user == "" {
		return nil
	}
	if len(user) > maxUserLen {
		return sdk.Reject(400, "x-sy-user is longer than 120 bytes")
	}
	used := sdk.CounterAdd("quota:"+user, 1, day)
	if used > dailyQuota {
		return sdk.Reject(429, "the daily request quota for this user is used up")
	}
	return &abi.RouteDecision{
		Action:  abi.ActionRoute,
		Headers: map[string]string{"x-sy-quota-remaining": strconv.FormatInt(dailyQuota-used, 10)},
	}
}
