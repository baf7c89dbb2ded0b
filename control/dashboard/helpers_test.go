package dashboard_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/dashboard"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/control/pluginhost"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

const password = "correct horse battery"

var quiet = slog.New(slog.DiscardHandler)

// maxPageBytes is the budget for one page.
const maxPageBytes = 100 << 10

type server struct {
	*httptest.Server
	svc   *control.Service
	clock *controltest.Clock
}

// fakePayments opens checkout sessions at a fixed URL and charges nothing.
type fakePayments struct{}

func (fakePayments) CreateCustomer(_ context.Context, accountID, _ string) (string, error) {
	return "cus_" + accountID, nil
}

func (fakePayments) CreateCheckout(_ context.Context, c control.CheckoutRequest) (*control.CheckoutSession, error) {
	return &control.CheckoutSession{ID: "cs_test_1", URL: fmt.Sprintf("https://checkout.example/pay/cs_test_1?cents=%d", c.AmountCents)}, nil
}

func (fakePayments) ChargeSavedCard(context.Context, control.SavedCardCharge) (*control.ChargeResult, error) {
	return &control.ChargeResult{Failed: true, FailureReason: "not in tests"}, nil
}

func (fakePayments) DeleteCustomer(context.Context, string) error { return nil }

func (fakePayments) ParseWebhook([]byte, string) (*control.PaymentEvent, error) {
	return nil, control.Errorf(control.EINVALID, "no webhooks in tests")
}

// newServer serves the API with the console mounted, as `switchyard
// control` does; payments makes card top-ups available.
func newServer(tb testing.TB, payments bool) *server {
	tb.Helper()
	clock := controltest.NewClock(controltest.Epoch)
	st := controltest.OpenStore(tb, controltest.DBPath(tb))
	cfg := control.Config{Clock: clock, Password: controltest.FastPasswords, Catalog: controltest.Catalog(),
		Plugins: pluginhost.NewValidator(controltest.PluginHost(tb)), Logger: quiet}
	if payments {
		cfg.Payments = fakePayments{}
	}
	svc := control.NewService(st, cfg)
	if err := svc.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close() })
	console, err := dashboard.New(svc, dashboard.Config{Clock: clock, PaymentsEnabled: payments, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(httpapi.New(svc, httpapi.Config{Dashboard: console, Logger: quiet}))
	tb.Cleanup(ts.Close)
	return &server{Server: ts, svc: svc, clock: clock}
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see them.
type browser struct {
	t    testing.TB
	s    *server
	http *http.Client
	// csrf is the token of the last page that had one.
	csrf string
}

func (s *server) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, s: s, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status   int
	body     string
	location string
	header   http.Header
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, body: string(body), location: resp.Header.Get("Location"), header: resp.Header}
	if m := csrfField.FindStringSubmatch(p.body); m != nil {
		b.csrf = m[1]
	}
	return p
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.s.URL+path, nil)
	return b.do(req)
}

// post sends a URL-encoded form, with the current CSRF token unless the
// fields name their own csrf_token.
func (b *browser) post(path string, fields ...string) page {
	b.t.Helper()
	v := url.Values{}
	if b.csrf != "" {
		v.Set("csrf_token", b.csrf)
	}
	for i := 0; i < len(fields); i += 2 {
		v.Set(fields[i], fields[i+1])
	}
	req, _ := http.NewRequest("POST", b.s.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// upload posts the plugin form with module.
func (b *browser) upload(module []byte, fields ...string) page {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if b.csrf != "" {
		mw.WriteField("csrf_token", b.csrf)
	}
	for i := 0; i < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	fw, _ := mw.CreateFormFile("module", "plugin.wasm")
	fw.Write(module)
	mw.Close()
	req, _ := http.NewRequest("POST", b.s.URL+"/plugins", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

func (p page) want(t testing.TB, status int, contains ...string) page {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d: %s", p.status, status, clip(p.body))
	}
	for _, c := range contains {
		if !strings.Contains(p.body, c) {
			t.Fatalf("page lacks %q: %s", c, clip(p.body))
		}
	}
	return p
}

func (p page) redirect(t testing.TB, to string) {
	t.Helper()
	if p.status != http.StatusSeeOther || p.location != to {
		t.Fatalf("got %d to %q, want 303 to %q: %s", p.status, p.location, to, clip(p.body))
	}
}

func clip(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

// signup creates an account through the console's form.
func (s *server) signup(t testing.TB, email string) (*browser, *control.Account) {
	t.Helper()
	b := s.browser(t)
	b.get("/signup").want(t, http.StatusOK, `id="signup"`)
	b.post("/signup", "name", "Ada Lovelace", "email", email, "password", password, "company", "Analytical",
		"billing_address", "12 St James's Square, London").redirect(t, "/keys?ok=welcome")
	a, err := s.svc.AccountByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	b.get("/keys").want(t, http.StatusOK)
	return b, a
}

// ingest stores n usage records through key, spread over the last days.
func (s *server) ingest(tb testing.TB, k *control.APIKey, n, days int) {
	tb.Helper()
	now := s.clock.Now()
	step := time.Duration(days) * 24 * time.Hour / time.Duration(n)
	for start := 0; start < n; start += 5000 {
		var batch []edgeapi.UsageRecord
		for i := start; i < min(n, start+5000); i++ {
			at := now.Add(-time.Duration(i) * step)
			batch = append(batch, edgeapi.UsageRecord{RequestID: fmt.Sprintf("req_%s_%d", k.ID, i), KeyID: k.ID,
				AccountID: k.AccountID, StartedAt: at, Endpoint: "chat.completions", Model: controltest.OneDollarModel,
				ServedModel: controltest.OneDollarModel, Provider: "test", Status: 200, FinishReason: "stop",
				InputTokens: 100, OutputTokens: 20, LatencyMs: 640, TTFBMs: 95, Attempts: 1})
		}
		res, err := s.svc.IngestUsage(context.Background(), "test-edge", batch)
		if err != nil || len(res.Rejected) > 0 {
			tb.Fatalf("ingest: %v; first of %d rejections: %+v", err, len(res.Rejected), res.Rejected[:min(1, len(res.Rejected))])
		}
	}
}
