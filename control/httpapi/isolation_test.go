package httpapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/wasmtest"
)

// TestTenantIsolation: another account's session and management token can
// never read or change this account's data. Every route that takes an id
// is tried with this account's ids; every route that lists is read by the
// other account and must not mention this account's ids. This account's
// state is unchanged afterwards.
func TestTenantIsolation(t *testing.T) {
	s := newServer(t, "", nil)
	victim, va := signup(t, s, "victim@example.com")
	var vTok struct {
		Token  control.Token `json:"token"`
		Secret string        `json:"secret"`
	}
	victim.must(http.StatusCreated, "POST", "/api/v1/tokens", map[string]string{"name": "ci"}).decode(t, &vTok)
	vKey := createKey(t, victim, map[string]any{"name": "victim-prod"})
	var vPlugin struct {
		Plugin control.Plugin `json:"plugin"`
	}
	uploadRaw(victim, "name=victim-router", wasmtest.Decision(routeDecision)).decode(t, &vPlugin)
	victim.must(http.StatusOK, "POST", "/api/v1/plugins/"+vPlugin.Plugin.ID+"/activate?key="+vKey.Key.ID, nil)
	s.edge(t).must(http.StatusOK, "POST", "/edge/v1/usage", edgeapi.UsageBatch{EdgeID: "edge-1",
		Records: []edgeapi.UsageRecord{record("req-victim-1", vKey.Key, s.clock.Now())}})

	attackerSession, _ := signup(t, s, "attacker@example.com")
	var aTok struct {
		Secret string `json:"secret"`
	}
	attackerSession.must(http.StatusCreated, "POST", "/api/v1/tokens", map[string]string{"name": "x"}).decode(t, &aTok)
	attackerToken := &client{t: t, base: s.URL, http: &http.Client{Timeout: 30 * time.Second}, token: aTok.Secret}
	var aPlugin struct {
		Plugin control.Plugin `json:"plugin"`
	}
	uploadRaw(attackerSession, "name=attacker-router", wasmtest.Decision(routeDecision)).decode(t, &aPlugin)

	targeted := []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/keys/" + vKey.Key.ID, nil},
		{"PATCH", "/api/v1/keys/" + vKey.Key.ID, map[string]any{"name": "owned"}},
		{"POST", "/api/v1/keys/" + vKey.Key.ID + "/revoke", nil},
		{"POST", "/api/v1/tokens/" + vTok.Token.ID + "/revoke", nil},
		{"GET", "/api/v1/usage/req-victim-1", nil},
		{"POST", "/api/v1/plugins/" + vPlugin.Plugin.ID + "/activate", nil},
		{"POST", "/api/v1/plugins/" + aPlugin.Plugin.ID + "/activate?key=" + vKey.Key.ID, nil},
		{"POST", "/api/v1/plugins/rollback?key=" + vKey.Key.ID, nil},
		{"POST", "/api/v1/plugins/deactivate?key=" + vKey.Key.ID, nil},
	}
	listing := []string{
		"/api/v1/account", "/api/v1/keys", "/api/v1/tokens", "/api/v1/ledger", "/api/v1/plugins",
		"/api/v1/usage?group_by=key", "/api/v1/audit", "/api/v1/billing", "/api/v1/billing/transactions",
		"/api/v1/billing/payments", "/api/v1/spend-guard", "/api/v1/account/export", "/api/v1/account/export/usage.csv",
	}
	// The ids the attacker typed may appear in its own audit log (and so
	// in its export) as the targets of its refused attempts; nothing else
	// of the victim's may appear anywhere.
	typed := []string{vKey.Key.ID, vTok.Token.ID, vPlugin.Plugin.ID, "req-victim-1"}
	neverTyped := []string{va.ID, "victim@example.com", "victim-prod"}

	for _, who := range []struct {
		name string
		c    *client
	}{{"session", attackerSession}, {"management token", attackerToken}} {
		t.Run(who.name, func(t *testing.T) {
			who.c.t = t
			for _, r := range targeted {
				got := who.c.do(r.method, r.path, r.body)
				if got.status != http.StatusNotFound && got.status != http.StatusForbidden {
					t.Errorf("%s %s with another account's id: %d %s, want 404 or 403", r.method, r.path, got.status, got.body)
				}
			}
			for _, path := range listing {
				got := who.c.do("GET", path, nil)
				if got.status/100 != 2 && got.status != http.StatusServiceUnavailable { // billing is off here
					t.Errorf("GET %s: %d %s", path, got.status, got.body)
				}
				marks := neverTyped
				if path != "/api/v1/audit" && path != "/api/v1/account/export" {
					marks = append(typed, neverTyped...)
				}
				for _, m := range marks {
					if strings.Contains(string(got.body), m) {
						t.Errorf("GET %s as the other account shows %q", path, m)
					}
				}
			}
		})
	}

	// The victim's things are as they were.
	victim.t = t
	var k control.APIKey
	victim.must(http.StatusOK, "GET", "/api/v1/keys/"+vKey.Key.ID, nil).decode(t, &k)
	if k.Name != "victim-prod" || k.Status != edgeapi.KeyActive {
		t.Errorf("victim's key after the attempts: %+v", k)
	}
	vScript := &client{t: t, base: s.URL, http: &http.Client{Timeout: 30 * time.Second}, token: vTok.Secret}
	vScript.must(http.StatusOK, "GET", "/api/v1/account", nil)
	victim.must(http.StatusOK, "GET", "/api/v1/usage/req-victim-1", nil)
	sum := sha256.Sum256([]byte(vKey.Secret))
	snap, err := s.svc.KeySnapshot(t.Context(), hex.EncodeToString(sum[:]))
	if err != nil || snap.PluginHash == "" {
		t.Errorf("victim's key lost its plugin: %+v %v", snap, err)
	}
}
