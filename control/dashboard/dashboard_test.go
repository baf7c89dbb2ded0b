package dashboard_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
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
	snap, err := s.svc.KeySnapshot(context.Background(), control.HashSecret(m[1]))
	if err != nil {
		t.Fatalf("the secret shown is no key: %v", err)
	}
	k, err := s.svc.Key(context.Background(), a.ID, snap.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	return *k, m[1]
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
		{"/logout"}, {"/keys"}, {"/keys/" + k.ID}, {"/keys/" + k.ID + "/revoke"}, {"/billing/topup"}, {"/billing/auto-topup"},
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

// TestUsageFilter: the usage page narrowed to a model, a key or both
// shows only their totals, charts and requests, and keeps the choice
// across range links.
func TestUsageFilter(t *testing.T) {
	s := newServer(t, false)
	b, a := s.signup(t, "ada@example.com")
	prod, _ := createKey(t, s, b, a, "prod")
	ci, _ := createKey(t, s, b, a, "ci")
	s.ingest(t, &prod, 20, 10)
	s.ingest(t, &ci, 6, 5)
	var mini []edgeapi.UsageRecord
	for i := range 3 {
		mini = append(mini, edgeapi.UsageRecord{RequestID: fmt.Sprintf("req_mini_%d", i), KeyID: ci.ID, AccountID: a.ID,
			StartedAt: s.clock.Now().Add(-time.Duration(i) * time.Hour), Endpoint: "chat.completions",
			Model: "openai/gpt-4o-mini", Provider: "openai", Status: 200, FinishReason: "stop", InputTokens: 10,
			OutputTokens: 5, LatencyMs: 300, TTFBMs: 50, Attempts: 1})
	}
	if _, err := s.svc.IngestUsage(context.Background(), "test-edge", mini); err != nil {
		t.Fatal(err)
	}
	requests := func(p page) int { return strings.Count(p.body, "data-request-id=") }

	all := b.get("/usage").want(t, http.StatusOK, `id="total-requests">29<`, `<label for="filter-model">`,
		`<label for="filter-key">`, `<option value="openai/gpt-4o-mini">`, `<option value="`+ci.ID+`">ci</option>`)
	if n := requests(all); n != 29 {
		t.Errorf("%d recent requests unfiltered, want 29", n)
	}
	byKey := b.get("/usage?key="+ci.ID).want(t, http.StatusOK, `id="total-requests">9<`,
		`<option value="`+ci.ID+`" selected>ci</option>`, `href="/usage?days=7&amp;key=`+ci.ID+`"`, `id="filter-clear"`)
	if n := requests(byKey); n != 9 || strings.Contains(byKey.body, "req_"+prod.ID) {
		t.Errorf("%d recent requests for key ci (want 9), or one of prod's among them", n)
	}
	if !strings.Contains(rowOf(t, byKey.body, "data-request-id", "req_mini_0"), "<td>ci</td>") {
		t.Error("a recent request does not name its key")
	}
	byModel := b.get("/usage?model=openai/gpt-4o-mini").want(t, http.StatusOK, `id="total-requests">3<`,
		`<option value="openai/gpt-4o-mini" selected>`)
	if n := requests(byModel); n != 3 {
		t.Errorf("%d recent requests for gpt-4o-mini, want 3", n)
	}
	b.get("/usage?model=openai/gpt-4o-mini&key="+prod.ID).want(t, http.StatusOK, `id="total-requests">0<`,
		"No requests in this range.")

	other, oa := s.signup(t, "eve@example.com")
	foreign, _ := createKey(t, s, other, oa, "eve")
	b.get("/usage?key="+foreign.ID).want(t, http.StatusNotFound, "no such key")
	b.get("/usage?model="+strings.Repeat("m", 300)).want(t, http.StatusBadRequest, "at most 256")
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
	for i := range 60 {
		if _, err := s.svc.GrantCredits(context.Background(), a.ID, 1_000_000, fmt.Sprintf("credit note %d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{"/keys", "/keys/" + k.ID + "/edit", "/usage", "/usage?days=90", "/billing", "/plugins",
		"/account", "/audit", "/login", "/signup", "/goodbye"} {
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

// pageError is the reason a refused form shows, as the visitor reads it.
var pageError = regexp.MustCompile(`id="page-error">([^<]*)<`)

func TestEditKey(t *testing.T) {
	s := newServer(t, false)
	b, a := s.signup(t, "ada@example.com")
	k, _ := createKey(t, s, b, a, "ci", "rpm", "60", "monthly_cap", "25.50",
		"allowed_models", "openai/gpt-4o-mini, test/one-dollar")
	edit := "/keys/" + k.ID + "/edit"
	b.get("/keys").want(t, http.StatusOK, `href="`+edit+`"`, `aria-label="Edit key ci"`)
	b.get(edit).want(t, http.StatusOK, "<title>Edit key “ci”", `<form id="edit-key" method="post" action="/keys/`+k.ID+`">`,
		`name="csrf_token"`, `for="key-name"`, `value="ci"`, `for="key-rpm"`, `value="60"`, `for="key-cap"`, `value="25.50"`,
		`value="openai/gpt-4o-mini, test/one-dollar"`, `id="save-key"`)

	b.post("/keys/"+k.ID, "name", "ci-nightly", "rpm", "", "tpm", "1000", "monthly_cap", "100",
		"allowed_models", "test/one-dollar").redirect(t, "/keys?ok=key-updated")
	p := b.get("/keys?ok=key-updated").want(t, http.StatusOK, "The key was saved.", "ci-nightly", "1000 tokens/min",
		"$100.00/month", `<td class="wrap" data-label="Models">test/one-dollar</td>`)
	if strings.Contains(p.body, "60 req/min") || strings.Contains(p.body, "$25.50") {
		t.Error("the keys page still shows the old limits")
	}
	got, err := s.svc.Key(context.Background(), a.ID, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Limits.RequestsPerMinute != 0 || got.Limits.TokensPerMinute != 1000 || got.Limits.MonthlySpendCapMicros != 100_000_000 ||
		len(got.AllowedModels) != 1 || got.Status != "active" {
		t.Errorf("after the edit the key is %+v", got)
	}
	b.get(edit).want(t, http.StatusOK, `value="ci-nightly"`, `value="1000"`, `value="100.00"`, `value="test/one-dollar"`)

	// Emptying the models allows every model again.
	b.post("/keys/"+k.ID, "name", "ci-nightly", "tpm", "1000", "monthly_cap", "100").redirect(t, "/keys?ok=key-updated")
	if got, _ := s.svc.Key(context.Background(), a.ID, k.ID); len(got.AllowedModels) != 0 {
		t.Errorf("models after emptying the field: %v", got.AllowedModels)
	}

	refused := []struct {
		name   string
		fields []string
		// kept is the visitor's input the page must show again.
		kept []string
	}{
		{"no name", []string{"name", " ", "rpm", "5"}, []string{`value="5"`}},
		{"words for a number", []string{"name", "typed", "rpm", "lots", "monthly_cap", "7"}, []string{`value="typed"`, `value="lots"`, `value="7"`}},
		{"negative", []string{"name", "typed", "tpm", "-1"}, []string{`value="-1"`}},
		{"cap not in dollars", []string{"name", "typed", "monthly_cap", "a lot"}, []string{`value="a lot"`}},
		{"bad model", []string{"name", "typed", "allowed_models", "good/model, modèle"}, []string{`value="good/model, modèle"`}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			created := pageError.FindStringSubmatch(b.post("/keys", tt.fields...).want(t, http.StatusBadRequest, tt.kept...).body)
			edited := pageError.FindStringSubmatch(b.post("/keys/"+k.ID, tt.fields...).
				want(t, http.StatusBadRequest, append(tt.kept, `id="edit-key"`)...).body)
			if created == nil || edited == nil || created[1] != edited[1] {
				t.Errorf("creating says %q, editing says %q: want the same reason", created, edited)
			}
		})
	}
	if after, _ := s.svc.Key(context.Background(), a.ID, k.ID); after.Name != "ci-nightly" || after.Limits.TokensPerMinute != 1000 {
		t.Errorf("a refused edit changed the key: %+v", after)
	}

	t.Run("another account's key", func(t *testing.T) {
		bob, _ := s.signup(t, "bob@example.com")
		bob.get(edit).want(t, http.StatusNotFound)
		bob.post("/keys/"+k.ID, "name", "mine now").want(t, http.StatusNotFound)
		if got, _ := s.svc.Key(context.Background(), a.ID, k.ID); got.Name != "ci-nightly" {
			t.Errorf("another account renamed the key to %q", got.Name)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		b.post("/keys/"+k.ID+"/revoke").redirect(t, "/keys?ok=key-revoked")
		if p := b.get("/keys").want(t, http.StatusOK); strings.Contains(p.body, `href="`+edit+`"`) {
			t.Error("a revoked key offers an edit link")
		}
		b.get(edit).want(t, http.StatusConflict, "The key “ci-nightly” was revoked, so it can no longer be changed")
		b.post("/keys/"+k.ID, "name", "revived", "rpm", "1").want(t, http.StatusConflict, "was revoked")
		if got, _ := s.svc.Key(context.Background(), a.ID, k.ID); got.Name != "ci-nightly" {
			t.Errorf("a revoked key was renamed to %q", got.Name)
		}
	})

	log, _ := s.svc.AuditLog(context.Background(), a.ID, "", 100)
	updates := 0
	for _, e := range log.Data {
		if e.Action == control.ActionKeyUpdate && e.Target == k.ID && e.Result == control.AuditOK {
			updates++
		}
	}
	if updates != 2 {
		t.Errorf("%d successful key.update entries audited, want 2", updates)
	}
}

// ledgerRow is a transactions table row: the entry, its note and the
// amount and balance shown.
var ledgerRow = regexp.MustCompile(`<tr data-entry-id="(\d+)">.*?<td>Adjustment: grant (\d+)</td><td class="n">([^<]+)</td><td class="n">([^<]+)</td></tr>`)

var olderLink = regexp.MustCompile(`<a id="tx-older" href="([^"]+)"`)

func TestTransactionPages(t *testing.T) {
	s := newServer(t, false)
	b, a := s.signup(t, "ada@example.com")
	const entries = 120
	for i := 1; i <= entries; i++ {
		// Grant i is i cents, so the balance after it is i(i+1)/2 cents.
		if _, err := s.svc.GrantCredits(context.Background(), a.ID, int64(i)*control.MicrosPerCent, fmt.Sprintf("grant %d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	var seen []int
	path := "/billing"
	for pages := 1; ; pages++ {
		p := b.get(path).want(t, http.StatusOK, `id="transactions"`)
		rows := ledgerRow.FindAllStringSubmatch(p.body, -1)
		if want := min(50, entries-len(seen)); len(rows) != want {
			t.Fatalf("page %d (%s) lists %d entries, want %d", pages, path, len(rows), want)
		}
		for _, r := range rows {
			n, _ := strconv.Atoi(r[2])
			seen = append(seen, n)
			if want := fmt.Sprintf("$0.%02d", n); n < 100 && r[3] != want {
				t.Errorf("grant %d shows amount %s, want %s", n, r[3], want)
			}
			cents := n * (n + 1) / 2
			if want := fmt.Sprintf("$%d.%02d", cents/100, cents%100); r[4] != want {
				t.Errorf("balance after grant %d shows %s, want %s", n, r[4], want)
			}
		}
		if newest := strings.Contains(p.body, `id="tx-newest" href="/billing#transactions"`); newest != (pages > 1) {
			t.Errorf("page %d: a link to the newest is %v", pages, newest)
		}
		m := olderLink.FindStringSubmatch(p.body)
		if m == nil {
			if len(seen) != entries {
				t.Fatalf("no link to older transactions after %d of %d entries", len(seen), entries)
			}
			if !strings.Contains(p.body, "Older transactions, newest first") {
				t.Error("the last page does not say it shows older transactions")
			}
			break
		}
		path, _, _ = strings.Cut(html.UnescapeString(m[1]), "#")
		if pages > 3 {
			t.Fatalf("more than 3 pages for %d entries", entries)
		}
	}
	for i, n := range seen {
		if n != entries-i {
			t.Fatalf("entry %d of the pages is grant %d, want %d: each once, newest first", i, n, entries-i)
		}
	}

	for _, bad := range []string{"abc", "-1", "0", "1.5", "%27"} {
		b.get("/billing?before="+bad).want(t, http.StatusBadRequest,
			"This link to older transactions is not one the billing page made")
	}
	b.get("/billing?before=1").want(t, http.StatusOK, "No older transactions.")
}

// rowOf is the table row whose attr is id: a version's in the plugins
// table (data-plugin-id), a key's in the key table (data-key-id).
func rowOf(t *testing.T, body, attr, id string) string {
	t.Helper()
	i := strings.Index(body, attr+`="`+id+`"`)
	if i < 0 {
		t.Fatalf("no row with %s=%q: %s", attr, id, clip(body))
	}
	return body[i : i+strings.Index(body[i:], "</tr>")]
}

func TestPluginsPerKey(t *testing.T) {
	s := newServer(t, false)
	b, a := s.signup(t, "ada@example.com")
	ci, ciSecret := createKey(t, s, b, a, "ci")
	prod, prodSecret := createKey(t, s, b, a, "prod")
	b.upload(wasmtest.Decision(`{"action":"route","tags":{"v":"alpha"}}`), "name", "alpha").redirect(t, "/plugins?ok=uploaded")
	b.upload(wasmtest.Decision(`{"action":"route","tags":{"v":"beta"}}`), "name", "beta").redirect(t, "/plugins?ok=uploaded")
	ps, _ := s.svc.Plugins(context.Background(), a.ID)
	var alpha, beta control.Plugin
	for _, p := range ps {
		switch p.Name {
		case "alpha":
			alpha = p
		case "beta":
			beta = p
		}
	}
	// runs says which version the edge runs for a key: its snapshot's
	// module.
	runs := func(secret string) string {
		t.Helper()
		snap, err := s.svc.KeySnapshot(context.Background(), control.HashSecret(secret))
		if err != nil {
			t.Fatal(err)
		}
		switch snap.PluginHash {
		case alpha.Hash:
			return "alpha"
		case beta.Hash:
			return "beta"
		case "":
			return "none"
		}
		return snap.PluginHash
	}

	b.get("/plugins").want(t, http.StatusOK, `<form id="plugin-changes" method="post"`, `<label for="plugin-key">`,
		`<select id="plugin-key" name="key"`, `<option value="">every key (account default)</option>`,
		`<option value="`+ci.ID+`">key “ci” only</option>`, `formaction="/plugins/`+alpha.ID+`/activate"`,
		`formaction="/plugins/deactivate"`)

	b.post("/plugins/"+alpha.ID+"/activate", "key", "").redirect(t, "/plugins?ok=activated")
	b.post("/plugins/"+beta.ID+"/activate", "key", ci.ID).redirect(t, "/plugins?key="+ci.ID+"&ok=key-activated")
	p := b.get("/plugins?key="+ci.ID+"&ok=key-activated").want(t, http.StatusOK, "The plugin is active for the key you chose.",
		`<option value="`+ci.ID+`" selected>`)
	if row := rowOf(t, p.body, "data-plugin-id", alpha.ID); !strings.Contains(row, "account default") || strings.Contains(row, "for-keys") {
		t.Errorf("alpha's row: %s", row)
	}
	if row := rowOf(t, p.body, "data-plugin-id", beta.ID); !strings.Contains(row, `<span class="for-keys">key ci</span>`) || strings.Contains(row, "account default") {
		t.Errorf("beta's row: %s", row)
	}
	if row := rowOf(t, p.body, "data-key-id", ci.ID); !strings.Contains(row, "<strong>beta version 1</strong>") || !strings.Contains(row, "its own") {
		t.Errorf("ci's row: %s", row)
	}
	if row := rowOf(t, p.body, "data-key-id", prod.ID); !strings.Contains(row, "alpha version 1") || !strings.Contains(row, "(account default)") {
		t.Errorf("prod's row: %s", row)
	}
	if got := runs(ciSecret) + " " + runs(prodSecret); got != "beta alpha" {
		t.Fatalf("the edge runs %s for ci and prod, want beta alpha", got)
	}

	// ci's history: beta, then alpha; rollback returns it to beta.
	b.post("/plugins/rollback", "key", ci.ID).want(t, http.StatusConflict, "The key chosen has no earlier change of its own",
		`<option value="`+ci.ID+`" selected>`)
	b.post("/plugins/"+alpha.ID+"/activate", "key", ci.ID).redirect(t, "/plugins?key="+ci.ID+"&ok=key-activated")
	if got := runs(ciSecret); got != "alpha" {
		t.Fatalf("ci runs %s after alpha was activated for it", got)
	}
	b.post("/plugins/rollback", "key", ci.ID).redirect(t, "/plugins?key="+ci.ID+"&ok=key-rolled-back")
	b.get("/plugins?key="+ci.ID+"&ok=key-rolled-back").want(t, http.StatusOK, "The key you chose is back to what it ran before.")
	if got := runs(ciSecret) + " " + runs(prodSecret); got != "beta alpha" {
		t.Errorf("after ci's rollback the edge runs %s for ci and prod, want beta alpha", got)
	}

	b.post("/plugins/deactivate", "key", ci.ID).redirect(t, "/plugins?key="+ci.ID+"&ok=key-deactivated")
	p = b.get("/plugins?key="+ci.ID+"&ok=key-deactivated").want(t, http.StatusOK, "follows the account")
	if row := rowOf(t, p.body, "data-key-id", ci.ID); !strings.Contains(row, "alpha version 1") || !strings.Contains(row, "(account default)") {
		t.Errorf("ci's row after its plugin was turned off: %s", row)
	}
	if row := rowOf(t, p.body, "data-plugin-id", beta.ID); !strings.Contains(row, "<td class=\"runs-for\" data-label=\"Runs for\">no</td>") {
		t.Errorf("beta's row after ci's plugin was turned off: %s", row)
	}
	got, _ := s.svc.Plugins(context.Background(), a.ID)
	for _, p := range got {
		if p.Active != (p.ID == alpha.ID) || len(p.ActiveKeys) != 0 {
			t.Errorf("after turning ci's plugin off, %s runs for the account: %v, for keys %v", p.Name, p.Active, p.ActiveKeys)
		}
	}
	if got := runs(ciSecret) + " " + runs(prodSecret); got != "alpha alpha" {
		t.Errorf("after turning ci's plugin off the edge runs %s, want the default, alpha, for both", got)
	}

	// A key's own version outlives the default.
	b.post("/plugins/"+beta.ID+"/activate", "key", prod.ID).redirect(t, "/plugins?key="+prod.ID+"&ok=key-activated")
	b.post("/plugins/deactivate").redirect(t, "/plugins?ok=deactivated")
	if got := runs(ciSecret) + " " + runs(prodSecret); got != "none beta" {
		t.Errorf("with the default off the edge runs %s, want none for ci and beta for prod", got)
	}

	t.Run("a key that is not the account's", func(t *testing.T) {
		bob, bobAcct := s.signup(t, "bob@example.com")
		bobKey, _ := createKey(t, s, bob, bobAcct, "bobs")
		if p := b.get("/plugins?key="+bobKey.ID).want(t, http.StatusOK); strings.Contains(p.body, bobKey.ID) {
			t.Error("the plugins page shows another account's key id from its query")
		}
		for _, key := range []string{bobKey.ID, "key_nope"} {
			b.post("/plugins/"+alpha.ID+"/activate", "key", key).want(t, http.StatusBadRequest,
				`id="page-error">The key chosen is not one of this account`)
			b.post("/plugins/rollback", "key", key).want(t, http.StatusBadRequest, "not one of this account")
			b.post("/plugins/deactivate", "key", key).want(t, http.StatusBadRequest, "not one of this account")
		}
		if got := runs(ciSecret) + " " + runs(prodSecret); got != "none beta" {
			t.Errorf("refused changes changed what runs: %s", got)
		}
	})

	log, _ := s.svc.AuditLog(context.Background(), a.ID, "", 100)
	var targets []string
	for _, e := range log.Data {
		if e.Action == control.ActionPluginActivate && e.Result == control.AuditOK {
			targets = append(targets, e.Target)
		}
	}
	if !slices.Contains(targets, beta.ID+" key="+ci.ID) || !slices.Contains(targets, alpha.ID) {
		t.Errorf("audited activations %q, want the key named as the API names it", targets)
	}
}
