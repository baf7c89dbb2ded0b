package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/wasmtest"
)

func TestEdgeAuth(t *testing.T) {
	s := newServer(t, "", nil)
	routes := [][2]string{
		{"GET", "/edge/v1/keys/" + control.HashSecret("x")},
		{"GET", "/edge/v1/plugins/" + control.HashSecret("x")},
		{"GET", "/edge/v1/catalog"},
		{"POST", "/edge/v1/usage"},
	}
	tokens := []struct {
		name  string
		token string
		want  int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"unknown token", "edge-secret-token-for-tesTs", http.StatusUnauthorized},
		{"token prefix", edgeToken[:10], http.StatusUnauthorized},
		{"token with suffix", edgeToken + "x", http.StatusUnauthorized},
		{"management token", "sy-mt-whatever", http.StatusUnauthorized},
		{"rotated token still accepted", "old-rotated-token", 0},
		{"current token", edgeToken, 0},
	}
	for _, tt := range tokens {
		for _, rt := range routes {
			t.Run(tt.name+" "+rt[1], func(t *testing.T) {
				c := &client{t: t, base: s.URL, http: http.DefaultClient, token: tt.token}
				var body any
				if rt[0] == "POST" {
					body = edgeapi.UsageBatch{}
				}
				r := c.do(rt[0], rt[1], body)
				if tt.want != 0 && (r.status != tt.want || r.errorCode() != "unauthorized") {
					t.Fatalf("status %d %s", r.status, r.body)
				}
				if tt.want == 0 && r.status == http.StatusUnauthorized {
					t.Fatalf("valid token refused: %s", r.body)
				}
			})
		}
	}
	t.Run("no tokens configured refuses everyone", func(t *testing.T) {
		// An empty configured token must not match an empty bearer.
		c := &client{t: t, base: s.URL, http: http.DefaultClient}
		c.must(http.StatusUnauthorized, "GET", "/edge/v1/catalog", nil, "Authorization", "Bearer ")
	})
}

func TestEdgeKeySnapshot(t *testing.T) {
	s := newServer(t, "", nil)
	browser, a := signup(t, s, "grace@example.com")
	k := createKey(t, browser, map[string]any{"name": "k", "limits": map[string]any{"tokens_per_minute": 1000}})
	if _, err := s.svc.GrantCredits(context.Background(), a.ID, 500_000, "", ""); err != nil {
		t.Fatal(err)
	}
	edge := s.edge(t)
	var snap edgeapi.KeySnapshot
	edge.must(http.StatusOK, "GET", "/edge/v1/keys/"+control.HashSecret(k.Secret), nil).decode(t, &snap)
	want := edgeapi.KeySnapshot{KeyID: k.Key.ID, AccountID: a.ID, Status: edgeapi.KeyActive,
		Limits: edgeapi.Limits{TokensPerMinute: 1000}, Balance: edgeapi.BalanceLow, BalanceMicros: 500_000}
	if !reflect.DeepEqual(snap, want) {
		t.Fatalf("snapshot = %+v\nwant       %+v", snap, want)
	}
	if r := edge.do("GET", "/edge/v1/keys/"+control.HashSecret("sk-sy-unknown"), nil); r.status != 404 || r.errorCode() != "not_found" {
		t.Fatalf("unknown key: %d %s", r.status, r.body)
	}
	if r := edge.do("GET", "/edge/v1/keys/not-a-hash", nil); r.status != 400 {
		t.Fatalf("malformed hash: %d %s", r.status, r.body)
	}
}

func TestEdgeUsage(t *testing.T) {
	s := newServer(t, "", nil)
	browser, a := signup(t, s, "grace@example.com")
	k := createKey(t, browser, map[string]any{"name": "k"})
	now := s.clock.Now()
	good := func(id string) string {
		b, _ := json.Marshal(record(id, k.Key, now))
		return string(b)
	}
	// Record 1 has a string where a number belongs, record 3 is not even an
	// object, record 4 fails validation; the others must be kept.
	wrongType := strings.Replace(good("req_2"), `"input_tokens":100`, `"input_tokens":"100"`, 1)
	body := fmt.Sprintf(`{"edge_id":"edge-a","records":[%s,%s,%s,"oops",%s,%s]}`,
		good("req_1"), wrongType, good("req_3"),
		strings.Replace(good("req_5"), `"status":200`, `"status":42`, 1), good("req_1"))
	var res edgeapi.UsageResult
	s.edge(t).must(http.StatusOK, "POST", "/edge/v1/usage", body).decode(t, &res)
	want := edgeapi.UsageResult{Accepted: 2, Duplicates: 1, Rejected: []edgeapi.Rejection{
		{Index: 1, RequestID: "req_2", Reason: "malformed record: field input_tokens has the wrong type"},
		{Index: 3, Reason: "malformed record: not an object"},
		{Index: 4, RequestID: "req_5", Reason: "status is not an HTTP status"},
	}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("result = %+v\nwant     %+v", res, want)
	}
	s.edge(t).must(http.StatusOK, "POST", "/edge/v1/usage", body).decode(t, &res)
	want.Accepted, want.Duplicates = 0, 3
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("replay = %+v\nwant     %+v", res, want)
	}
	acct, _ := s.svc.Account(context.Background(), a.ID)
	if acct.BalanceMicros != -240 {
		t.Fatalf("balance = %d, want -240", acct.BalanceMicros)
	}

	errs := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"broken JSON", `{"records":[`, 400, "invalid"},
		{"records not a list", `{"records":{}}`, 400, "invalid"},
		{"bad edge id", `{"edge_id":"a b","records":[]}`, 400, "invalid"},
		{"too many records", `{"records":[` + strings.Repeat(`{},`, 10_000) + `{}]}`, 413, "too_large"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			r := s.edge(t).do("POST", "/edge/v1/usage", tt.body)
			if r.status != tt.status || r.errorCode() != tt.code {
				t.Fatalf("status %d code %q, want %d %q: %s", r.status, r.errorCode(), tt.status, tt.code, r.body)
			}
		})
	}
}

func TestEdgeCatalog(t *testing.T) {
	s := newServer(t, "", nil)
	edge := s.edge(t)
	r := edge.must(http.StatusOK, "GET", "/edge/v1/catalog", nil)
	var cat edgeapi.Catalog
	r.decode(t, &cat)
	if cat.Version != 1 || r.header.Get("ETag") != `"v1"` {
		t.Fatalf("version %d etag %s", cat.Version, r.header.Get("ETag"))
	}
	var mini *edgeapi.CatalogModel
	for i := range cat.Models {
		if cat.Models[i].ID == "openai/gpt-4o-mini" {
			mini = &cat.Models[i]
		}
	}
	want := edgeapi.CatalogModel{ID: "openai/gpt-4o-mini", Provider: "openai", Upstream: "gpt-4o-mini", Kind: "chat",
		ContextLength: 128000, InputPrice: 150000, OutputPrice: 600000, CachedInputPrice: 75000}
	if mini == nil || *mini != want {
		t.Fatalf("gpt-4o-mini = %+v", mini)
	}
	edge.must(http.StatusNotModified, "GET", "/edge/v1/catalog", nil, "If-None-Match", `"v1"`)
	if _, err := s.svc.PutModel(context.Background(), control.Model{ID: "openai/gpt-4o-mini", InputPrice: 1}); err != nil {
		t.Fatal(err)
	}
	r = edge.must(http.StatusOK, "GET", "/edge/v1/catalog", nil, "If-None-Match", `"v1"`)
	if r.header.Get("ETag") != `"v2"` {
		t.Fatalf("etag after edit %s", r.header.Get("ETag"))
	}
	var public control.Catalog
	s.client(t).must(http.StatusOK, "GET", "/api/v1/models", nil).decode(t, &public)
	if public.Version != 2 || len(public.Models) != len(cat.Models) {
		t.Fatalf("public catalog = %+v", public)
	}
}

func TestEdgePlugin(t *testing.T) {
	s := newServer(t, "", nil)
	_, a := signup(t, s, "grace@example.com")
	module := wasmtest.Decision(`{"action":"route"}`)
	out, err := s.svc.UploadPlugin(context.Background(), a.ID, control.PluginUpload{Name: "p", Module: module})
	if err != nil {
		t.Fatal(err)
	}
	r := s.edge(t).must(http.StatusOK, "GET", "/edge/v1/plugins/"+out.Plugin.Hash, nil)
	if string(r.body) != string(module) || r.header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("module %q, type %s", r.body, r.header.Get("Content-Type"))
	}
	s.edge(t).must(http.StatusNotFound, "GET", "/edge/v1/plugins/"+control.HashSecret("other"), nil)
}

func TestHealthz(t *testing.T) {
	s := newServer(t, "", nil)
	s.client(t).must(http.StatusOK, "GET", "/healthz", nil)
}
