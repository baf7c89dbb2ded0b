package httpapi_test

import (
	"crypto/tls"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/internal/wasmtest"
)

// auditPage reads the caller's audit log.
func auditPage(t testing.TB, c *client, query string) control.AuditPage {
	t.Helper()
	var p control.AuditPage
	c.must(http.StatusOK, "GET", "/api/v1/audit"+query, nil).decode(t, &p)
	return p
}

// TestAuditLog does each kind of action the API audits and checks that
// the owner, and only the owner, reads an entry for it with the client's
// address and user agent.
func TestAuditLog(t *testing.T) {
	s := newServer(t, "", nil)
	browser, acct := signup(t, s, "grace@example.com")
	stranger, other := signup(t, s, "mallory@example.com")

	var tok struct {
		Token  control.Token `json:"token"`
		Secret string        `json:"secret"`
	}
	browser.must(http.StatusCreated, "POST", "/api/v1/tokens", map[string]string{"name": "ci"}).decode(t, &tok)
	script := &client{t: t, base: s.URL, http: &http.Client{Timeout: 30 * time.Second}, token: tok.Secret}
	k := createKey(t, script, map[string]any{"name": "prod"})
	browser.must(http.StatusOK, "PATCH", "/api/v1/keys/"+k.Key.ID, map[string]any{"name": "production"})
	browser.must(http.StatusOK, "POST", "/api/v1/keys/"+k.Key.ID+"/revoke", nil)
	var up control.PluginUploaded
	r := uploadRaw(browser, "name=policy", wasmtest.Decision(`{"action":"route"}`))
	if r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	r.decode(t, &up)
	browser.must(http.StatusOK, "POST", "/api/v1/plugins/"+up.Plugin.ID+"/activate", nil)
	browser.must(http.StatusNoContent, "POST", "/api/v1/plugins/deactivate", nil)
	browser.must(http.StatusOK, "POST", "/api/v1/plugins/rollback", nil)
	browser.must(http.StatusServiceUnavailable, "POST", "/api/v1/billing/checkout", map[string]any{"amount_micros": 10_000_000})
	browser.must(http.StatusOK, "PUT", "/api/v1/spend-guard", map[string]any{"auto_suspend": true})
	browser.must(http.StatusNoContent, "POST", "/api/v1/tokens/"+tok.Token.ID+"/revoke", nil)
	s.client(t).must(http.StatusUnauthorized, "POST", "/api/v1/login",
		map[string]string{"email": "grace@example.com", "password": "not the password"})
	again := s.client(t)
	again.must(http.StatusOK, "POST", "/api/v1/login",
		map[string]string{"email": "grace@example.com", "password": "correct horse battery"})
	browser.must(http.StatusNoContent, "POST", "/api/v1/logout", nil)

	page := auditPage(t, again, "?limit=1000")
	type want struct{ action, target, result string }
	wants := []want{
		{control.ActionSignup, "", control.AuditOK},
		{control.ActionTokenCreate, tok.Token.ID, control.AuditOK},
		{control.ActionKeyCreate, k.Key.ID, control.AuditOK},
		{control.ActionKeyUpdate, k.Key.ID, control.AuditOK},
		{control.ActionKeyRevoke, k.Key.ID, control.AuditOK},
		{control.ActionPluginUpload, "", control.AuditOK},
		{control.ActionPluginActivate, up.Plugin.ID, control.AuditOK},
		{control.ActionPluginDeactivate, "", control.AuditOK},
		{control.ActionPluginRollback, "", control.AuditOK},
		{control.ActionCheckout, "", control.AuditFailed},
		{control.ActionSpendGuard, "", control.AuditOK},
		{control.ActionTokenRevoke, tok.Token.ID, control.AuditOK},
		{control.ActionLogin, "", control.AuditDenied},
		{control.ActionLogin, "", control.AuditOK},
		{control.ActionLogout, "", control.AuditOK},
	}
	// Newest first: reverse to compare with the order of the actions.
	got := page.Data
	if len(got) != len(wants) {
		for _, e := range got {
			t.Logf("%+v", e)
		}
		t.Fatalf("%d entries, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		e := got[len(got)-1-i]
		if e.Action != w.action || e.Target != w.target || e.Result != w.result {
			t.Errorf("entry %d: %s %q %s, want %s %q %s", i, e.Action, e.Target, e.Result, w.action, w.target, w.result)
		}
		if e.AccountID != acct.ID || e.Actor != control.ActorAccount || e.ClientIP != "127.0.0.1" ||
			!strings.HasPrefix(e.UserAgent, "Go-http-client") || e.At.IsZero() {
			t.Errorf("entry %d: %+v", i, e)
		}
		if strings.Contains(e.Target+e.Detail, tok.Secret) || strings.Contains(e.Target+e.Detail, k.Secret) {
			t.Errorf("entry %d holds a secret", i)
		}
	}

	t.Run("pages newest first", func(t *testing.T) {
		first := auditPage(t, again, "?limit=2")
		if len(first.Data) != 2 || first.NextCursor == "" || first.Data[0].ID <= first.Data[1].ID {
			t.Fatalf("first page: %+v", first)
		}
		second := auditPage(t, again, "?limit=2&cursor="+first.NextCursor)
		if len(second.Data) != 2 || second.Data[0].ID >= first.Data[1].ID {
			t.Fatalf("second page: %+v", second)
		}
		again.must(http.StatusBadRequest, "GET", "/api/v1/audit?cursor=nope", nil)
	})
	t.Run("only the owner reads them", func(t *testing.T) {
		for _, e := range auditPage(t, stranger, "?limit=1000").Data {
			if e.AccountID != other.ID {
				t.Errorf("a stranger reads %+v", e)
			}
		}
		s.client(t).must(http.StatusUnauthorized, "GET", "/api/v1/audit", nil)
	})
}

// TestAuditPaymentBySystem: a payment applied by the webhook is recorded
// as the system's doing.
func TestAuditPaymentBySystem(t *testing.T) {
	s := newBillingServer(t, billingOptions{})
	c, a := signup(t, s.server, "payer@example.com")
	s.pay(t, a.ID, "pi_audit", 2000, "")
	var found bool
	for _, e := range auditPage(t, c, "").Data {
		if e.Action == control.ActionPaymentApplied {
			found = true
			if e.Actor != control.ActorSystem || e.Target != "pi_audit" || e.AccountID != a.ID {
				t.Errorf("payment entry %+v", e)
			}
		}
	}
	if !found {
		t.Fatal("no payment entry")
	}
}

func TestCSRF(t *testing.T) {
	s := newServer(t, "", nil)
	browser, acct := signup(t, s, "grace@example.com")
	var me struct {
		control.Account
		CSRFToken string `json:"csrf_token"`
	}
	r := browser.must(http.StatusOK, "GET", "/api/v1/account", nil)
	r.decode(t, &me)
	if me.CSRFToken == "" || r.header.Get(httpapi.CSRFHeader) != me.CSRFToken || me.ID != acct.ID {
		t.Fatalf("account answer lacks the CSRF token: %s", r.body)
	}
	// The same cookie jar without the page's token: what a forged
	// cross-site request carries.
	forged := &client{t: t, base: s.URL, http: &http.Client{Jar: browser.http.Jar, Timeout: 30 * time.Second}}

	tests := []struct {
		name   string
		c      *client
		method string
		path   string
		body   any
		header []string
		want   int
	}{
		{"cookie without token", forged, "POST", "/api/v1/keys", map[string]any{"name": "x"}, nil, http.StatusForbidden},
		{"cookie with a wrong token", forged, "POST", "/api/v1/keys", map[string]any{"name": "x"},
			[]string{httpapi.CSRFHeader, "nope"}, http.StatusForbidden},
		{"cookie without token, PUT", forged, "PUT", "/api/v1/spend-guard", map[string]any{"auto_suspend": true}, nil,
			http.StatusForbidden},
		{"cookie without token, GET", forged, "GET", "/api/v1/keys", nil, nil, http.StatusOK},
		{"cookie with the token", forged, "POST", "/api/v1/keys", map[string]any{"name": "x"},
			[]string{httpapi.CSRFHeader, me.CSRFToken}, http.StatusCreated},
		{"the page's client", browser, "POST", "/api/v1/keys", map[string]any{"name": "y"}, nil, http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.t = t
			tc.c.must(tc.want, tc.method, tc.path, tc.body, tc.header...)
		})
	}

	t.Run("bearer is exempt", func(t *testing.T) {
		var tok struct {
			Secret string `json:"secret"`
		}
		browser.must(http.StatusCreated, "POST", "/api/v1/tokens", map[string]string{"name": "ci"}).decode(t, &tok)
		// With the browser's cookie too: the bearer header decides.
		script := &client{t: t, base: s.URL, http: &http.Client{Jar: browser.http.Jar, Timeout: 30 * time.Second},
			token: tok.Secret}
		script.must(http.StatusCreated, "POST", "/api/v1/keys", map[string]any{"name": "z"})
	})
	t.Run("the refusal is audited", func(t *testing.T) {
		var denied int
		for _, e := range auditPage(t, browser, "?limit=1000").Data {
			if e.Action == control.ActionKeyCreate && e.Result == control.AuditDenied {
				denied++
			}
		}
		if denied != 2 {
			t.Errorf("%d denied key creations recorded, want 2", denied)
		}
	})
	t.Run("form field", func(t *testing.T) {
		forged.t = t
		forged.must(http.StatusForbidden, "POST", "/api/v1/logout", "csrf_token=nope",
			"Content-Type", "application/x-www-form-urlencoded")
		forged.must(http.StatusNoContent, "POST", "/api/v1/logout", "csrf_token="+me.CSRFToken,
			"Content-Type", "application/x-www-form-urlencoded")
	})
}

// TestTransportHeaders: HSTS and Secure cookies on TLS (or behind a TLS
// proxy, -secure-cookies), neither on plain HTTP.
func TestTransportHeaders(t *testing.T) {
	st := controltest.OpenStore(t, controltest.DBPath(t))
	svc := controltest.NewService(t, st, controltest.NewClock(controltest.Epoch))
	signupBody := func(email string) string {
		return `{"name":"Grace","email":"` + email + `","company":"Navy","billing_address":"1 Harbor Rd","password":"correct horse battery"}`
	}
	tests := []struct {
		name       string
		tls        bool
		secure     bool
		wantSecure bool
	}{
		{"plain", false, false, false},
		{"TLS", true, false, true},
		{"plain behind a TLS proxy", false, true, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := httpapi.New(svc, httpapi.Config{SecureCookies: tc.secure})
			var ts *httptest.Server
			if tc.tls {
				ts = httptest.NewTLSServer(h)
			} else {
				ts = httptest.NewServer(h)
			}
			defer ts.Close()
			hc := ts.Client()
			hc.Jar, _ = cookiejar.New(nil)
			resp, err := hc.Post(ts.URL+"/api/v1/signup", "application/json",
				strings.NewReader(signupBody("t"+string(rune('a'+i))+"@example.com")))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("signup: %d", resp.StatusCode)
			}
			hsts := resp.Header.Get("Strict-Transport-Security")
			if tc.wantSecure != (hsts == "max-age=31536000; includeSubDomains") || !tc.wantSecure && hsts != "" {
				t.Errorf("HSTS %q", hsts)
			}
			cookie := resp.Header.Get("Set-Cookie")
			for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
				if !strings.Contains(cookie, want) {
					t.Errorf("cookie %q lacks %s", cookie, want)
				}
			}
			if strings.Contains(cookie, "Secure") != tc.wantSecure {
				t.Errorf("cookie %q: Secure should be %v", cookie, tc.wantSecure)
			}
			if tc.tls && resp.TLS.Version < tls.VersionTLS12 {
				t.Errorf("TLS version %x", resp.TLS.Version)
			}
		})
	}
}

func TestLoginThrottle(t *testing.T) {
	s := newServer(t, "", nil)
	victim, _ := signup(t, s, "victim@example.com")
	attacker := s.client(t)
	login := func(email, password string) *response {
		t.Helper()
		return attacker.do("POST", "/api/v1/login", map[string]string{"email": email, "password": password})
	}
	// Per email: 10 failures, then even the right password waits.
	for i := range 10 {
		if r := login("victim@example.com", "guess"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i, r.status, r.body)
		}
	}
	r := login("VICTIM@example.com", "correct horse battery")
	if r.status != http.StatusTooManyRequests || r.errorCode() != control.ETHROTTLED || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: %d %v %s", r.status, r.header, r.body)
	}
	// Per address: 20 failures across emails.
	for i := range 10 {
		if r := login("nobody"+string(rune('a'+i))+"@example.com", "guess"); r.status != http.StatusUnauthorized {
			t.Fatalf("address failure %d: %d %s", i, r.status, r.body)
		}
	}
	if r := login("someone-else@example.com", "guess"); r.status != http.StatusTooManyRequests {
		t.Fatalf("after 20 failures from one address: %d %s", r.status, r.body)
	}

	var throttled int
	for _, e := range auditPage(t, victim, "?limit=1000").Data {
		if e.Action == control.ActionLoginThrottled && e.Result == control.AuditThrottled && e.ClientIP == "127.0.0.1" {
			throttled++
		}
	}
	if throttled != 1 {
		t.Errorf("%d throttling entries on the victim's account, want 1", throttled)
	}

	s.clock.Advance(15 * time.Minute)
	if r := login("victim@example.com", "correct horse battery"); r.status != http.StatusOK {
		t.Fatalf("after the window: %d %s", r.status, r.body)
	}
}
