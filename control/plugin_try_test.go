package control_test

import (
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/wasmtest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
)

func TestTryPlugin(t *testing.T) {
	e := newEnv(t)
	a := mustAccount(t, e.svc, "a@example.com", 1)
	other := mustAccount(t, e.svc, "b@example.com", 1)
	upload := func(accountID, name string, module []byte) *control.Plugin {
		t.Helper()
		out, err := e.svc.UploadPlugin(e.ctx, accountID, control.PluginUpload{Name: name, Headers: []string{"x-team"}, Module: module})
		if err != nil {
			t.Fatal(err)
		}
		return out.Plugin
	}
	router := upload(a.ID, "router", wasmtest.Decision(`{"action":"route","model":"openai/gpt-4o","tags":{"p":"t"}}`))
	refuser := upload(a.ID, "refuser", wasmtest.Decision(`{"action":"reject","status":429,"message":"quota used up"}`))
	stray := upload(a.ID, "stray", wasmtest.Decision(`{"action":"route","model":"nobody/nothing"}`))
	trapper := upload(a.ID, "trapper", wasmtest.Module{Decision: `{"action":"route"}`, Route: wasmtest.Trap, Containing: "x-sy-trap"}.Bytes())
	others := upload(other.ID, "others", wasmtest.Decision(`{"action":"route"}`))
	cat, err := e.svc.Catalog(e.ctx)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		plugin   *control.Plugin
		in       control.PluginTrial
		code     string // the error's code, "" for a result
		decision string // the decision's action, "" for none
		failure  string // in Failure
	}{
		{name: "route", plugin: router, in: control.PluginTrial{Model: "openai/gpt-4o-mini", Stream: true,
			Headers: map[string]string{"X-Sy-User": "u1", "x-team": "core"}}, decision: abi.ActionRoute},
		{name: "default model", plugin: router, decision: abi.ActionRoute},
		{name: "reject", plugin: refuser, decision: abi.ActionReject},
		{name: "model outside the catalog", plugin: stray, decision: abi.ActionRoute, failure: "not in the catalog"},
		{name: "trap", plugin: trapper, in: control.PluginTrial{Headers: map[string]string{"x-sy-trap": "1"}}, failure: "trapped"},
		{name: "no trap without the header", plugin: trapper, decision: abi.ActionRoute},
		{name: "a header the plugin does not see", plugin: router, in: control.PluginTrial{Headers: map[string]string{"x-other": "1"}}, code: control.EINVALID},
		{name: "a credential header", plugin: router, in: control.PluginTrial{Headers: map[string]string{"authorization": "Bearer x"}}, code: control.EINVALID},
		{name: "a header value of two lines", plugin: router, in: control.PluginTrial{Headers: map[string]string{"x-sy-a": "1\r\nx: 2"}}, code: control.EINVALID},
		{name: "another account's plugin", plugin: others, code: control.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.svc.TryPlugin(e.ctx, a.ID, tt.plugin.ID, tt.in)
			if tt.code != "" {
				if control.ErrorCode(err) != tt.code {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.failure == "" && res.Failure != "" || !strings.Contains(res.Failure, tt.failure) {
				t.Errorf("failure = %q, want %q", res.Failure, tt.failure)
			}
			if got := ""; res.Decision != nil {
				got = res.Decision.Action
				if got != tt.decision {
					t.Errorf("decision %+v, want action %q", res.Decision, tt.decision)
				}
			} else if tt.decision != "" {
				t.Errorf("no decision, want action %q", tt.decision)
			}
			req := res.Request
			wantModel := tt.in.Model
			if wantModel == "" {
				wantModel = control.DefaultTrialModel(cat)
			}
			if req.Tenant != a.ID || req.Model != wantModel || req.Stream != tt.in.Stream || req.Endpoint != "chat.completions" ||
				len(req.Catalog) != len(cat.Models) || len(req.Candidates) != 1 || req.Candidates[0].Model != wantModel ||
				len(req.Headers) != len(tt.in.Headers) || req.Body != nil {
				t.Errorf("request: %+v", req)
			}
			for name := range tt.in.Headers {
				if _, ok := req.Headers[strings.ToLower(name)]; !ok {
					t.Errorf("header %s missing from %v", name, req.Headers)
				}
			}
		})
	}
}
