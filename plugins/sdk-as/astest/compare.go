package astest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

// Tenant is the tenant SameAsGo routes as.
const Tenant = "acct_astest"

// Case is one request of a SameAsGo comparison.
type Case struct {
	Name string
	Req  *abi.RouteRequest
}

// SameAsGo routes each case, in order, through the AssemblyScript plugin p
// and through goRoute, the Go version of the same plugin run natively (its
// sdk.RouteJSON), and fails where the decisions differ. Comparing against
// the Go plugin rather than a copied table of expectations means the two
// versions cannot drift apart while both still pass their own tests.
func SameAsGo(t *testing.T, p *host.Plugin, goRoute func(request []byte) []byte, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			in, err := json.Marshal(c.Req)
			if err != nil {
				t.Fatal(err)
			}
			var want abi.RouteDecision
			if err := json.Unmarshal(goRoute(in), &want); err != nil {
				t.Fatalf("Go plugin: %v", err)
			}
			got, err := p.Route(context.Background(), Tenant, c.Req)
			if err != nil {
				t.Fatalf("AssemblyScript plugin: %v", err)
			}
			// Compared as JSON, where an empty list and an absent one are
			// the same thing, as they are to the gateway.
			if g, w := text(got), text(&want); g != w {
				t.Errorf("request %s\nAssemblyScript %s\nGo             %s", in, g, w)
			}
		})
	}
}

func text(d *abi.RouteDecision) string {
	b, _ := json.Marshal(d)
	return string(b)
}
