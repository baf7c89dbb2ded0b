package browsertest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/billing"
	"github.com/switchyard-ai/switchyard/control/dashboard"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/control/mail"
	"github.com/switchyard-ai/switchyard/internal/browsertest"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/internal/mailtest"
	"github.com/switchyard-ai/switchyard/internal/stripetest"
	"github.com/switchyard-ai/switchyard/internal/wasmtest"
)

// checkouts is the Stripe processor with the Checkout sessions it opened
// written down, so the test knows which session the page should send the
// customer to and which one the webhook completes.
type checkouts struct {
	control.PaymentProcessor

	mu       sync.Mutex
	sessions []control.CheckoutSession
}

func (c *checkouts) CreateCheckout(ctx context.Context, r control.CheckoutRequest) (*control.CheckoutSession, error) {
	cs, err := c.PaymentProcessor.CreateCheckout(ctx, r)
	if err == nil {
		c.mu.Lock()
		c.sessions = append(c.sessions, *cs)
		c.mu.Unlock()
	}
	return cs, err
}

func (c *checkouts) last(t *testing.T) control.CheckoutSession {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sessions) == 0 {
		t.Fatal("no Checkout session was opened")
	}
	return c.sessions[len(c.sessions)-1]
}

// stack is everything the console runs against: an edge over the
// provider emulator, backed by a control service that serves the console
// and takes payments through stripe-mock and sends email through mailpit.
type stack struct {
	env       *edgetest.Env
	smtp      *mailtest.Server
	checkouts *checkouts
}

// startingCredit is what a new account gets, so its first key works
// before any top-up.
const startingCredit = 5_000_000

func startStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{smtp: mailtest.Start(t), checkouts: &checkouts{}}
	stripeURL := stripetest.Start(t)
	s.env = edgetest.Start(t, edgetest.Options{Control: true, Plugins: true, ControlOptions: edgetest.ControlOptions{
		Service: func(c *edgetest.Control, st control.Store, cfg *control.Config) {
			p, err := billing.New(billing.Config{SecretKey: stripetest.SecretKey, WebhookSecret: stripetest.WebhookSecret,
				APIURL: stripeURL, MaxNetworkRetries: -1, HTTPClient: &http.Client{Timeout: 10 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			s.checkouts.PaymentProcessor = p
			m, err := mail.New(mail.Config{Host: s.smtp.Host, Port: s.smtp.Port, From: "Switchyard <billing@switchyard.test>"})
			if err != nil {
				t.Fatal(err)
			}
			cfg.Payments = s.checkouts
			cfg.StartingCreditMicros = startingCredit
			cfg.Billing.SuccessURL = c.URL + "/billing?checkout=success"
			cfg.Billing.CancelURL = c.URL + "/billing?checkout=cancel"
			cfg.Notifier = &control.BillingEmails{Outbox: st, Links: control.BillingLinks{TopUpURL: c.URL + "/billing"}}
			// The test sends the outbox when it expects an email.
			cfg.Mail = control.MailConfig{Mailer: m, Manual: true}
		},
		API: func(svc *control.Service, cfg *httpapi.Config) {
			h, err := dashboard.New(svc, dashboard.Config{PaymentsEnabled: true})
			if err != nil {
				t.Fatalf("dashboard: %v", err)
			}
			cfg.Dashboard = h
		},
	}})
	return s
}

// deliver posts a signed webhook delivery as Stripe does and returns the
// outcome the service reports.
func (s *stack) deliver(t *testing.T, d stripetest.Delivery) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.env.Control.URL+"/api/v1/billing/webhook", strings.NewReader(string(d.Payload)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", d.Signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("webhook: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Outcome string `json:"outcome"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: status %d, %v", resp.StatusCode, err)
	}
	return out.Outcome
}

// chat sends one chat completion through the edge with the official OpenAI
// SDK and returns the edge's request id, or the SDK's error.
func (s *stack) chat(ctx context.Context, secret string) (string, error) {
	client := openai.NewClient(option.WithBaseURL(s.env.BaseURL+"/v1/"), option.WithAPIKey(secret),
		option.WithMaxRetries(0))
	var resp *http.Response
	_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "openai/gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello to the console.")},
	}, option.WithResponseInto(&resp))
	if err != nil {
		return "", err
	}
	return resp.Header.Get("X-Request-Id"), nil
}

func keyHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// TestConsole walks a customer through the whole console in Chromium,
// against a real control service, edge, stripe-mock and mailpit, and saves
// a screenshot of every page at desktop and phone width under
// artifacts/screenshots.
func TestConsole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startStack(t)
	c := &customer{t: t, ctx: ctx, s: s, b: browsertest.Start(ctx, t), base: s.env.Control.URL}
	c.signUp()
	c.createKeys()
	c.editKey()
	c.seeUsage(c.chat())
	c.topUp()
	c.signOutAndIn()
	c.plugins()
	c.tryPlugins()
	c.pluginForOneKey()
	c.olderTransactions()
	c.keyboard()
	c.browse()
	c.export()
	c.deleteAccount()
}

// customer is TestConsole's user: a browser, and what the pages told it.
type customer struct {
	t    *testing.T
	ctx  context.Context
	s    *stack
	b    *browsertest.Browser
	base string

	accountID string
	secret    string // of the key the customer uses
	keyID     string // of that key
	keys      int    // created so far
	moduleDir string // where the modules the customer uploads are written
}

const (
	customerName     = "Grace Hopper"
	customerEmail    = "grace@example.com"
	customerPassword = "a long and memorable passphrase"
)

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func (c *customer) text(sel string) string {
	c.t.Helper()
	return strings.TrimSpace(browsertest.Run(c.b, "read "+sel, chromedp.Text(css(sel))))
}

func (c *customer) count(sel string) int {
	c.t.Helper()
	return browsertest.Run(c.b, "count "+sel, chromedp.Evaluate[int]("document.querySelectorAll("+jsString(sel)+").length"))
}

func (c *customer) location() string {
	c.t.Helper()
	return browsertest.Run(c.b, "read the location", chromedp.Location())
}

// waitPath waits for the tab to reach path (redirects included).
func (c *customer) waitPath(path string) {
	c.t.Helper()
	for deadline := time.Now().Add(browsertest.StepTimeout); ; time.Sleep(20 * time.Millisecond) {
		loc := c.location()
		if u, err := url.Parse(loc); err == nil && u.Path == path {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the browser is at %s, want %s", loc, path)
		}
	}
}

// chat sends a chat completion with the customer's key and returns its
// request id.
func (c *customer) chat() string {
	c.t.Helper()
	return c.chatWith(c.secret)
}

// chatWith sends a chat completion with the key secret, waits until its
// usage record arrives and returns its request id.
func (c *customer) chatWith(secret string) string {
	c.t.Helper()
	id, err := c.s.chat(c.ctx, secret)
	if err != nil {
		c.t.Fatalf("chat completion through the edge: %v", err)
	}
	c.s.env.UsageFor(c.t, id)
	return id
}

func (c *customer) value(sel string) string {
	c.t.Helper()
	return browsertest.Run(c.b, "read the value of "+sel, chromedp.Value(css(sel)))
}

func (c *customer) signUp() {
	t, b := c.t, c.b
	b.Visit(c.base+"/signup", "form#signup", "signup")
	b.Follow("fill in the sign-up form",
		chromedp.SendKeys(css(`form#signup [name="name"]`), customerName),
		chromedp.SendKeys(css(`form#signup [name="email"]`), customerEmail),
		chromedp.SendKeys(css(`form#signup [name="password"]`), customerPassword),
		chromedp.SendKeys(css(`form#signup [name="company"]`), "Compilers Inc."),
		chromedp.SendKeys(css(`form#signup [name="billing_address"]`), "1 Navy Yard, Arlington"),
		chromedp.Click(css("#signup-submit")),
	)
	c.waitPath("/keys")
	b.Arrived("table#keys", "keys-empty")
	for _, link := range []string{"keys", "usage", "billing", "plugins", "account", "audit"} {
		if !b.Exists("nav#main a#nav-" + link) {
			t.Errorf("nav#main has no a#nav-%s", link)
		}
	}
}

// newKey creates a key named name and returns its secret and snapshot.
func (c *customer) newKey(name, shot string) (string, *edgeapi.KeySnapshot) {
	c.t.Helper()
	c.b.Follow("create key "+name,
		chromedp.SendKeys(css(`form#new-key [name="name"]`), name),
		chromedp.Click(css("#create-key")),
	)
	c.b.Arrived("#new-key-secret", shot)
	c.keys++
	secret := c.text("#new-key-secret")
	if !strings.HasPrefix(secret, "sk-") {
		c.t.Fatalf("#new-key-secret shows %q, not a key", secret)
	}
	if n := c.count("table#keys tr[data-key-id]"); n != c.keys {
		c.t.Errorf("table#keys has %d keys, want %d", n, c.keys)
	}
	snap, err := c.s.env.Control.Service.KeySnapshot(c.ctx, keyHash(secret))
	if err != nil {
		c.t.Fatalf("the control service does not know the key the page showed: %v", err)
	}
	return secret, snap
}

// newKeyByKeyboard creates a key with the keyboard alone: Tab from the top
// of the page to the form's name field, type, Tab to the button, Enter. It
// fails when a field or button cannot be reached by Tab.
func (c *customer) newKeyByKeyboard(name, shot string) (string, *edgeapi.KeySnapshot) {
	c.t.Helper()
	b := c.b
	b.Do("start from the top", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)`))
	tabTo := func(sel string) {
		c.t.Helper()
		for range 80 {
			b.Do("press Tab", chromedp.KeyEvent(kb.Tab))
			if browsertest.Run(b, "where is the focus", chromedp.Evaluate[bool]("document.activeElement !== null && document.activeElement.matches("+jsString(sel)+")")) {
				return
			}
		}
		c.t.Fatalf("%s cannot be reached with the Tab key", sel)
	}
	tabTo(`form#new-key [name="name"]`)
	b.Do("type the name", chromedp.KeyEvent(name))
	tabTo("#create-key")
	b.Follow("press Enter on "+name, chromedp.KeyEvent(kb.Enter))
	b.Arrived("#new-key-secret", shot)
	c.keys++
	secret := c.text("#new-key-secret")
	if !strings.HasPrefix(secret, "sk-") {
		c.t.Fatalf("#new-key-secret shows %q after a key made by keyboard", secret)
	}
	snap, err := c.s.env.Control.Service.KeySnapshot(c.ctx, keyHash(secret))
	if err != nil {
		c.t.Fatalf("the control service does not know the key made by keyboard: %v", err)
	}
	return secret, snap
}

// createKeys creates the key the customer uses, copies its secret, and
// creates and revokes a spare.
func (c *customer) createKeys() {
	t, b := c.t, c.b
	secret, snap := c.newKey("console test", "keys-created")
	c.secret, c.keyID, c.accountID = secret, snap.KeyID, snap.AccountID
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(b.Ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: c.base}); err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
	b.Do("copy the secret", chromedp.Click(css("button#copy-secret")))
	if copied := browsertest.Run(b, "read the clipboard", chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); copied != secret {
		t.Errorf("button#copy-secret copied %q, want the secret", copied)
	}

	spare, spareSnap := c.newKeyByKeyboard("spare", "keys-spare")
	row := `table#keys tr[data-key-id="` + spareSnap.KeyID + `"]`
	b.Follow("revoke the spare key", chromedp.Click(css(row+" button.revoke-key")))
	b.Arrived("table#keys", "keys-revoked")
	if text := c.text(row); !strings.Contains(strings.ToLower(text), "revoked") {
		t.Errorf("the revoked key's row says %q", text)
	}
	if snap, err := c.s.env.Control.Service.KeySnapshot(c.ctx, keyHash(spare)); err != nil || snap.Status != edgeapi.KeyRevoked {
		t.Errorf("revoked from the console, the spare key's snapshot is %+v, %v", snap, err)
	}
}

// editKey changes the customer's key on its edit page: a cap that is not
// an amount is refused with the reason and what was typed kept; then the
// new limits show on the keys page and reach the key's snapshot.
func (c *customer) editKey() {
	t, b := c.t, c.b
	row := `table#keys tr[data-key-id="` + c.keyID + `"]`
	b.Follow("open the key's edit page", chromedp.Click(css(row+" a.edit-key")))
	b.Arrived("form#edit-key", "key-edit")
	if name := c.value("form#edit-key #key-name"); name != "console test" {
		t.Errorf("the edit form's name is %q, want the key's", name)
	}
	b.Follow("send a cap that is not an amount",
		chromedp.SendKeys(css("form#edit-key #key-rpm"), "600"),
		chromedp.SendKeys(css("form#edit-key #key-cap"), "a hundred"),
		chromedp.SendKeys(css("form#edit-key #key-models"), "openai/gpt-4o-mini"),
		chromedp.Click(css("#save-key")),
	)
	b.ArrivedStatus("#page-error", "key-edit-refused", http.StatusBadRequest)
	if reason := c.text("#page-error"); !strings.Contains(reason, "monthly spend cap must be an amount in dollars") {
		t.Errorf("#page-error says %q, want why the cap was refused", reason)
	}
	for sel, want := range map[string]string{"#key-rpm": "600", "#key-cap": "a hundred", "#key-models": "openai/gpt-4o-mini"} {
		if got := c.value("form#edit-key " + sel); got != want {
			t.Errorf("after the refusal %s holds %q, want what was typed, %q", sel, got, want)
		}
	}
	b.Follow("correct the cap",
		chromedp.Clear(css("form#edit-key #key-cap")),
		chromedp.SendKeys(css("form#edit-key #key-cap"), "100"),
		chromedp.Click(css("#save-key")),
	)
	c.waitPath("/keys")
	b.Arrived(row, "keys-edited")
	if got := c.text(row); !strings.Contains(got, "600 req/min, $100.00/month") || !strings.Contains(got, "openai/gpt-4o-mini") {
		t.Errorf("the edited key's row says %q", got)
	}
	snap, err := c.s.env.Control.Service.KeySnapshot(c.ctx, keyHash(c.secret))
	if err != nil || snap.Limits.RequestsPerMinute != 600 || snap.Limits.MonthlySpendCapMicros != 100_000_000 ||
		len(snap.AllowedModels) != 1 || snap.AllowedModels[0] != "openai/gpt-4o-mini" {
		t.Errorf("after the edit the key's snapshot is %+v, %v", snap, err)
	}
}

// seeUsage waits for request id in the usage page's table, which shows it
// once the edge's sink has shipped it.
func (c *customer) seeUsage(id string) {
	b := c.b
	b.Follow("open the usage page", chromedp.Click(css("nav#main a#nav-usage")))
	row := `table#recent-requests tr[data-request-id="` + id + `"]`
	for deadline := time.Now().Add(10 * time.Second); ; {
		b.Do("wait for the usage page", chromedp.WaitReady(css("table#recent-requests")))
		if b.Exists(row) {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("request %s never appeared in table#recent-requests", id)
		}
		time.Sleep(100 * time.Millisecond)
		b.Do("reload the usage page", chromedp.Reload())
	}
	b.Arrived("svg#usage-chart", "usage")

	// Narrowed to the key the request used, it is still there; the filter
	// is in the address, so the view is a link.
	b.Follow("show one key's usage",
		chromedp.SetValue(css("form#usage-filter select#filter-key"), c.keyID),
		chromedp.Click(css("form#usage-filter button#filter-submit")),
	)
	b.Arrived("a#filter-clear", "usage-one-key")
	if !b.Exists(row) || !strings.Contains(c.location(), "key="+c.keyID) {
		c.t.Errorf("filtered by its key, request %s is missing, or the address %s lacks the filter", id, c.location())
	}
	if got := c.text("#total-requests"); got != "1" {
		c.t.Errorf("one key's requests: %q, want 1", got)
	}
	b.Follow("show everything again", chromedp.Click(css("a#filter-clear")))
	b.Arrived("form#usage-filter", "usage-all")
}

// topUp pays $20 through Stripe Checkout, which this machine cannot reach
// (holdStripe keeps the trip here); Stripe's webhook reports the payment,
// and the balance, the history and a receipt show it.
func (c *customer) topUp() {
	t, b, s := c.t, c.b, c.s
	b.Follow("open the billing page", chromedp.Click(css("nav#main a#nav-billing")))
	b.Arrived("#balance", "billing-before")
	before := balance(t, c.text("#balance"))
	trip := holdStripe(t, b, c.base+"/billing/topup")
	b.Follow("ask for a $20 top-up",
		chromedp.SendKeys(css(`form#topup [name="amount"]`), "20"),
		chromedp.Click(css("#topup-submit")),
	)
	b.Arrived("a#checkout-url", "checkout")
	session := s.checkouts.last(t)
	href := browsertest.Run(b, "read a#checkout-url", chromedp.AttributeValue(css("a#checkout-url"), "href"))
	if href.Value != session.URL {
		t.Errorf("a#checkout-url goes to %q, want the session's %q", href.Value, session.URL)
	}
	if refresh := trip.refresh(t); refresh != session.URL {
		t.Errorf("the interstitial refreshes to %q, want the session's %q", refresh, session.URL)
	}
	b.Follow("continue to Stripe", chromedp.Click(css("a#checkout-url")))
	b.Do("wait for the stand-in", chromedp.WaitReady(css("#stripe-stand-in")))
	if loc := c.location(); loc != session.URL {
		t.Errorf("the link took the browser to %s, want %s", loc, session.URL)
	}
	trip.stop(t)

	st, err := s.env.Control.Service.BillingState(c.ctx, c.accountID)
	if err != nil {
		t.Fatal(err)
	}
	const cents = 2_000
	if out := s.deliver(t, stripetest.Deliver(t, stripetest.EventID(), "checkout.session.completed",
		stripetest.CheckoutCompleted(session.ID, "pi_console_topup", c.accountID, st.CustomerID, cents))); out != "applied" {
		t.Fatalf("checkout.session.completed: outcome %q", out)
	}
	b.Visit(c.base+"/billing", "#balance", "billing-after")
	if after := balance(t, c.text("#balance")); after-before != cents*10_000 {
		t.Errorf("#balance went from %d to %d micro-dollars, want a $20.00 credit", before, after)
	}
	if n := c.count("table#transactions tbody tr"); n < 2 {
		t.Errorf("table#transactions has %d rows, want the starting credit and the top-up at least", n)
	}
	if n, err := s.env.Control.Service.DeliverEmails(c.ctx); err != nil || n != 1 {
		t.Errorf("sent %d emails (%v), want the receipt", n, err)
	}
	if msgs := s.smtp.WaitMessages(t, 1, 5*time.Second); len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0].Address != customerEmail {
		t.Errorf("mailpit holds %+v, want one receipt to %s", msgs, customerEmail)
	}
}

func (c *customer) signOutAndIn() {
	b := c.b
	b.Follow("sign out", chromedp.Click(css("button#logout")))
	b.Arrived("form#login", "login")
	if b.Exists("nav#main") {
		c.t.Error("the sign-in page after signing out still shows the console's navigation")
	}
	b.Follow("sign in",
		chromedp.SendKeys(css(`form#login [name="email"]`), customerEmail),
		chromedp.SendKeys(css(`form#login [name="password"]`), customerPassword),
		chromedp.Click(css("#login-submit")),
	)
	b.Do("wait for the console", chromedp.WaitReady(css("nav#main")))
}

// uploadPlugin uploads a module with the upload form of the plugins page.
func (c *customer) uploadPlugin(what string, module []byte, name string) {
	c.t.Helper()
	path := filepath.Join(c.moduleDir, name+".wasm")
	if err := os.WriteFile(path, module, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.b.Follow(what,
		chromedp.SetUploadFiles(css(`form#upload-plugin input[type="file"][name="module"]`), []string{path}),
		chromedp.Clear(css(`form#upload-plugin [name="name"]`)),
		chromedp.SendKeys(css(`form#upload-plugin [name="name"]`), name),
		chromedp.Click(css("#upload-submit")),
	)
}

// pluginID reads the id of the newest version named name from the plugins
// table.
func (c *customer) pluginID(name string) string {
	c.t.Helper()
	id := browsertest.Run(c.b, "find plugin "+name, chromedp.Evaluate[string](`(([...document.querySelectorAll("table#plugins tr[data-plugin-id]")]
		.find(r => r.cells[0].textContent === `+jsString(name)+`) || {dataset: {}}).dataset.pluginId || "")`))
	if id == "" {
		c.t.Fatalf("table#plugins has no version of %s", name)
	}
	return id
}

// plugins uploads a module that is not WebAssembly, which is refused
// with its reason, then a good one, which is activated and runs at the
// edge.
func (c *customer) plugins() {
	t, b := c.t, c.b
	c.moduleDir = t.TempDir()
	b.Follow("open the plugins page", chromedp.Click(css("nav#main a#nav-plugins")))
	b.Arrived("form#upload-plugin", "plugins-empty")
	c.uploadPlugin("upload a broken plugin", []byte("this is not a WebAssembly module"), "broken")
	b.ArrivedStatus("#plugin-error", "plugins-refused", http.StatusBadRequest)
	if reason := c.text("#plugin-error"); reason == "" || strings.Contains(strings.ToLower(reason), "internal error") {
		t.Errorf("#plugin-error says %q, want the reason the module was refused", reason)
	} else {
		t.Logf("refusal shown: %s", reason)
	}
	c.uploadPlugin("upload a good plugin", wasmtest.Decision(`{"action":"route","tags":{"via":"console"}}`), "tagger")
	b.Arrived("table#plugins tr[data-plugin-id]", "plugins-uploaded")
	b.Follow("activate it", chromedp.Click(css("table#plugins tr[data-plugin-id] button.activate-plugin")))
	b.Arrived("table#plugins", "plugins-active")
	c.s.env.KeyClock.Advance(time.Hour) // past the edge's key cache, which holds the plugin choice
	if rec := c.s.env.UsageFor(t, c.chat()); rec.Tags["via"] != "console" {
		t.Errorf("the activated plugin did not run at the edge: tags %v", rec.Tags)
	}
}

// tryPlugins runs the active plugin once with the try form and reads its
// decision; the broken upload, refused, is not offered. A plugin that
// crashes on one header shows why, and what the edge would do then.
func (c *customer) tryPlugins() {
	t, b := c.t, c.b
	versions := browsertest.Run(b, "list the versions to try", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("form#try-plugin select#try-version option")].map(o => o.textContent)`))
	for _, v := range versions {
		if strings.Contains(v, "broken") {
			t.Errorf("the try form offers %q, which was refused at upload", v)
		}
	}
	tagger := c.pluginID("tagger")
	b.Follow("try tagger",
		chromedp.SetValue(css("form#try-plugin select#try-version"), tagger),
		chromedp.Click(css("#try-submit")),
	)
	b.Arrived("#try-result", "plugins-tried")
	if summary := c.text("#try-result #try-summary"); !strings.HasPrefix(summary, "The plugin routes the request to ") {
		t.Errorf("#try-summary says %q, want where the plugin routes the request", summary)
	}
	if decision := c.text("#try-result pre.decision"); !strings.Contains(decision, `"via": "console"`) {
		t.Errorf("the decision shown is %q, want tagger's tags", decision)
	}
	if b.Exists("#try-result .error") {
		t.Errorf("a plugin that works shows an error: %s", c.text("#try-result .error"))
	}

	c.uploadPlugin("upload a plugin that crashes on x-sy-trap",
		wasmtest.Module{Decision: `{"action":"route"}`, Route: wasmtest.Trap, Containing: "x-sy-trap"}.Bytes(), "trapper")
	b.Arrived("table#plugins", "plugins-trapper")
	b.Follow("try trapper with the header it crashes on",
		chromedp.SetValue(css("form#try-plugin select#try-version"), c.pluginID("trapper")),
		chromedp.SendKeys(css("form#try-plugin textarea#try-headers"), "x-sy-trap: 1"),
		chromedp.Click(css("#try-submit")),
	)
	b.Arrived("#try-result", "plugins-tried-crash")
	if failure := c.text("#try-result .error"); !strings.Contains(failure, "crashed") || !strings.Contains(failure, "fail open") {
		t.Errorf("trying the crashing plugin says %q, want that it crashed and what the edge would do", failure)
	}
}

// pluginForOneKey activates a plugin for the customer's key alone: a
// second key keeps the account's plugin, and the edge runs each key's.
func (c *customer) pluginForOneKey() {
	t, b := c.t, c.b
	b.Follow("open the keys page", chromedp.Click(css("nav#main a#nav-keys")))
	b.Arrived("table#keys", "keys-before-batch")
	batch, batchSnap := c.newKey("batch", "keys-batch")
	b.Follow("open the plugins page", chromedp.Click(css("nav#main a#nav-plugins")))
	b.Arrived("form#plugin-changes", "plugins-two-keys")
	c.uploadPlugin("upload a plugin for one key", wasmtest.Decision(`{"action":"route","tags":{"via":"one key"}}`), "one-key")
	b.Arrived("table#plugins", "plugins-one-key-uploaded")
	oneKey, tagger := c.pluginID("one-key"), c.pluginID("tagger")
	b.Follow("activate one-key for the customer's key only",
		chromedp.SetValue(css("form#plugin-changes select#plugin-key"), c.keyID),
		chromedp.Click(css(`table#plugins tr[data-plugin-id="`+oneKey+`"] button.activate-plugin`)),
	)
	b.Arrived("table#key-plugins", "plugins-per-key")
	if got := c.text(`table#plugins tr[data-plugin-id="` + oneKey + `"] td.runs-for`); got != "key console test" {
		t.Errorf("one-key runs for %q, want key console test", got)
	}
	if got := c.text(`table#plugins tr[data-plugin-id="` + tagger + `"] td.runs-for`); got != "account default" {
		t.Errorf("tagger runs for %q, want the account default", got)
	}
	if got := c.text(`table#key-plugins tr[data-key-id="` + c.keyID + `"]`); !strings.Contains(got, "one-key version 1") || !strings.Contains(got, "its own") {
		t.Errorf("the customer's key's row says %q", got)
	}
	if got := c.text(`table#key-plugins tr[data-key-id="` + batchSnap.KeyID + `"]`); !strings.Contains(got, "tagger version 1 (account default)") {
		t.Errorf("the second key's row says %q, want the account default", got)
	}
	c.s.env.KeyClock.Advance(time.Hour) // past the edge's key cache
	if rec := c.s.env.UsageFor(t, c.chat()); rec.Tags["via"] != "one key" {
		t.Errorf("the customer's key ran tags %v, want its own plugin's", rec.Tags)
	}
	if rec := c.s.env.UsageFor(t, c.chatWith(batch)); rec.Tags["via"] != "console" {
		t.Errorf("the second key ran tags %v, want the account's plugin's", rec.Tags)
	}
}

// olderTransactions pages through a ledger longer than the billing page's
// 50 rows: the operator grants 60 credits, the newest 50 show first, and
// "Older transactions" shows the rest and no further link.
func (c *customer) olderTransactions() {
	t, b := c.t, c.b
	for i := range 60 {
		if _, err := c.s.env.Control.Service.GrantCredits(c.ctx, c.accountID, 10_000, fmt.Sprintf("goodwill %d", i+1), ""); err != nil {
			t.Fatal(err)
		}
	}
	b.Follow("open the billing page", chromedp.Click(css("nav#main a#nav-billing")))
	b.Arrived("a#tx-older", "billing-newest")
	ids := func() []string {
		return browsertest.Run(b, "read the entries", chromedp.Evaluate[[]string](
			`[...document.querySelectorAll("table#transactions tr[data-entry-id]")].map(r => r.dataset.entryId)`))
	}
	newest := ids()
	if len(newest) != 50 || b.Exists("a#tx-newest") {
		t.Errorf("the first page lists %d entries (want 50), and links to the newest: %v", len(newest), b.Exists("a#tx-newest"))
	}
	b.Follow("show older transactions", chromedp.Click(css("a#tx-older")))
	b.Arrived("a#tx-newest", "billing-older")
	older := ids()
	// 60 grants, the starting credit, the top-up and the chats' usage.
	if len(older) < 11 || len(older) > 50 || b.Exists("a#tx-older") {
		t.Errorf("the older page lists %d entries and links further: %v", len(older), b.Exists("a#tx-older"))
	}
	seen := map[string]bool{}
	for _, id := range append(newest, older...) {
		if seen[id] {
			t.Errorf("entry %s is listed on both pages", id)
		}
		seen[id] = true
	}
	b.Follow("back to the newest", chromedp.Click(css("a#tx-newest")))
	b.Do("wait for the newest page", chromedp.WaitReady(css("a#tx-older")))
}

// keyboard goes through every console page with the Tab key alone: each
// link, button and form control of the page's main part takes the focus
// in document order, and each form field is named by its label.
func (c *customer) keyboard() {
	for _, path := range []string{"/keys", "/keys/" + c.keyID + "/edit", "/usage", "/billing", "/plugins", "/account", "/audit"} {
		c.b.Do("open "+path, chromedp.Navigate(c.base+path), chromedp.WaitReady(css("main")))
		for _, p := range c.b.KeyboardProblems("main") {
			c.t.Errorf("%s, with the keyboard: %s", path, p)
		}
	}
}

// browse visits the pages not seen yet.
func (c *customer) browse() {
	b := c.b
	b.Follow("open the audit log", chromedp.Click(css("nav#main a#nav-audit")))
	b.Arrived("table#audit", "audit")
	if n := c.count("table#audit tbody tr"); n == 0 {
		c.t.Error("table#audit is empty after sign-up, keys, a top-up and plugins")
	}
	b.Follow("open the keys page", chromedp.Click(css("nav#main a#nav-keys")))
	b.Arrived("table#keys", "keys")
	b.Follow("open the account page", chromedp.Click(css("nav#main a#nav-account")))
	b.Arrived("form#profile", "account")
}

// export downloads the account's data with the browser's session.
func (c *customer) export() {
	t, b := c.t, c.b
	if href := browsertest.Run(b, "read a#export", chromedp.AttributeValue(css("a#export"), "href")); !strings.HasSuffix(href.Value, "/account/export.json") {
		t.Errorf("a#export goes to %q, want /account/export.json", href.Value)
	}
	type download struct {
		Status      int    `json:"status"`
		Type        string `json:"type"`
		Disposition string `json:"disposition"`
		Body        string `json:"body"`
	}
	dl := browsertest.Run(b, "download the export", chromedp.Evaluate[download](`fetch("/account/export.json", {credentials: "same-origin"}).then(async r => ({
		status: r.status, type: r.headers.get("Content-Type") || "", disposition: r.headers.get("Content-Disposition") || "", body: await r.text()}))`,
		chromedp.EvalAwaitPromise))
	if dl.Status != http.StatusOK || !strings.HasPrefix(dl.Type, "application/json") || !strings.HasPrefix(dl.Disposition, "attachment") {
		t.Errorf("export: status %d, Content-Type %q, Content-Disposition %q", dl.Status, dl.Type, dl.Disposition)
	}
	var export control.AccountExport
	if err := json.Unmarshal([]byte(dl.Body), &export); err != nil {
		t.Fatalf("export is not JSON: %v\n%.500s", err, dl.Body)
	}
	if export.Account.ID != c.accountID || export.Account.Email != customerEmail || export.Account.Name != customerName {
		t.Errorf("export's profile is %+v", export.Account)
	}
	if len(export.APIKeys) != c.keys || strings.Contains(dl.Body, c.secret) {
		t.Errorf("export has %d keys (want %d), secret included: %v", len(export.APIKeys), c.keys, strings.Contains(dl.Body, c.secret))
	}
}

// deleteAccount closes the account; its key stops working.
func (c *customer) deleteAccount() {
	t, b := c.t, c.b
	b.Follow("delete the account",
		chromedp.SendKeys(css(`form#delete-account [name="password"]`), customerPassword),
		chromedp.Click(css(`form#delete-account [name="confirm"]`)),
		chromedp.Click(css("#delete-submit")),
	)
	c.waitPath("/goodbye")
	b.Arrived("body", "goodbye")
	if snap, err := c.s.env.Control.Service.KeySnapshot(c.ctx, keyHash(c.secret)); err == nil && snap.Status == edgeapi.KeyActive {
		t.Errorf("the deleted account's key is still active: %+v", snap)
	}
	c.s.env.KeyClock.Advance(time.Hour) // past the edge's key cache
	_, err := c.s.chat(c.ctx, c.secret)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized {
		t.Errorf("the deleted account's key at the edge: %v, want 401", err)
	}
}

// stripeTrip keeps a customer's trip to Stripe Checkout on this machine.
// The interstitial's refresh would leave for Stripe at once and take the
// page away before the test reads it, and Stripe cannot be reached from
// here. So the browser is given the interstitial without its refresh
// (the page as sent is kept, to check the refresh), and a stand-in for
// Stripe's page (#stripe-stand-in) at Stripe's address.
type stripeTrip struct {
	stop func(t *testing.T)

	mu           sync.Mutex
	interstitial string
	err          error
}

var metaRefresh = regexp.MustCompile(`(?is)<meta[^>]*http-equiv=["']?refresh["']?[^>]*>`)

// holdStripe intercepts the response of interstitialURL and every https
// request until stop.
func holdStripe(t *testing.T, b *browsertest.Browser, interstitialURL string) *stripeTrip {
	t.Helper()
	trip := &stripeTrip{}
	ctx, cancel := context.WithCancel(b.Ctx)
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	b.Do("hold the trip to Stripe", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
			{URLPattern: interstitialURL, RequestStage: fetch.RequestStageResponse},
			{URLPattern: "https://*", RequestStage: fetch.RequestStageRequest},
		}})
		return err
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range paused {
			if err == nil {
				_, err = chromedp.Run(ctx, chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
					return chromedp.Void{}, trip.answer(ctx, tg, ev)
				}))
			}
			if err != nil && ctx.Err() == nil {
				trip.mu.Lock()
				trip.err = err
				trip.mu.Unlock()
			}
		}
	}()
	trip.stop = func(t *testing.T) {
		t.Helper()
		b.Do("stop holding requests", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, fetch.Disable, cdp.Empty{})
			return err
		}))
		cancel()
		<-done
		trip.mu.Lock()
		defer trip.mu.Unlock()
		if trip.err != nil {
			t.Errorf("holding the trip to Stripe: %v", trip.err)
		}
	}
	t.Cleanup(func() { cancel(); <-done })
	return trip
}

func (trip *stripeTrip) answer(ctx context.Context, tg *chromedp.Target, ev fetch.EventRequestPaused) error {
	if ev.ResponseStatusCode == 0 && ev.ResponseErrorReason == "" {
		_, err := cdp.Call(ctx, tg, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: http.StatusOK,
			ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}},
			Body:            []byte(`<!doctype html><title>Stripe Checkout</title><p id="stripe-stand-in">Stripe Checkout stand-in</p>`)})
		return err
	}
	body, err := cdp.Call(ctx, tg, fetch.GetResponseBody, fetch.GetResponseBodyParams{RequestID: ev.RequestID})
	if err != nil {
		return err
	}
	trip.mu.Lock()
	trip.interstitial = string(body.Body)
	trip.mu.Unlock()
	var headers []*fetch.HeaderEntry
	for _, h := range ev.ResponseHeaders {
		if !strings.EqualFold(h.Name, "Content-Length") {
			headers = append(headers, h)
		}
	}
	_, err = cdp.Call(ctx, tg, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID,
		ResponseCode: ev.ResponseStatusCode, ResponseHeaders: headers, Body: metaRefresh.ReplaceAll(body.Body, nil)})
	return err
}

// refresh returns where the interstitial, as the console sent it,
// refreshes to.
func (trip *stripeTrip) refresh(t *testing.T) string {
	t.Helper()
	trip.mu.Lock()
	page := trip.interstitial
	trip.mu.Unlock()
	tag := metaRefresh.FindString(page)
	m := regexp.MustCompile(`(?i)content=["']?\s*\d+\s*;\s*url=([^"'>]+)`).FindStringSubmatch(tag)
	if m == nil {
		t.Errorf("the interstitial has no meta refresh with a URL (tag %q)", tag)
		return ""
	}
	return html.UnescapeString(strings.TrimSpace(m[1]))
}

// balance reads #balance, which must be a dollar amount.
func balance(t *testing.T, shown string) int64 {
	t.Helper()
	v, err := browsertest.Dollars(shown)
	if err != nil {
		t.Fatalf("#balance: %v", err)
	}
	return v
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
