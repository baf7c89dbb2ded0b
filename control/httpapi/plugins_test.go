package httpapi_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/wasmtest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
)

const routeDecision = `{"action":"route","tags":{"policy":"test"}}`

// uploadRaw posts module as application/wasm with query.
func uploadRaw(c *client, query string, module []byte) *response {
	c.t.Helper()
	return c.do("POST", "/api/v1/plugins?"+query, string(module), "Content-Type", "application/wasm")
}

// uploadForm posts module as the "module" file of a multipart form, with
// fields.
func uploadForm(c *client, module []byte, fields ...string) *response {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	fw, _ := mw.CreateFormFile("module", "plugin.wasm")
	fw.Write(module)
	mw.Close()
	return c.do("POST", "/api/v1/plugins", body.String(), "Content-Type", mw.FormDataContentType())
}

func TestPluginUpload(t *testing.T) {
	s := newServer(t, "", nil)
	browser, a := signup(t, s, "grace@example.com")

	t.Run("raw module", func(t *testing.T) {
		var out control.PluginUploaded
		r := uploadRaw(browser, "name=eu-only&fail=closed&headers=X-Team,%20x-tier", wasmtest.Decision(routeDecision))
		if r.status != http.StatusCreated {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		r.decode(t, &out)
		p := out.Plugin
		if p.Name != "eu-only" || p.Version != 1 || p.Fail != abi.FailClosed || p.AccountID != a.ID || p.Active ||
			strings.Join(p.Headers, ",") != "x-team,x-tier" || p.WantsBody || p.Size != len(wasmtest.Decision(routeDecision)) {
			t.Fatalf("plugin = %+v", p)
		}
		if out.Check == nil || out.Check.MemoryPages < 17 || len(out.Warnings) != 0 {
			t.Fatalf("check = %+v, warnings %v", out.Check, out.Warnings)
		}
	})
	t.Run("multipart form", func(t *testing.T) {
		var out control.PluginUploaded
		r := uploadForm(browser, wasmtest.Decision(routeDecision), "name", "eu-only", "headers", "x-team", "wants_body", "true")
		if r.status != http.StatusCreated {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		r.decode(t, &out)
		if out.Plugin.Version != 2 || out.Plugin.Fail != abi.FailOpen || strings.Join(out.Plugin.Headers, ",") != "x-team" || !out.Plugin.WantsBody {
			t.Fatalf("second version = %+v", out.Plugin)
		}
	})
	t.Run("over the Workers size is accepted with a warning", func(t *testing.T) {
		var out control.PluginUploaded
		r := uploadRaw(browser, "name=big", wasmtest.Module{Decision: routeDecision, Padding: 1100 << 10}.Bytes())
		if r.status != http.StatusCreated {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		r.decode(t, &out)
		if len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0], "Workers") {
			t.Fatalf("warnings = %q", out.Warnings)
		}
	})

	refused := []struct {
		name   string
		module []byte
		query  string
		status int
		reason string
	}{
		{"not WebAssembly", []byte("#!/bin/sh\necho hi\n"), "name=p", 400, "not a WebAssembly module"},
		{"truncated module", wasmtest.Decision(routeDecision)[:20], "name=p", 400, "not valid WebAssembly"},
		{"no sy_route", wasmtest.Module{Decision: routeDecision, NoRoute: true}.Bytes(), "name=p", 400, "sy_route"},
		{"ABI version 2", wasmtest.Module{Decision: routeDecision, ABIVersion: 2}.Bytes(), "name=p", 400, "returned 2"},
		{"forbidden import", wasmtest.Module{Decision: routeDecision, Import: [2]string{"env", "socket"}}.Bytes(), "name=p", 400, "env.socket"},
		{"memory over the cap", wasmtest.Module{Decision: routeDecision, MemoryPages: 1000}.Bytes(), "name=p", 400, "refused"},
		{"traps on the sample request", wasmtest.Module{Route: wasmtest.Trap}.Bytes(), "name=p", 400, "sample request failed"},
		{"runs past its deadline", wasmtest.Module{Route: wasmtest.Spin}.Bytes(), "name=p", 400, "deadline"},
		{"decision that is not JSON", wasmtest.Decision(`route please`), "name=p", 400, "not a valid RouteDecision"},
		{"over the size limit", wasmtest.Module{Decision: routeDecision, Padding: 16 << 20}.Bytes(), "name=p", 400, "larger than the limit"},
		{"no name", wasmtest.Decision(routeDecision), "", 400, "plugin name"},
		{"bad fail policy", wasmtest.Decision(routeDecision), "name=p&fail=maybe", 400, "fail must be"},
		{"credential header", wasmtest.Decision(routeDecision), "name=p&headers=authorization", 400, "credentials"},
		{"bad wants_body", wasmtest.Decision(routeDecision), "name=p&wants_body=yes", 400, "wants_body must be"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := uploadRaw(browser, tt.query, tt.module)
			var e edgeapi.Error
			r.decode(t, &e)
			if r.status != tt.status || e.Error.Code != control.EINVALID || !strings.Contains(e.Error.Message, tt.reason) {
				t.Fatalf("status %d %s, want %d with %q", r.status, r.body, tt.status, tt.reason)
			}
		})
	}
	t.Run("other media types", func(t *testing.T) {
		r := browser.do("POST", "/api/v1/plugins?name=p", string(wasmtest.Decision(routeDecision)), "Content-Type", "text/plain")
		if r.status != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		r = uploadForm(browser, wasmtest.Decision(routeDecision), "name", "p", "colour", "blue")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "unknown form field") {
			t.Fatalf("unknown field: status %d %s", r.status, r.body)
		}
	})
	t.Run("needs an account", func(t *testing.T) {
		r := uploadRaw(s.client(t), "name=p", wasmtest.Decision(routeDecision))
		if r.status != http.StatusUnauthorized {
			t.Fatalf("status %d", r.status)
		}
	})
	var list struct{ Data []control.Plugin }
	browser.must(http.StatusOK, "GET", "/api/v1/plugins", nil).decode(t, &list)
	if len(list.Data) != 3 {
		t.Fatalf("plugins = %+v", list.Data)
	}
}

func TestPluginActivation(t *testing.T) {
	s := newServer(t, "", nil)
	browser, _ := signup(t, s, "grace@example.com")
	stranger, _ := signup(t, s, "mallory@example.com")
	k1 := createKey(t, browser, map[string]any{"name": "one"})
	k2 := createKey(t, browser, map[string]any{"name": "two"})
	strangerKey := createKey(t, stranger, map[string]any{"name": "theirs"})
	upload := func(query, decision string) control.Plugin {
		t.Helper()
		var out control.PluginUploaded
		r := uploadRaw(browser, query, wasmtest.Decision(decision))
		if r.status != http.StatusCreated {
			t.Fatalf("upload: %d %s", r.status, r.body)
		}
		r.decode(t, &out)
		return *out.Plugin
	}
	v1 := upload("name=policy&headers=x-team", `{"action":"route","tags":{"v":"1"}}`)
	v2 := upload("name=policy&fail=closed&wants_body=true", `{"action":"route","tags":{"v":"2"}}`)
	edge := s.edge(t)
	snap := func(k createdKey) edgeapi.KeySnapshot {
		t.Helper()
		var sn edgeapi.KeySnapshot
		edge.must(http.StatusOK, "GET", "/edge/v1/keys/"+control.HashSecret(k.Secret), nil).decode(t, &sn)
		return sn
	}
	want := func(step string, k createdKey, p *control.Plugin) {
		t.Helper()
		sn := snap(k)
		switch {
		case p == nil && (sn.PluginHash != "" || sn.PluginFail != "" || sn.PluginBody):
			t.Fatalf("%s: key %s runs %s", step, k.Key.Name, sn.PluginHash)
		case p != nil && (sn.PluginHash != p.Hash || sn.PluginFail != p.Fail || strings.Join(sn.PluginHeaders, ",") != strings.Join(p.Headers, ",") ||
			sn.PluginBody != p.WantsBody):
			t.Fatalf("%s: key %s snapshot %+v, want plugin v%d", step, k.Key.Name, sn, p.Version)
		}
	}
	want("before activation", k1, nil)

	var got control.Plugin
	browser.must(http.StatusOK, "POST", "/api/v1/plugins/"+v1.ID+"/activate", nil).decode(t, &got)
	if !got.Active || got.ID != v1.ID {
		t.Fatalf("activated = %+v", got)
	}
	want("account on v1", k1, &v1)
	want("account on v1", k2, &v1)

	browser.must(http.StatusOK, "POST", "/api/v1/plugins/"+v2.ID+"/activate?key="+k2.Key.ID, nil).decode(t, &got)
	if got.Active || len(got.ActiveKeys) != 1 || got.ActiveKeys[0] != k2.Key.ID {
		t.Fatalf("per-key activation = %+v", got)
	}
	want("key 2 on v2", k1, &v1)
	want("key 2 on v2", k2, &v2)

	browser.must(http.StatusOK, "POST", "/api/v1/plugins/"+v2.ID+"/activate", nil)
	want("account on v2", k1, &v2)
	var rolled struct{ Plugin *control.Plugin }
	browser.must(http.StatusOK, "POST", "/api/v1/plugins/rollback", nil).decode(t, &rolled)
	if rolled.Plugin == nil || rolled.Plugin.ID != v1.ID {
		t.Fatalf("rollback = %+v", rolled.Plugin)
	}
	want("rolled back", k1, &v1)

	browser.must(http.StatusNoContent, "POST", "/api/v1/plugins/deactivate?key="+k2.Key.ID, nil)
	want("key 2 follows the account", k2, &v1)
	browser.must(http.StatusNoContent, "POST", "/api/v1/plugins/deactivate", nil)
	want("deactivated", k1, nil)
	want("deactivated", k2, nil)
	browser.must(http.StatusOK, "POST", "/api/v1/plugins/rollback", nil).decode(t, &rolled)
	want("deactivation undone", k1, &v1)

	refusals := []struct {
		name, path string
		status     int
		code       string
	}{
		{"unknown plugin", "/api/v1/plugins/plg_nope/activate", 404, "not_found"},
		{"another account's key", "/api/v1/plugins/" + v1.ID + "/activate?key=" + strangerKey.Key.ID, 404, "not_found"},
		{"unknown key on rollback", "/api/v1/plugins/rollback?key=key_nope", 404, "not_found"},
		{"nothing to roll back for a key", "/api/v1/plugins/rollback?key=" + k1.Key.ID, 409, "conflict"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r := browser.do("POST", tt.path, nil)
			if r.status != tt.status || r.errorCode() != tt.code {
				t.Fatalf("status %d %s", r.status, r.body)
			}
		})
	}
	t.Run("another account cannot activate it", func(t *testing.T) {
		r := stranger.do("POST", "/api/v1/plugins/"+v1.ID+"/activate", nil)
		if r.status != http.StatusNotFound {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		var list struct{ Data []control.Plugin }
		stranger.must(http.StatusOK, "GET", "/api/v1/plugins", nil).decode(t, &list)
		if len(list.Data) != 0 {
			t.Fatalf("stranger sees %+v", list.Data)
		}
	})
}
