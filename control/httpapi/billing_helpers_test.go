package httpapi_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/billing"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/stripetest"
	"github.com/switchyard-ai/switchyard/internal/syncbuf"
)

// notices records what a BillingNotifier was told.
type notices struct {
	mu       sync.Mutex
	receipts []control.TopUpReceipt
	low      []control.LowBalanceNotice
	failed   []control.AutoTopUpFailure
}

var _ control.BillingNotifier = (*notices)(nil)

func (n *notices) TopUpReceipt(_ context.Context, r control.TopUpReceipt) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.receipts = append(n.receipts, r)
	return nil
}

func (n *notices) LowBalance(_ context.Context, w control.LowBalanceNotice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.low = append(n.low, w)
	return nil
}

func (n *notices) AutoTopUpFailed(_ context.Context, f control.AutoTopUpFailure) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.failed = append(n.failed, f)
	return nil
}

func (n *notices) counts() (receipts, low, failed int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.receipts), len(n.low), len(n.failed)
}

type billingOptions struct {
	// stripeURL is the Stripe API the processor calls; default a fresh
	// stripe-mock.
	stripeURL string
	// noPayments leaves Config.Payments nil.
	noPayments bool
	tolerance  time.Duration
}

// billingServer is a server whose service takes payments through Stripe
// (stripe-mock unless told otherwise) and records its notices.
type billingServer struct {
	*server
	notices *notices
}

func newBillingServer(t testing.TB, o billingOptions) *billingServer {
	t.Helper()
	path := controltest.DBPath(t)
	clock := controltest.NewClock(controltest.Epoch)
	st := controltest.OpenStore(t, path)
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n := &notices{}
	cfg := control.Config{Clock: clock, Password: controltest.FastPasswords, Catalog: controltest.Catalog(),
		Notifier: n, Logger: logger}
	if !o.noPayments {
		if o.stripeURL == "" {
			o.stripeURL = stripetest.Start(t)
		}
		p, err := billing.New(billing.Config{SecretKey: stripetest.SecretKey, WebhookSecret: stripetest.WebhookSecret,
			APIURL: o.stripeURL, MaxNetworkRetries: -1, WebhookTolerance: o.tolerance,
			HTTPClient: &http.Client{Timeout: 5 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Payments = p
	}
	svc := control.NewService(st, cfg)
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(svc, httpapi.Config{EdgeTokens: []string{edgeToken}, Logger: logger})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &billingServer{server: &server{Server: ts, path: path, store: st, clock: clock, svc: svc, logs: logs},
		notices: n}
}

// deliver posts a signed webhook delivery and returns the response.
func (s *billingServer) deliver(t testing.TB, d stripetest.Delivery) *response {
	t.Helper()
	c := &client{t: t, base: s.URL, http: &http.Client{Timeout: 30 * time.Second}}
	return c.do("POST", "/api/v1/billing/webhook", string(d.Payload), "Stripe-Signature", d.Signature)
}

func (s *billingServer) mustDeliver(t testing.TB, d stripetest.Delivery) string {
	t.Helper()
	r := s.deliver(t, d)
	if r.status != http.StatusOK {
		t.Fatalf("webhook: status %d: %s", r.status, r.body)
	}
	var out struct {
		Outcome string `json:"outcome"`
	}
	r.decode(t, &out)
	return out.Outcome
}

func (s *billingServer) balance(t testing.TB, accountID string) int64 {
	t.Helper()
	a, err := s.svc.Account(context.Background(), accountID)
	if err != nil {
		t.Fatal(err)
	}
	return a.BalanceMicros
}

// pay delivers the two events of a paid Checkout payment of cents,
// saving card pm when it is set.
func (s *billingServer) pay(t testing.TB, accountID, pi string, cents int64, pm string) {
	t.Helper()
	s.mustDeliver(t, stripetest.Deliver(t, stripetest.EventID(), "checkout.session.completed",
		stripetest.CheckoutCompleted("cs_"+pi, pi, accountID, "cus_"+accountID, cents)))
	s.mustDeliver(t, stripetest.Deliver(t, stripetest.EventID(), "payment_intent.succeeded",
		stripetest.PaymentIntent(pi, accountID, "cus_"+accountID, "checkout", "succeeded", cents, pm)))
}

// spend ingests one usage record that costs micros (on the one-dollar
// model, input tokens are micro-dollars).
func (s *billingServer) spend(t testing.TB, k control.APIKey, micros int64) {
	t.Helper()
	rec := record(fmt.Sprintf("req-%d-%d", time.Now().UnixNano(), micros), k, s.clock.Now())
	rec.InputTokens, rec.OutputTokens = int(micros), 0
	res, err := s.svc.IngestUsage(context.Background(), "edge-test", []edgeapi.UsageRecord{rec})
	if err != nil || res.Accepted != 1 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
}

func openRaw(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("libsql", "file:"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func eventID(t testing.TB, d stripetest.Delivery) string {
	t.Helper()
	var e struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(d.Payload, &e); err != nil {
		t.Fatal(err)
	}
	return e.ID
}
