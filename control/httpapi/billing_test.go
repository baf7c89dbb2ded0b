package httpapi_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/stripetest"
)

func TestBillingCheckout(t *testing.T) {
	s := newBillingServer(t, billingOptions{})
	c, a := signup(t, s.server, "payer@example.com")

	var cs struct {
		ID           string `json:"id"`
		URL          string `json:"url"`
		AmountMicros int64  `json:"amount_micros"`
	}
	c.must(http.StatusCreated, "POST", "/api/v1/billing/checkout", map[string]any{"amount_micros": 25_000_000}).decode(t, &cs)
	if !strings.HasPrefix(cs.ID, "cs_") || !strings.HasPrefix(cs.URL, "https://") || cs.AmountMicros != 25_000_000 {
		t.Fatalf("session %+v", cs)
	}
	st, err := s.svc.BillingState(context.Background(), a.ID)
	if err != nil || st.CustomerID == "" {
		t.Fatalf("customer not stored: %+v %v", st, err)
	}
	// The customer is created once and reused.
	c.must(http.StatusCreated, "POST", "/api/v1/billing/checkout", map[string]any{"amount_micros": 5_000_000})
	if st2, _ := s.svc.BillingState(context.Background(), a.ID); st2.CustomerID != st.CustomerID {
		t.Errorf("customer changed from %s to %s", st.CustomerID, st2.CustomerID)
	}

	for _, tc := range []struct {
		name string
		body string
		code string
	}{
		{"below the minimum", `{"amount_micros": 4990000}`, "invalid"},
		{"above the maximum", `{"amount_micros": 1000010000}`, "invalid"},
		{"not whole cents", `{"amount_micros": 5000001}`, "invalid"},
		{"not an integer", `{"amount_micros": 5000000.5}`, "invalid"},
		{"a string", `{"amount_micros": "5000000"}`, "invalid"},
		{"zero", `{"amount_micros": 0}`, "invalid"},
		{"negative", `{"amount_micros": -5000000}`, "invalid"},
		{"cents field", `{"amount_cents": 500}`, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.must(http.StatusBadRequest, "POST", "/api/v1/billing/checkout", tc.body)
			if r.errorCode() != tc.code {
				t.Errorf("code %q: %s", r.errorCode(), r.body)
			}
		})
	}
	s.client(t).must(http.StatusUnauthorized, "POST", "/api/v1/billing/checkout", map[string]any{"amount_micros": 5_000_000})
}

func TestBillingStripeUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	s := newBillingServer(t, billingOptions{stripeURL: dead})
	c, a := signup(t, s.server, "offline@example.com")
	r := c.must(http.StatusServiceUnavailable, "POST", "/api/v1/billing/checkout", map[string]any{"amount_micros": 10_000_000})
	if r.errorCode() != control.EUNAVAILABLE || !strings.Contains(string(r.body), "payment processor cannot be reached") {
		t.Errorf("body %s", r.body)
	}
	if st, _ := s.svc.BillingState(context.Background(), a.ID); st.CustomerID != "" {
		t.Errorf("customer %q stored although Stripe never answered", st.CustomerID)
	}
	if strings.Contains(string(r.body), "127.0.0.1") {
		t.Errorf("internal detail leaked: %s", r.body)
	}

	// Stripe up but failing on its side is the same to the customer.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"error":{"type":"api_error","message":"boom"}}`)
	}))
	t.Cleanup(down.Close)
	s2 := newBillingServer(t, billingOptions{stripeURL: down.URL})
	c2, _ := signup(t, s2.server, "offline2@example.com")
	c2.must(http.StatusServiceUnavailable, "POST", "/api/v1/billing/checkout", map[string]any{"amount_micros": 10_000_000})

	s3 := newBillingServer(t, billingOptions{noPayments: true})
	c3, _ := signup(t, s3.server, "nopay@example.com")
	c3.must(http.StatusServiceUnavailable, "POST", "/api/v1/billing/checkout", map[string]any{"amount_micros": 10_000_000})
}

func TestWebhookCreditsOncePerPayment(t *testing.T) {
	s := newBillingServer(t, billingOptions{})
	tests := []struct {
		name  string
		order []string // "session", "intent", or a repeat of one
	}{
		{"session then intent", []string{"session", "intent"}},
		{"intent then session", []string{"intent", "session"}},
		{"each replayed", []string{"session", "session", "intent", "intent", "session"}},
		{"intent alone", []string{"intent"}},
		{"session alone", []string{"session"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, a := signup(t, s.server, fmt.Sprintf("once%d@example.com", i))
			pi := fmt.Sprintf("pi_once_%d", i)
			events := map[string]stripetest.Delivery{
				"session": stripetest.Deliver(t, stripetest.EventID(), "checkout.session.completed",
					stripetest.CheckoutCompleted("cs_once", pi, a.ID, "cus_x", 2_500)),
				"intent": stripetest.Deliver(t, stripetest.EventID(), "payment_intent.succeeded",
					stripetest.PaymentIntent(pi, a.ID, "cus_x", "checkout", "succeeded", 2_500, "pm_card_visa")),
			}
			before, _, _ := s.notices.counts()
			for _, e := range tc.order {
				s.mustDeliver(t, events[e])
			}
			if b := s.balance(t, a.ID); b != 25_000_000 {
				t.Errorf("balance %d, want 25000000", b)
			}
			if after, _, _ := s.notices.counts(); after-before != 1 {
				t.Errorf("%d receipts, want 1", after-before)
			}
			page, err := s.svc.Payments(context.Background(), a.ID, "", 10)
			if err != nil || len(page.Data) != 1 {
				t.Fatalf("payments %+v %v", page, err)
			}
			if p := page.Data[0]; p.Status != control.PaymentSucceeded || p.AmountCents != 2_500 ||
				p.CreditedMicros != 25_000_000 || p.PaymentIntentID != pi {
				t.Errorf("payment %+v", p)
			}
		})
	}
	controltest.Audit(t, s.path)
}

func TestWebhookRejectsBadSignatures(t *testing.T) {
	s := newBillingServer(t, billingOptions{tolerance: time.Minute})
	_, a := signup(t, s.server, "forged@example.com")
	payload := stripetest.Event(t, stripetest.EventID(), "payment_intent.succeeded",
		stripetest.PaymentIntent("pi_forged", a.ID, "cus_x", "checkout", "succeeded", 100_000, ""))
	tampered := []byte(strings.Replace(string(payload), "100000", "900000", 1))
	for _, tc := range []struct {
		name string
		d    stripetest.Delivery
	}{
		{"no signature", stripetest.Delivery{Payload: payload}},
		{"another secret", stripetest.Delivery{Payload: payload, Signature: stripetest.Sign(payload, "whsec_other", time.Now())}},
		{"body changed after signing", stripetest.Delivery{Payload: tampered,
			Signature: stripetest.Sign(payload, stripetest.WebhookSecret, time.Now())}},
		{"older than the tolerance", stripetest.Delivery{Payload: payload,
			Signature: stripetest.Sign(payload, stripetest.WebhookSecret, time.Now().Add(-2*time.Minute))}},
		{"garbage header", stripetest.Delivery{Payload: payload, Signature: "t=abc,v1=zz"}},
		{"not JSON", stripetest.Delivery{Payload: []byte("hello"),
			Signature: stripetest.Sign([]byte("hello"), stripetest.WebhookSecret, time.Now())}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.deliver(t, tc.d)
			if r.status != http.StatusBadRequest || r.errorCode() != control.EINVALID {
				t.Errorf("status %d: %s", r.status, r.body)
			}
		})
	}
	if b := s.balance(t, a.ID); b != 0 {
		t.Errorf("balance %d after forged events", b)
	}
	// Within the tolerance the same event is good.
	d := stripetest.Delivery{Payload: payload, Signature: stripetest.Sign(payload, stripetest.WebhookSecret, time.Now().Add(-30*time.Second))}
	if out := s.mustDeliver(t, d); out != "applied" {
		t.Errorf("outcome %q", out)
	}
	if b := s.balance(t, a.ID); b != 1_000_000_000 {
		t.Errorf("balance %d, want 1000000000", b)
	}
}

func TestWebhookRefunds(t *testing.T) {
	s := newBillingServer(t, billingOptions{})
	_, a := signup(t, s.server, "refund@example.com")
	s.pay(t, a.ID, "pi_refund", 2_000, "")
	refund := func(total int64) stripetest.Delivery {
		return stripetest.Deliver(t, stripetest.EventID(), "charge.refunded",
			stripetest.ChargeRefunded("pi_refund", "cus_x", 2_000, total))
	}
	first := refund(500)
	steps := []struct {
		name    string
		d       stripetest.Delivery
		balance int64
		status  string
	}{
		{"partial", first, 15_000_000, control.PaymentPartiallyRefunded},
		{"replayed", first, 15_000_000, control.PaymentPartiallyRefunded},
		{"more, cumulative", refund(1_200), 8_000_000, control.PaymentPartiallyRefunded},
		{"an older total, late", refund(500), 8_000_000, control.PaymentPartiallyRefunded},
		{"the rest", refund(2_000), 0, control.PaymentRefundedStatus},
	}
	for _, st := range steps {
		s.mustDeliver(t, st.d)
		if b := s.balance(t, a.ID); b != st.balance {
			t.Errorf("%s: balance %d, want %d", st.name, b, st.balance)
		}
		page, _ := s.svc.Payments(context.Background(), a.ID, "", 10)
		if page.Data[0].Status != st.status {
			t.Errorf("%s: status %s, want %s", st.name, page.Data[0].Status, st.status)
		}
	}

	// Out of order: the refund arrives before the payment it refunds.
	_, b := signup(t, s.server, "early-refund@example.com")
	s.mustDeliver(t, stripetest.Deliver(t, stripetest.EventID(), "charge.refunded",
		stripetest.ChargeRefunded("pi_early", "cus_y", 1_000, 300)))
	if bal := s.balance(t, b.ID); bal != 0 {
		t.Errorf("refund of an unmatched charge moved %d", bal)
	}
	s.pay(t, b.ID, "pi_early", 1_000, "")
	// The charge named no account and an unknown customer, so the refund
	// was recorded and moved nothing; the payment's events name the
	// account, and the refund is debited then.
	if bal := s.balance(t, b.ID); bal != 7_000_000 {
		t.Errorf("balance %d, want 7000000 (10 paid, 3 refunded)", bal)
	}
	page, _ := s.svc.Payments(context.Background(), b.ID, "", 10)
	if len(page.Data) != 1 || page.Data[0].RefundedCents != 300 || page.Data[0].Status != control.PaymentPartiallyRefunded ||
		page.Data[0].RefundedMicros != 3_000_000 {
		t.Errorf("payments %+v", page.Data)
	}
	controltest.Audit(t, s.path)
}

func TestWebhookRefundBeforePaymentOfKnownCustomer(t *testing.T) {
	s := newBillingServer(t, billingOptions{})
	c, a := signup(t, s.server, "known@example.com")
	c.must(http.StatusCreated, "POST", "/api/v1/billing/checkout", map[string]any{"amount_micros": 10_000_000})
	st, _ := s.svc.BillingState(context.Background(), a.ID)
	s.mustDeliver(t, stripetest.Deliver(t, stripetest.EventID(), "charge.refunded",
		stripetest.ChargeRefunded("pi_known", st.CustomerID, 1_000, 400)))
	s.mustDeliver(t, stripetest.Deliver(t, stripetest.EventID(), "payment_intent.succeeded",
		stripetest.PaymentIntent("pi_known", a.ID, st.CustomerID, "checkout", "succeeded", 1_000, "")))
	if b := s.balance(t, a.ID); b != 6_000_000 {
		t.Errorf("balance %d, want 6000000 (10 paid, 4 refunded)", b)
	}
	controltest.Audit(t, s.path)
}

func TestWebhookPaymentFailedThenSucceeded(t *testing.T) {
	s := newBillingServer(t, billingOptions{})
	_, a := signup(t, s.server, "retry@example.com")
	failed := stripetest.Deliver(t, stripetest.EventID(), "payment_intent.payment_failed",
		stripetest.PaymentIntent("pi_retry", a.ID, "cus_x", "checkout", "requires_payment_method", 700, ""))
	s.mustDeliver(t, failed)
	page, _ := s.svc.Payments(context.Background(), a.ID, "", 10)
	if len(page.Data) != 1 || page.Data[0].Status != control.PaymentFailedStatus || page.Data[0].FailureReason != "Your card was declined." {
		t.Fatalf("payments %+v", page.Data)
	}
	s.mustDeliver(t, stripetest.Deliver(t, stripetest.EventID(), "payment_intent.succeeded",
		stripetest.PaymentIntent("pi_retry", a.ID, "cus_x", "checkout", "succeeded", 700, "")))
	// A failure delivered late does not undo the success.
	s.mustDeliver(t, stripetest.Deliver(t, stripetest.EventID(), "payment_intent.payment_failed",
		stripetest.PaymentIntent("pi_retry", a.ID, "cus_x", "checkout", "requires_payment_method", 700, "")))
	page, _ = s.svc.Payments(context.Background(), a.ID, "", 10)
	if page.Data[0].Status != control.PaymentSucceeded || s.balance(t, a.ID) != 7_000_000 {
		t.Errorf("payment %+v balance %d", page.Data[0], s.balance(t, a.ID))
	}
	if _, _, f := s.notices.counts(); f != 0 {
		t.Errorf("%d auto top-up failure notices for a checkout payment", f)
	}
}

func TestWebhookUnknownAccount(t *testing.T) {
	s := newBillingServer(t, billingOptions{})
	d := stripetest.Deliver(t, stripetest.EventID(), "payment_intent.succeeded",
		stripetest.PaymentIntent("pi_orphan", "acct_doesnotexist", "cus_nobody", "checkout", "succeeded", 5_000, ""))
	if out := s.mustDeliver(t, d); out != "unknown_account" {
		t.Errorf("outcome %q", out)
	}
	if out := s.mustDeliver(t, d); out != "duplicate" {
		t.Errorf("replay outcome %q", out)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "unknown account") ||
		!strings.Contains(logs, "pi_orphan") {
		t.Errorf("no alarm in the log:\n%s", logs)
	}
	if r, _, _ := s.notices.counts(); r != 0 {
		t.Errorf("%d receipts for nobody", r)
	}
	// Recorded, not dropped.
	books := controltest.Audit(t, s.path)
	for id, b := range books.Balances {
		if b != 0 {
			t.Errorf("account %s credited %d", id, b)
		}
	}
	db := openRaw(t, s.path)
	var outcome string
	var amount int64
	if err := db.QueryRow(`SELECT e.outcome, p.amount_cents FROM stripe_events e
		JOIN payments p ON p.stripe_payment_intent_id = e.payment_intent_id WHERE e.id = ?`,
		eventID(t, d)).Scan(&outcome, &amount); err != nil || outcome != "unknown_account" || amount != 5_000 {
		t.Errorf("recorded %q %d %v", outcome, amount, err)
	}
}

// TestWebhookConcurrentDeliveries: the two events of each payment, each
// delivered several times at once (as Stripe retries and replicas race),
// credit each payment exactly once.
func TestWebhookConcurrentDeliveries(t *testing.T) {
	s := newBillingServer(t, billingOptions{})
	const accounts, payments, copies = 4, 10, 3
	ids := make([]string, accounts)
	var deliveries []stripetest.Delivery
	for i := range ids {
		_, a := signup(t, s.server, fmt.Sprintf("hammer%d@example.com", i))
		ids[i] = a.ID
		for p := range payments {
			pi := fmt.Sprintf("pi_h_%d_%d", i, p)
			ev := []stripetest.Delivery{
				stripetest.Deliver(t, stripetest.EventID(), "checkout.session.completed",
					stripetest.CheckoutCompleted("cs_"+pi, pi, a.ID, "cus_x", 500+int64(p))),
				stripetest.Deliver(t, stripetest.EventID(), "payment_intent.succeeded",
					stripetest.PaymentIntent(pi, a.ID, "cus_x", "checkout", "succeeded", 500+int64(p), "")),
			}
			for range copies {
				deliveries = append(deliveries, ev...)
			}
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, d := range deliveries {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if r := s.deliver(t, d); r.status != http.StatusOK {
				t.Errorf("status %d: %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d deliveries in %v (%.0f/s)", len(deliveries), time.Since(start), float64(len(deliveries))/time.Since(start).Seconds())
	var want int64
	for p := range payments {
		want += (500 + int64(p)) * control.MicrosPerCent
	}
	for _, id := range ids {
		if b := s.balance(t, id); b != want {
			t.Errorf("account %s: balance %d, want %d", id, b, want)
		}
	}
	if r, _, _ := s.notices.counts(); r != accounts*payments {
		t.Errorf("%d receipts, want %d", r, accounts*payments)
	}
	controltest.Audit(t, s.path)
}
