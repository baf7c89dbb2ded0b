package main

import (
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

func TestUserQuota(t *testing.T) {
	quotaScenario(t, func(clock func() time.Time) *host.Plugin {
		return plugintest.Load(t, ".", host.Config{Now: clock})
	})
}

// quotaScenario runs the quota's whole life on a plugin loaded by load
// with a clock the scenario moves; the Go and AssemblyScript builds must
// both pass it.
func quotaScenario(t *testing.T, load func(clock func() time.Time) *host.Plugin) {
	now := time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC)
	p := load(func() time.Time { return now })
	user := func(u string) *abi.RouteRequest {
		return plugintest.Request(func(r *abi.RouteRequest) { r.Headers = map[string]string{"x-sy-user": u} })
	}
	remaining := func(n string) *abi.RouteDecision {
		return &abi.RouteDecision{Action: "route", Headers: map[string]string{"x-sy-quota-remaining": n}}
	}
	usedUp := &abi.RouteDecision{Action: "reject", Status: 429, Message: "the daily request quota for this user is used up"}
	tooLong := &abi.RouteDecision{Action: "reject", Status: 400, Message: "x-sy-user is longer than 120 bytes"}

	plugintest.Run(t, p, []plugintest.Case{
		{Name: "first request", Req: user("ada"), Want: remaining("99")},
		{Name: "another user has their own quota", Req: user("bob"), Want: remaining("99")},
		{Name: "no user: unchanged", Req: user(""), Want: &abi.RouteDecision{Action: "route"}},
		{Name: "user id too long", Req: user(strings.Repeat("u", 121)), Want: tooLong},
		// Bytes, not characters: 60 two-byte characters are 120 bytes, 61 are 122.
		{Name: "multi-byte user at the limit", Req: user(strings.Repeat("é", 60)), Want: remaining("99")},
		{Name: "multi-byte user over the limit", Req: user(strings.Repeat("é", 61)), Want: tooLong},
	})
	for range dailyQuota - 2 {
		if _, err := p.Route(t.Context(), plugintest.Tenant, user("ada")); err != nil {
			t.Fatal(err)
		}
	}
	plugintest.Run(t, p, []plugintest.Case{
		{Name: "last of the quota", Req: user("ada"), Want: remaining("0")},
		{Name: "quota used up", Req: user("ada"), Want: usedUp},
		{Name: "still used up", Req: user("ada"), Want: usedUp},
	})
	other, err := p.Route(t.Context(), "acct_other", user("ada"))
	if err != nil || other.Headers["x-sy-quota-remaining"] != "99" {
		t.Errorf("another tenant's ada: %+v, %v; counters must be per tenant", other, err)
	}
	now = now.Add(time.Hour) // 00:00 UTC: a new window
	plugintest.Run(t, p, []plugintest.Case{{Name: "next day", Req: user("ada"), Want: remaining("99")}})
}
