package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

func TestAccountKeysAndTokens(t *testing.T) {
	s := newServer(t, "", nil)
	browser, a := signup(t, s, "grace@example.com")
	if a.Email != "grace@example.com" || a.Name != "Grace Hopper" || a.ID == "" {
		t.Fatalf("account = %+v", a)
	}

	t.Run("signup sets a safe session cookie", func(t *testing.T) {
		r := s.client(t).must(http.StatusOK, "POST", "/api/v1/login",
			map[string]string{"email": "grace@example.com", "password": "correct horse battery"})
		cookie := r.header.Get("Set-Cookie")
		for _, want := range []string{"sy_session=", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1209600"} {
			if !strings.Contains(cookie, want) {
				t.Errorf("cookie %q lacks %q", cookie, want)
			}
		}
		if strings.Contains(cookie, "Secure") {
			t.Errorf("cookie %q is Secure over plain HTTP", cookie)
		}
		var me control.Account
		browser.must(http.StatusOK, "GET", "/api/v1/account", nil).decode(t, &me)
		if me.ID != a.ID {
			t.Fatalf("signed in as %s, want %s", me.ID, a.ID)
		}
	})

	exp := s.clock.Now().Add(24 * time.Hour)
	k := createKey(t, browser, map[string]any{"name": "prod", "allowed_models": []string{"openai/gpt-4o-mini"},
		"limits":     map[string]any{"requests_per_minute": 60, "monthly_spend_cap_micros": 5_000_000},
		"expires_at": exp})
	if !strings.HasPrefix(k.Secret, "sk-sy-") || k.Key.Prefix != k.Secret[:12] || k.Key.Limits.RequestsPerMinute != 60 {
		t.Fatalf("created key = %+v", k)
	}
	hashPath := "/edge/v1/keys/" + control.HashSecret(k.Secret)
	edge := s.edge(t)

	t.Run("the secret is shown once", func(t *testing.T) {
		for _, path := range []string{"/api/v1/keys", "/api/v1/keys/" + k.Key.ID} {
			r := browser.must(http.StatusOK, "GET", path, nil)
			if strings.Contains(string(r.body), k.Secret[12:]) {
				t.Fatalf("%s reveals the secret: %s", path, r.body)
			}
		}
		var list struct{ Data []control.APIKey }
		browser.must(http.StatusOK, "GET", "/api/v1/keys", nil).decode(t, &list)
		if len(list.Data) != 1 || list.Data[0].ID != k.Key.ID {
			t.Fatalf("keys = %+v", list)
		}
	})

	t.Run("management token for scripts", func(t *testing.T) {
		var created struct {
			Token  control.Token `json:"token"`
			Secret string        `json:"secret"`
		}
		browser.must(http.StatusCreated, "POST", "/api/v1/tokens", map[string]string{"name": "ci"}).decode(t, &created)
		script := &client{t: t, base: s.URL, http: http.DefaultClient, token: created.Secret}
		var me control.Account
		script.must(http.StatusOK, "GET", "/api/v1/account", nil).decode(t, &me)
		if me.ID != a.ID {
			t.Fatalf("token signs in as %s", me.ID)
		}
		var tokens struct{ Data []control.Token }
		script.must(http.StatusOK, "GET", "/api/v1/tokens", nil).decode(t, &tokens)
		if len(tokens.Data) != 1 || tokens.Data[0].Prefix != created.Secret[:12] {
			t.Fatalf("tokens = %+v", tokens)
		}
		script.must(http.StatusNoContent, "POST", "/api/v1/tokens/"+created.Token.ID+"/revoke", nil)
		if r := script.do("GET", "/api/v1/account", nil); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("revoked token: %d %s", r.status, r.body)
		}
	})

	t.Run("update, expire and revoke", func(t *testing.T) {
		var up control.APIKey
		browser.must(http.StatusOK, "PATCH", "/api/v1/keys/"+k.Key.ID,
			map[string]any{"name": "renamed", "allowed_models": []string{}}).decode(t, &up)
		if up.Name != "renamed" || len(up.AllowedModels) != 0 || up.Limits.RequestsPerMinute != 60 {
			t.Fatalf("updated = %+v", up)
		}
		var snap edgeapi.KeySnapshot
		edge.must(http.StatusOK, "GET", hashPath, nil).decode(t, &snap)
		if snap.Status != edgeapi.KeyActive || snap.KeyID != k.Key.ID || snap.Limits.MonthlySpendCapMicros != 5_000_000 {
			t.Fatalf("snapshot = %+v", snap)
		}
		s.clock.Set(exp)
		edge.must(http.StatusOK, "GET", hashPath, nil).decode(t, &snap)
		if snap.Status != edgeapi.KeyExpired {
			t.Fatalf("status after expiry = %s", snap.Status)
		}
		var got control.APIKey
		browser.must(http.StatusOK, "GET", "/api/v1/keys/"+k.Key.ID, nil).decode(t, &got)
		if got.Status != edgeapi.KeyExpired {
			t.Fatalf("dashboard status after expiry = %s", got.Status)
		}
		browser.must(http.StatusOK, "POST", "/api/v1/keys/"+k.Key.ID+"/revoke", nil).decode(t, &got)
		edge.must(http.StatusOK, "GET", hashPath, nil).decode(t, &snap)
		if got.Status != edgeapi.KeyRevoked || snap.Status != edgeapi.KeyRevoked {
			t.Fatalf("after revoke: key %s, snapshot %s", got.Status, snap.Status)
		}
	})

	t.Run("accounts are isolated", func(t *testing.T) {
		other, _ := signup(t, s, "other@example.com")
		for _, req := range [][2]string{
			{"GET", "/api/v1/keys/" + k.Key.ID},
			{"PATCH", "/api/v1/keys/" + k.Key.ID},
			{"POST", "/api/v1/keys/" + k.Key.ID + "/revoke"},
		} {
			var body any
			if req[0] == "PATCH" {
				body = map[string]any{"name": "mine now"}
			}
			if r := other.do(req[0], req[1], body); r.status != http.StatusNotFound {
				t.Errorf("%s %s by another account: %d %s", req[0], req[1], r.status, r.body)
			}
		}
	})

	t.Run("logout ends the session", func(t *testing.T) {
		browser.must(http.StatusNoContent, "POST", "/api/v1/logout", nil)
		browser.must(http.StatusUnauthorized, "GET", "/api/v1/account", nil)
	})
}

func TestAPIErrors(t *testing.T) {
	s := newServer(t, "", nil)
	browser, _ := signup(t, s, "grace@example.com")
	anon := s.client(t)
	tests := []struct {
		name   string
		c      *client
		method string
		path   string
		body   any
		header []string
		status int
		code   string
	}{
		{"unknown route", anon, "GET", "/api/v2/keys", nil, nil, 404, "not_found"},
		{"no credentials", anon, "GET", "/api/v1/keys", nil, nil, 401, "unauthorized"},
		{"bogus bearer", anon, "GET", "/api/v1/keys", nil, []string{"Authorization", "Bearer sy-mt-nope"}, 401, "unauthorized"},
		{"basic auth is not a session", browser, "GET", "/api/v1/keys", nil, []string{"Authorization", "Basic Zm9vOmJhcg=="}, 401, "unauthorized"},
		{"wrong password", anon, "POST", "/api/v1/login", map[string]string{"email": "grace@example.com", "password": "nope nope"}, nil, 401, "unauthorized"},
		{"duplicate signup", anon, "POST", "/api/v1/signup", map[string]string{"name": "G", "email": "grace@example.com",
			"billing_address": "x", "password": "12345678"}, nil, 409, "conflict"},
		{"invalid field", browser, "POST", "/api/v1/keys", map[string]any{"name": ""}, nil, 400, "invalid"},
		{"unknown field", browser, "POST", "/api/v1/keys", map[string]any{"name": "k", "admin": true}, nil, 400, "invalid"},
		{"wrong type", browser, "POST", "/api/v1/keys", map[string]any{"name": 7}, nil, 400, "invalid"},
		{"not JSON", browser, "POST", "/api/v1/keys", "{name:", nil, 400, "invalid"},
		{"two values", browser, "POST", "/api/v1/keys", `{"name":"a"} {"name":"b"}`, nil, 400, "invalid"},
		{"form post", browser, "POST", "/api/v1/keys", "name=k", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"too large", browser, "POST", "/api/v1/keys", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, nil, 413, "too_large"},
		{"cross-site post", browser, "POST", "/api/v1/keys", map[string]any{"name": "k"}, []string{"Sec-Fetch-Site", "cross-site"}, 403, "forbidden"},
		{"unknown key", browser, "GET", "/api/v1/keys/key_nope", nil, nil, 404, "not_found"},
		{"unknown usage record", browser, "GET", "/api/v1/usage/req_nope", nil, nil, 404, "not_found"},
		{"bad usage range", browser, "GET", "/api/v1/usage?from=yesterday", nil, nil, 400, "invalid"},
		{"backwards usage range", browser, "GET", "/api/v1/usage?from=2026-03-10&to=2026-03-01", nil, nil, 400, "invalid"},
		{"bad ledger limit", browser, "GET", "/api/v1/ledger?limit=0", nil, nil, 400, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.c.do(tt.method, tt.path, tt.body, tt.header...)
			if r.status != tt.status || r.errorCode() != tt.code {
				t.Fatalf("status %d code %q, want %d %q: %s", r.status, r.errorCode(), tt.status, tt.code, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if r.header.Get("X-Request-Id") == "" || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("headers = %v", r.header)
			}
		})
	}
}

func TestUsageAPI(t *testing.T) {
	s := newServer(t, "", nil)
	browser, _ := signup(t, s, "grace@example.com")
	k := createKey(t, browser, map[string]any{"name": "k"})
	midnight := time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)
	s.clock.Set(midnight.Add(time.Hour))
	late := record("req_late", k.Key, midnight.Add(-time.Minute))
	early := record("req_early", k.Key, midnight.Add(time.Minute))
	early.Provider, early.LatencyMs, early.TTFBMs, early.FinishReason = "openai", 1234, 210, "length"
	var res edgeapi.UsageResult
	s.edge(t).must(http.StatusOK, "POST", "/edge/v1/usage", edgeapi.UsageBatch{EdgeID: "edge-1",
		Records: []edgeapi.UsageRecord{late, early}}).decode(t, &res)
	if res.Accepted != 2 {
		t.Fatalf("result = %+v", res)
	}

	var rep control.UsageReport
	browser.must(http.StatusOK, "GET", "/api/v1/usage?from=2026-03-15&to=2026-03-16&group_by=day", nil).decode(t, &rep)
	if len(rep.Data) != 2 || rep.Data[0].Group != "2026-03-15" || rep.Data[1].Group != "2026-03-16" ||
		rep.Total.Requests != 2 || rep.Total.CostMicros != 240 || !rep.To.Equal(midnight.Add(24*time.Hour)) {
		t.Fatalf("report = %+v", rep)
	}
	browser.must(http.StatusOK, "GET", "/api/v1/usage?from=2026-03-16T00:00:00Z&group_by=key", nil).decode(t, &rep)
	if len(rep.Data) != 1 || rep.Data[0].Group != k.Key.ID || rep.Data[0].Requests != 1 || !rep.To.Equal(s.clock.Now()) {
		t.Fatalf("report = %+v", rep)
	}

	var got control.UsageRecord
	browser.must(http.StatusOK, "GET", "/api/v1/usage/req_early", nil).decode(t, &got)
	if got.InputTokens != 100 || got.OutputTokens != 20 || got.CostMicros != 120 || got.Provider != "openai" ||
		got.LatencyMs != 1234 || got.TTFBMs != 210 || got.FinishReason != "length" || got.Status != 200 {
		t.Fatalf("record = %+v", got)
	}
	other, _ := signup(t, s, "other@example.com")
	other.must(http.StatusNotFound, "GET", "/api/v1/usage/req_early", nil)
	var empty control.UsageReport
	other.must(http.StatusOK, "GET", "/api/v1/usage", nil).decode(t, &empty)
	if len(empty.Data) != 0 || empty.Total.Requests != 0 {
		t.Fatalf("another account sees usage: %+v", empty)
	}

	var ledger struct {
		BalanceMicros int64                 `json:"balance_micros"`
		Data          []control.LedgerEntry `json:"data"`
	}
	browser.must(http.StatusOK, "GET", "/api/v1/ledger", nil).decode(t, &ledger)
	if ledger.BalanceMicros != -240 || len(ledger.Data) != 1 || ledger.Data[0].Kind != control.LedgerUsage {
		t.Fatalf("ledger = %+v", ledger)
	}
}
