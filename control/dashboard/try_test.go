package dashboard_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/wasmtest"
)

func TestTryPlugin(t *testing.T) {
	s := newServer(t, false)
	b, a := s.signup(t, "ada@example.com")
	b.get("/plugins").want(t, http.StatusOK)
	for _, m := range []struct{ name, decision string }{
		{"router", `{"action":"route","model":"openai/gpt-4o","tags":{"policy":"test"}}`},
		{"refuser", `{"action":"reject","status":429,"message":"daily quota for this user is used up"}`},
	} {
		b.upload(wasmtest.Decision(m.decision), "name", m.name).redirect(t, "/plugins?ok=uploaded")
	}
	// It passes the upload check, whose sample has no x-sy-trap header.
	trapper := wasmtest.Module{Decision: routeDecision, Route: wasmtest.Trap, Containing: "x-sy-trap"}.Bytes()
	b.upload(trapper, "name", "trapper", "fail", "closed").redirect(t, "/plugins?ok=uploaded")
	ids := map[string]string{}
	ps, err := s.svc.Plugins(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		ids[p.Name] = p.ID
	}
	b.get("/plugins").want(t, http.StatusOK, `id="try-plugin"`, `action="/plugins/try"`, `id="try-model"`,
		`value="`+ps[0].ID+`" selected`, `id="try-stream"`)

	tests := []struct {
		name   string
		fields []string
		status int
		want   []string
	}{
		{"route", []string{"plugin", ids["router"], "model", "openai/gpt-4o-mini", "headers", "x-sy-user: u1", "stream", "on"},
			http.StatusOK, []string{`id="try-result"`, "routes the request to openai/gpt-4o.",
				`&#34;action&#34;: &#34;route&#34;`, `&#34;policy&#34;: &#34;test&#34;`, `id="try-time"`, `id="try-stream" name="stream" type="checkbox" checked`}},
		{"reject", []string{"plugin", ids["refuser"], "model", "openai/gpt-4o-mini"},
			http.StatusOK, []string{`id="try-result"`, "refuses the request with status 429: daily quota for this user is used up",
				`&#34;status&#34;: 429`}},
		{"trap", []string{"plugin", ids["trapper"], "model", "openai/gpt-4o-mini", "headers", "x-sy-trap: 1\nx-sy-user: u1"},
			http.StatusOK, []string{`id="try-result"`, "The plugin crashed (trapped)", "unreachable", "fail closed", `id="try-time"`}},
		{"no trap without its header", []string{"plugin", ids["trapper"], "model", "openai/gpt-4o-mini"},
			http.StatusOK, []string{"routes the request to openai/gpt-4o-mini."}},
		{"header it cannot see", []string{"plugin", ids["router"], "model", "openai/gpt-4o-mini", "headers", "x-team: a"},
			http.StatusBadRequest, []string{`id="try-result"`, "does not see header x-team"}},
		{"not a header line", []string{"plugin", ids["router"], "headers", "x-sy-user"},
			http.StatusBadRequest, []string{`id="try-result"`, "name: value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.post("/plugins/try", tt.fields...).want(t, tt.status, tt.want...)
		})
	}

	t.Run("another account's plugin", func(t *testing.T) {
		bob, _ := s.signup(t, "bob@example.com")
		bob.get("/plugins")
		bob.post("/plugins/try", "plugin", ids["router"], "model", "openai/gpt-4o-mini").want(t, http.StatusNotFound)
	})
	t.Run("without the CSRF token", func(t *testing.T) {
		b.post("/plugins/try", "csrf_token", "", "plugin", ids["router"]).want(t, http.StatusForbidden, "security token")
	})
}
