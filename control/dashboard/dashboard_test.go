package dashboard_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/internal/wasmtest"
)

const routeDecision = `{"action":"route","tags":{"policy":"test"}}`

var secretText = regexp.MustCompile(`<code id="new-key-secret">([^<]+)</code>`)

// createKey creates a key through the form and returns it and its secret.
func createKey(t *testing.T, s *server, b *browser, a *control.Account, fields ...string) (control.APIKey, string) {
	t.Helper()
	p := b.post("/keys", append([]string{"name"}, fields...)...).want(t, http.StatusCreated, `id="copy-secret"`)
	m := secretText.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no secret shown: %s", clip(p.body))
	}
	keys, err := s.svc.Keys(context.Background(), a.ID)
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	return keys[0], m[1]
}

func TestSignUpSignInOut(t *testing.T) {
	s := newServer(t, false)
	anon := s.browser(t)
	anon.get("/").redirect(t, "/login")
	anon.get("/keys").redirect(t, "/login")
	anon.get("/login").want(t, http.StatusOK, `id="login"`, `id="login-submit"`, `for="li-email"`)

	b, a := s.signup(t, "ada@example.com")
	p := b.get("/keys?ok=welcome").want(t, http.StatusOK, `nav id="main"`, `id="nav-keys"`, `id="nav-usage"`,
		`id="nav-billing"`, `id="nav-plugins"`, `id="nav-account"`, `id="nav-audit"`, `id="logout"`, "Welcome!")
	if !strings.Contains(p.body, a.Email) {
		t.Error("the page does not say who is signed in")
	}
	// The API accepts the console's session, and the console's CSRF token.
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/keys", strings.NewReader(`{"name":"from the API"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(httpapi.CSRFHeader, b.csrf)
	b.do(req).want(t, http.StatusCreated)

	b.post("/logout").redirect(t, "/login")
	b.get("/keys").redirect(t, "/login")

	t.Run("wrong password", func(t *testing.T) {
		c := s.browser(t)
		c.post("/login", "email", "ada@example.com", "password", "not the password").
			want(t, http.StatusUnauthorized, "Invalid email or password.", `value="ada@example.com"`)
	})
	t.Run("sign in again", func(t *testing.T) {
		c := s.browser(t)
		c.post("/login", "email", "ADA@example.com", "password", password).redirect(t, "/keys")
		c.get("/keys").want(t, http.StatusOK, "from the API")
	})
	t.Run("refused sign-up keeps the fields", func(t *testing.T) {
		c := s.browser(t)
		c.post("/signup", "name", "Ada", "email", "ada@example.com", "password", password, "billing_address", "x").
			want(t, http.StatusConflict, `value="Ada"`)
		c.post("/signup", "name", "Bob", "email", "bob@example.com", "password", "short", "billing_address", "x").
			want(t, http.StatusBadRequest, "Password must be at least 8 bytes.")
	})
}

func TestKeys(t *testing.T) {
	s := newServer(t, false)
	b, a := s.signup(t, "ada@example.com")
	k, secret := createKey(t, s, b, a, "ci", "rpm", "60", "tpm", "", "monthly_cap", "25.50",
		"allowed_models", "openai/gpt-4o-mini, test/one-dollar")
	snap, err := s.svc.KeySnapshot(context.Background(), control.HashSecret(secret))
	if err != nil || snap.KeyID != k.ID {
		t.Fatalf("the secret shown is not the key's: %v %+v", err, snap)
	}
	if k.Limits.RequestsPerMinute != 60 || k.Limits.MonthlySpendCapMicros != 25_500_000 || len(k.AllowedModels) != 2 {
		t.Errorf("key = %+v", k)
	}
	p := b.get("/keys").want(t, http.StatusOK, `data-key-id="`+k.ID+`"`, "60 req/min", "$25.50/month", `class="revoke-key`)
	if strings.Contains(p.body, secret) {
		t.Error("the secret is shown again")
	}

	b.post("/keys", "name", "").want(t, http.StatusBadRequest, "Name is required.")
	b.post("/keys", "name", "x", "rpm", "lots").want(t, http.StatusBadRequest, "Requests per minute must be a whole number")

	b.post("/keys/"+k.ID+"/revoke").redirect(t, "/keys?ok=key-revoked")
	p = b.get("/keys").want(t, http.StatusOK, "revoked")
	if strings.Contains(p.body, `class="revoke-key`) {
		t.Error("a revoked key can be revoked again")
	}
}

// TestCSRF: every state-changing form is refused without the session's
// token, and nothing changes.
func TestCSRF(t *testing.T) {
	s := newServer(t, true)
	b, a := s.signup(t, "ada@example.com")
	k, _ := createKey(t, s, b, a, "keep")
	b.upload(wasmtest.Decision(routeDecision), "name", "p").redirect(t, "/plugins?ok=uploaded")
	ps, _ := s.svc.Plugins(context.Background(), a.ID)
	forms := []struct{ path string }{
		{"/logout"}, {"/keys"}, {"/keys/" + k.ID + "/revoke"}, {"/billing/topup"}, {"/billing/auto-topup"},
		{"/plugins/" + ps[0].ID + "/activate"}, {"/plugins/rollback"}, {"/plugins/deactivate"}, {"/account"},
		{"/account/delete"},
	}
	for _, f := range forms {
		for _, token := range []string{"", "wrong", httpapi.CSRFToken("another session")} {
			b.post(f.path, "csrf_token", token, "name", "changed", "amount", "20", "password", password,
				"confirm", "on", "email", "ada@example.com", "billing_address", "x").
				want(t, http.StatusForbidden, "security token")
		}
	}
	csrf := b.csrf
	b.csrf = ""
	b.upload(wasmtest.Decision(routeDecision), "name", "p").want(t, http.StatusForbidden)
	b.csrf = csrf

	if keys, _ := s.svc.Keys(context.Background(), a.ID); len(keys) != 1 || keys[0].Status != "active" {
		t.Errorf("keys changed: %+v", keys)
	}
	if acc, err := s.svc.Account(context.Background(), a.ID); err != nil || acc.Name != "Ada Lovelace" {
		t.Errorf("account changed: %+v %v", acc, err)
	}
	if ps2, _ := s.svc.Plugins(context.Background(), a.ID); len(ps2) != 1 || ps2[0].Active {
		t.Errorf("plugins changed: %+v", ps2)
	}
	b.get("/keys").want(t, http.StatusOK) // still signed in
	page, _ := s.svc.AuditLog(context.Background(), a.ID, "", 1000)
	denied := 0
	for _, e := range page.Data {
		if e.Result == control.AuditDenied {
			denied++
		}
	}
	if denied < len(forms)*3 {
		t.Errorf("%d refusals audited, want at least %d", denied, len(forms)*3)
	}

	t.Run("cross-site form", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.URL+"/keys", strings.NewReader("name=x&csrf_token="+csrf))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		b.do(req).want(t, http.StatusForbidden, "another site")
	})
}

// TestIsolation: one account's ids never appear on another's pages, and
// naming them in a form changes nothing.
func TestIsolation(t *testing.T) {
	s := newServer(t, false)
	alice, aliceAcct := s.signup(t, "alice@example.com")
	k, _ := createKey(t, s, alice, aliceAcct, "alice-key")
	s.ingest(t, &k, 20, 2)
	alice.upload(wasmtest.Decision(routeDecision), "name", "alices-plugin").redirect(t, "/plugins?ok=uploaded")
	ps, _ := s.svc.Plugins(context.Background(), aliceAcct.ID)
	alice.get("/usage").want(t, http.StatusOK, "req_"+k.ID+"_0")

	bob, _ := s.signup(t, "bob@example.com")
	for _, path := range []string{"/keys", "/usage", "/usage?days=90", "/billing", "/plugins", "/account", "/audit"} {
		p := bob.get(path).want(t, http.StatusOK)
		for _, id := range []string{aliceAcct.ID, k.ID, ps[0].ID, "alice@example.com", "alices-plugin", "req_"} {
			if strings.Contains(p.body, id) {
				t.Errorf("%s shows %q of another account", path, id)
			}
		}
	}
	bob.post("/keys/"+k.ID+"/revoke").want(t, http.StatusNotFound)
	bob.post("/plugins/"+ps[0].ID+"/activate").want(t, http.StatusNotFound)
	if got, _ := s.svc.Key(context.Background(), aliceAcct.ID, k.ID); got.Status != "active" {
		t.Error("another account revoked the key")
	}
	if got, _ := s.svc.Plugins(context.Background(), aliceAcct.ID); got[0].Active {
		t.Error("another account activated the plugin")
	}
}

func TestUsage(t *testing.T) {
	s := newServer(t, false)
	b, a := s.signup(t, "ada@example.com")
	k, _ := createKey(t, s, b, a, "prod")
	s.ingest(t, &k, 120, 60)
	p := b.get("/usage").want(t, http.StatusOK, `<svg id="usage-chart"`, `<title id="usage-chart-title">Spend per day</title>`,
		`id="recent-requests"`, `id="usage-by-model"`, `id="usage-by-key"`, `data-request-id="req_`+k.ID+`_0"`,
		`aria-current="true" class="on">30 days`, "test/one-dollar", "prod")
	if n := strings.Count(p.body, "data-request-id="); n != 50 {
		t.Errorf("%d recent requests, want 50", n)
	}
	// The newest request comes first; one every 12 hours, 59 of them
	// since midnight 29 days ago.
	if strings.Index(p.body, `"req_`+k.ID+`_0"`) > strings.Index(p.body, `"req_`+k.ID+`_1"`) {
		t.Error("recent requests are not newest first")
	}
	if !strings.Contains(p.body, `id="total-requests">59<`) {
		t.Errorf("totals: %s", clip(p.body[strings.Index(p.body, "usage-totals"):]))
	}
	if n := strings.Count(p.body[strings.Index(p.body, `id="usage-chart"`):strings.Index(p.body, "</svg>")], "<rect"); n != 30 {
		t.Errorf("%d bars, want 30", n)
	}
	b.get("/usage?days=7").want(t, http.StatusOK, `class="on">7 days`)
	b.get("/usage?days=90").want(t, http.StatusOK, `id="total-requests">120`)
	b.get("/usage?days=5").want(t, http.StatusBadRequest)
}

func TestBilling(t *testing.T) {
	t.Run("payments off", func(t *testing.T) {
		s := newServer(t, false)
		b, _ := s.signup(t, "ada@example.com")
		p := b.get("/billing").want(t, http.StatusOK, `id="balance">$0.00`, `id="payments-off"`, `id="transactions"`)
		if strings.Contains(p.body, `id="topup"`) {
			t.Error("the top-up form shows without payments")
		}
		b.post("/billing/topup", "amount", "20").want(t, http.StatusServiceUnavailable, "not configured")
	})
	t.Run("checkout", func(t *testing.T) {
		s := newServer(t, true)
		b, a := s.signup(t, "ada@example.com")
		if _, err := s.svc.GrantCredits(context.Background(), a.ID, 12_345_678, "welcome credit", ""); err != nil {
			t.Fatal(err)
		}
		b.get("/billing").want(t, http.StatusOK, `id="balance">$12.35`, `id="topup"`, `id="topup-submit"`,
			`id="auto-topup"`, "Adjustment: welcome credit", "$12.35")
		p := b.post("/billing/topup", "amount", "20.50").want(t, http.StatusOK,
			`<a id="checkout-url" class="button" href="https://checkout.example/pay/cs_test_1?cents=2050">`,
			`<meta http-equiv="refresh" content="0; url=https://checkout.example/pay/cs_test_1?cents=2050">`)
		_ = p
		b.post("/billing/topup", "amount", "twenty").want(t, http.StatusBadRequest, "in dollars", `value="twenty"`)
		b.post("/billing/topup", "amount", "0.50").want(t, http.StatusBadRequest, "$0.50 is not an amount we can take")
		b.post("/billing/auto-topup", "enabled", "on", "threshold", "5", "amount", "20").
			want(t, http.StatusConflict, "No card is saved yet")
		b.post("/billing/auto-topup", "threshold", "5", "amount", "20").redirect(t, "/billing?ok=auto-topup")
		b.get("/billing?ok=auto-topup").want(t, http.StatusOK, "Auto top-up settings saved.", `value="5.00"`, `value="20.00"`)
		b.get("/billing?checkout=cancel").want(t, http.StatusOK, "nothing was charged")
	})
}

func TestPlugins(t *testing.T) {
	s := newServer(t, false)
	b, a := s.signup(t, "ada@example.com")
	b.get("/plugins").want(t, http.StatusOK, `id="upload-plugin"`, `enctype="multipart/form-data"`, `id="upload-submit"`)
	b.upload(wasmtest.Decision(routeDecision)[:20], "name", "broken", "fail", "closed").
		want(t, http.StatusBadRequest, `id="plugin-error"`, "not valid WebAssembly")
	b.upload(wasmtest.Decision(routeDecision), "name", "good", "fail", "closed").redirect(t, "/plugins?ok=uploaded")
	b.upload(wasmtest.Decision(routeDecision), "name", "good").redirect(t, "/plugins?ok=uploaded")
	ps, _ := s.svc.Plugins(context.Background(), a.ID)
	if len(ps) != 2 || ps[1].Fail != "closed" {
		t.Fatalf("plugins: %+v", ps)
	}
	b.get("/plugins").want(t, http.StatusOK, `data-plugin-id="`+ps[0].ID+`"`, `class="activate-plugin"`, "refuse the request")
	b.post("/plugins/rollback").want(t, http.StatusConflict, "nothing earlier")
	b.post("/plugins/"+ps[1].ID+"/activate").redirect(t, "/plugins?ok=activated")
	b.post("/plugins/"+ps[0].ID+"/activate").redirect(t, "/plugins?ok=activated")
	b.post("/plugins/rollback").redirect(t, "/plugins?ok=rolled-back")
	got, _ := s.svc.Plugins(context.Background(), a.ID)
	if got[0].Active || !got[1].Active {
		t.Errorf("after rollback: %+v", got)
	}
	b.get("/plugins").want(t, http.StatusOK, `id="rollback-plugin"`, `class="active"`)
}

func TestAccount(t *testing.T) {
	s := newServer(t, false)
	b, a := s.signup(t, "ada@example.com")
	k, _ := createKey(t, s, b, a, "k")
	s.ingest(t, &k, 3, 1)
	b.get("/account").want(t, http.StatusOK, `id="profile"`, `id="profile-submit"`, `href="/account/export.json"`,
		`id="export-csv"`, `id="delete-account"`, `name="confirm" type="checkbox" required`)
	b.post("/account", "name", "Ada King", "email", "ada@example.com", "company", "", "billing_address", "Ockham Park",
		"phone", "+44 20 7946 0000").redirect(t, "/account?ok=profile")
	b.get("/account").want(t, http.StatusOK, `value="Ada King"`, "Ockham Park", `20 7946 0000"`)
	b.post("/account", "name", "Ada King", "email", "countess@example.com", "billing_address", "Ockham Park").
		want(t, http.StatusBadRequest, "Current_password is required")
	b.post("/account", "name", "Ada King", "email", "countess@example.com", "billing_address", "Ockham Park",
		"current_password", "wrong password").want(t, http.StatusForbidden, "The password is not correct.", `value="countess@example.com"`)

	p := b.get("/account/export.json").want(t, http.StatusOK, `"format": "switchyard.account-export.v1"`, "Ockham Park",
		`"request_id":"req_`)
	if cd := p.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("Content-Disposition = %q", cd)
	}
	p = b.get("/account/export/usage.csv").want(t, http.StatusOK, "request_id,started_at", "req_"+k.ID+"_2")
	if cd := p.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("Content-Disposition = %q", cd)
	}

	b.post("/account/delete", "password", password).want(t, http.StatusBadRequest, "Tick the box")
	b.post("/account/delete", "password", "wrong password", "confirm", "on").want(t, http.StatusForbidden, "not correct")
	b.post("/account/delete", "password", password, "confirm", "on").redirect(t, "/goodbye")
	b.get("/goodbye").want(t, http.StatusOK, `id="goodbye"`)
	b.get("/keys").redirect(t, "/login")
	if acc, _ := s.svc.Account(context.Background(), a.ID); acc.Status != control.AccountClosed {
		t.Errorf("status %q after deletion", acc.Status)
	}
}

func TestAudit(t *testing.T) {
	s := newServer(t, false)
	b, a := s.signup(t, "ada@example.com")
	k, _ := createKey(t, s, b, a, "k")
	b.post("/keys/" + k.ID + "/revoke")
	p := b.get("/audit").want(t, http.StatusOK, `id="audit"`, control.ActionSignup, control.ActionKeyCreate,
		control.ActionKeyRevoke, "<code>"+k.ID+"</code>", "127.0.0.1")
	if strings.Index(p.body, control.ActionKeyRevoke) > strings.Index(p.body, control.ActionSignup) {
		t.Error("the audit log is not newest first")
	}
}

// TestPageSizes keeps every page under the 100 KB with a full
// page of data, and checks that every form control has a label.
func TestPageSizes(t *testing.T) {
	s := newServer(t, true)
	b, a := s.signup(t, "ada@example.com")
	var k control.APIKey
	for i := 0; i < 30; i++ {
		k, _ = createKey(t, s, b, a, "key", "allowed_models", "openai/gpt-4o-mini anthropic/claude-sonnet-4")
	}
	s.ingest(t, &k, 2000, 90)
	for i := 0; i < 5; i++ {
		b.upload(wasmtest.Decision(routeDecision), "name", "p").redirect(t, "/plugins?ok=uploaded")
	}
	label := regexp.MustCompile(`<label for="([^"]+)"`)
	ctl := regexp.MustCompile(`<(?:input|select|textarea) id="([^"]+)"`)
	for _, path := range []string{"/keys", "/usage", "/usage?days=90", "/billing", "/plugins", "/account", "/audit",
		"/login", "/signup", "/goodbye"} {
		p := b.get(path).want(t, http.StatusOK)
		if len(p.body) > maxPageBytes {
			t.Errorf("%s is %d bytes", path, len(p.body))
		}
		labelled := map[string]bool{}
		for _, m := range label.FindAllStringSubmatch(p.body, -1) {
			labelled[m[1]] = true
		}
		for _, m := range ctl.FindAllStringSubmatch(p.body, -1) {
			if !labelled[m[1]] {
				t.Errorf("%s: #%s has no label", path, m[1])
			}
		}
		if n := strings.Count(p.body, "<input") + strings.Count(p.body, "<select") + strings.Count(p.body, "<textarea"); n !=
			len(ctl.FindAllString(p.body, -1))+strings.Count(p.body, `type="hidden"`) {
			t.Errorf("%s: a form control without an id", path)
		}
	}
	for _, path := range []string{"/static/console.css", "/static/console.js"} {
		p := b.get(path).want(t, http.StatusOK)
		if cc := p.header.Get("Cache-Control"); !strings.Contains(cc, "max-age") {
			t.Errorf("%s: Cache-Control %q", path, cc)
		}
	}
}
