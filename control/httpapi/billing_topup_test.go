package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/stripetest"
)

// saveCard has the account pay 20 dollars by Checkout, which saves card
// pm_card_visa with the account's Stripe customer.
func (s *billingServer) saveCard(t testing.TB, c *client, a *control.Account, pi string) {
	t.Helper()
	c.must(http.StatusCreated, "POST", "/api/v1/billing/checkout", map[string]any{"amount_micros": 20_000_000})
	st, err := s.svc.BillingState(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustDeliver(t, stripetest.Deliver(t, stripetest.EventID(), "payment_intent.succeeded",
		stripetest.PaymentIntent(pi, a.ID, st.CustomerID, "checkout", "succeeded", 2_000, "pm_card_visa")))
}

func (s *billingServer) payments(t testing.TB, accountID string) []control.Payment {
	t.Helper()
	page, err := s.svc.Payments(context.Background(), accountID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return page.Data
}

var autoTopUp = map[string]any{"enabled": true, "threshold_micros": 5_000_000, "amount_micros": 10_000_000}

func TestAutoTopUpSettings(t *testing.T) {
	s := newBillingServer(t, billingOptions{})
	c, a := signup(t, s.server, "settings@example.com")
	r := c.must(http.StatusConflict, "PUT", "/api/v1/billing/auto-topup", autoTopUp)
	if !strings.Contains(string(r.body), "top up once by card") {
		t.Errorf("body %s", r.body)
	}
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"amount below the minimum", map[string]any{"enabled": true, "threshold_micros": 1, "amount_micros": 1_000_000}},
		{"amount not whole cents", map[string]any{"enabled": true, "threshold_micros": 1, "amount_micros": 10_000_001}},
		{"negative threshold", map[string]any{"enabled": false, "threshold_micros": -1, "amount_micros": 0}},
	} {
		t.Run(tc.name, func(t *testing.T) { c.must(http.StatusBadRequest, "PUT", "/api/v1/billing/auto-topup", tc.body) })
	}
	s.saveCard(t, c, a, "pi_settings")
	var st control.BillingState
	c.must(http.StatusOK, "PUT", "/api/v1/billing/auto-topup", autoTopUp).decode(t, &st)
	if !st.AutoTopUp.Enabled || st.AutoTopUp.ThresholdMicros != 5_000_000 || !st.CardSaved || st.BalanceMicros != 20_000_000 {
		t.Errorf("state %+v", st)
	}
	c.must(http.StatusOK, "GET", "/api/v1/billing", nil).decode(t, &st)
	if !st.AutoTopUp.Enabled || st.AutoTopUp.AmountMicros != 10_000_000 {
		t.Errorf("state %+v", st)
	}
}

// TestAutoTopUpFailure: stripe-mock answers an off-session PaymentIntent
// with requires_payment_method, i.e. the saved card could not be charged.
// The failure is recorded and reported once, and auto top-up pauses
// instead of retrying until the customer saves the setting again.
func TestAutoTopUpFailure(t *testing.T) {
	s := newBillingServer(t, billingOptions{})
	c, a := signup(t, s.server, "declined@example.com")
	s.saveCard(t, c, a, "pi_declined_setup")
	c.must(http.StatusOK, "PUT", "/api/v1/billing/auto-topup", autoTopUp)
	k := createKey(t, c, map[string]any{"name": "k"}).Key

	s.spend(t, k, 16_000_000) // 4 dollars left, under the 5 threshold
	pays := s.payments(t, a.ID)
	if len(pays) != 2 || pays[0].Kind != control.PaymentKindAutoTopUp || pays[0].Status != control.PaymentFailedStatus ||
		pays[0].AmountCents != 1_000 || pays[0].FailureReason == "" || !strings.HasPrefix(pays[0].PaymentIntentID, "pi_") {
		t.Fatalf("payments %+v", pays)
	}
	if _, _, f := s.notices.counts(); f != 1 {
		t.Fatalf("%d failure notices, want 1", f)
	}
	if s.notices.failed[0].Email != "declined@example.com" || s.notices.failed[0].AmountCents != 1_000 {
		t.Errorf("notice %+v", s.notices.failed[0])
	}
	st, _ := s.svc.BillingState(context.Background(), a.ID)
	if st.AutoTopUpFailedAt == nil {
		t.Error("auto top-up not paused")
	}
	// No retry: not on the next debits, not after the window.
	s.spend(t, k, 100_000)
	s.clock.Advance(3 * time.Hour)
	s.spend(t, k, 100_000)
	if n := len(s.payments(t, a.ID)); n != 2 {
		t.Errorf("%d payments after a failure, want 2 (no retry)", n)
	}
	// Stripe's failure event for the same attempt notifies nobody again.
	s.mustDeliver(t, stripetest.Deliver(t, stripetest.EventID(), "payment_intent.payment_failed",
		stripetest.PaymentIntent(pays[0].PaymentIntentID, a.ID, st.CustomerID, "auto_topup", "requires_payment_method", 1_000, "")))
	if _, _, f := s.notices.counts(); f != 1 {
		t.Errorf("%d failure notices, want 1", f)
	}
	// Saving the setting again is the customer's go-ahead.
	c.must(http.StatusOK, "PUT", "/api/v1/billing/auto-topup", autoTopUp)
	s.spend(t, k, 100_000)
	if n := len(s.payments(t, a.ID)); n != 3 {
		t.Errorf("%d payments after re-enabling, want 3", n)
	}
}

// fakeStripe answers the three calls billing makes, with a fresh
// succeeded PaymentIntent per charge, and counts the charges.
type fakeStripe struct {
	*httptest.Server
	charges atomic.Int64
}

func newFakeStripe(t testing.TB) *fakeStripe {
	f := &fakeStripe{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/customers":
			fmt.Fprint(w, `{"id":"cus_fake","object":"customer"}`)
		case "/v1/checkout/sessions":
			fmt.Fprint(w, `{"id":"cs_fake","object":"checkout.session","url":"https://checkout.stripe.test/cs_fake"}`)
		case "/v1/payment_intents":
			r.ParseForm()
			if r.Form.Get("off_session") != "true" || r.Form.Get("confirm") != "true" ||
				r.Form.Get("payment_method") != "pm_card_visa" || r.Form.Get("metadata[kind]") != "auto_topup" {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":{"type":"invalid_request_error","message":"unexpected form"}}`)
				return
			}
			n := f.charges.Add(1)
			fmt.Fprintf(w, `{"id":"pi_auto_%d","object":"payment_intent","status":"succeeded","amount":%s,"currency":"usd"}`,
				n, r.Form.Get("amount"))
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"type":"invalid_request_error","message":"no route"}}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// TestAutoTopUpOncePerWindow: concurrent debits under the threshold make
// one charge; none follows within the window; the credit arrives by
// webhook like any payment.
func TestAutoTopUpOncePerWindow(t *testing.T) {
	stripe := newFakeStripe(t)
	s := newBillingServer(t, billingOptions{stripeURL: stripe.URL})
	c, a := signup(t, s.server, "auto@example.com")
	s.saveCard(t, c, a, "pi_auto_setup")
	c.must(http.StatusOK, "PUT", "/api/v1/billing/auto-topup", autoTopUp)
	k := createKey(t, c, map[string]any{"name": "k"}).Key

	s.spend(t, k, 15_500_000) // 4.5 dollars left
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.spend(t, k, 10_000)
		}()
	}
	wg.Wait()
	s.clock.Advance(30 * time.Minute)
	s.spend(t, k, 10_000)
	if n := stripe.charges.Load(); n != 1 {
		t.Fatalf("%d charges within the window, want 1", n)
	}
	pays := s.payments(t, a.ID)
	if pays[0].Kind != control.PaymentKindAutoTopUp || pays[0].Status != control.PaymentPending || pays[0].PaymentIntentID != "pi_auto_1" {
		t.Fatalf("payment %+v", pays[0])
	}
	before := s.balance(t, a.ID)
	s.mustDeliver(t, stripetest.Deliver(t, stripetest.EventID(), "payment_intent.succeeded",
		stripetest.PaymentIntent("pi_auto_1", a.ID, "cus_fake", "auto_topup", "succeeded", 1_000, "")))
	if got := s.balance(t, a.ID); got != before+10_000_000 {
		t.Errorf("balance %d, want %d", got, before+10_000_000)
	}
	s.notices.mu.Lock()
	last := s.notices.receipts[len(s.notices.receipts)-1]
	s.notices.mu.Unlock()
	if last.Kind != control.PaymentKindAutoTopUp || last.Key != "receipt:pi_auto_1" || last.CreditedMicros != 10_000_000 {
		t.Errorf("receipt %+v", last)
	}
	// Back under the threshold after the window: the next charge.
	s.clock.Advance(31 * time.Minute)
	s.spend(t, k, 11_000_000)
	if n := stripe.charges.Load(); n != 2 {
		t.Errorf("%d charges after the window, want 2", n)
	}
	controltest.Audit(t, s.path)
}

// TestLowBalanceOncePerCrossing: the warning goes once each time the
// balance falls below the threshold, not on every debit below it.
func TestLowBalanceOncePerCrossing(t *testing.T) {
	s := newBillingServer(t, billingOptions{noPayments: true})
	c, a := signup(t, s.server, "low@example.com")
	k := createKey(t, c, map[string]any{"name": "k"}).Key
	ctx := context.Background()
	if _, err := s.svc.GrantCredits(ctx, a.ID, 1_500_000, "test", ""); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		spend, grant int64
		want         int
	}{
		{spend: 400_000, want: 0},   // 1.1M
		{spend: 200_000, want: 1},   // 0.9M: crossed
		{spend: 100_000, want: 1},   // still below
		{spend: 100_000, want: 1},   // still below
		{grant: 2_000_000, want: 1}, // 2.7M
		{spend: 100_000, want: 1},   // 2.6M: back above, flag cleared
		{spend: 2_000_000, want: 2}, // 0.6M: crossed again
		{spend: 700_000, want: 2},   // negative, still one crossing
	}
	for i, st := range steps {
		if st.grant != 0 {
			if _, err := s.svc.GrantCredits(ctx, a.ID, st.grant, "test", ""); err != nil {
				t.Fatal(err)
			}
		}
		if st.spend != 0 {
			s.spend(t, k, st.spend)
		}
		if _, low, _ := s.notices.counts(); low != st.want {
			t.Fatalf("step %d: %d notices, want %d", i, low, st.want)
		}
	}
	if n := s.notices.low[1]; n.Email != "low@example.com" || n.ThresholdMicros != 1_000_000 || n.Key == s.notices.low[0].Key {
		t.Errorf("notices %+v", s.notices.low)
	}
}

// TestTransactionsRunningBalance pages through many random movements and
// checks every entry's running balance against the sum of the entries up
// to it.
func TestTransactionsRunningBalance(t *testing.T) {
	s := newBillingServer(t, billingOptions{})
	c, a := signup(t, s.server, "history@example.com")
	k := createKey(t, c, map[string]any{"name": "k"}).Key
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(6, 7))
	type paid struct {
		pi            string
		cents, refund int64
	}
	var pays []paid
	for i := range 300 {
		switch op := rng.IntN(10); {
		case op < 4:
			s.spend(t, k, rng.Int64N(3_000_000)+1)
		case op < 6:
			amount := rng.Int64N(4_000_000) - 1_000_000
			if amount == 0 {
				amount = 1
			}
			if _, err := s.svc.GrantCredits(ctx, a.ID, amount, "random", ""); err != nil {
				t.Fatal(err)
			}
		case op < 8:
			p := paid{pi: fmt.Sprintf("pi_hist_%d", i), cents: rng.Int64N(10_000) + 500}
			s.pay(t, a.ID, p.pi, p.cents, "")
			pays = append(pays, p)
		case len(pays) > 0:
			p := &pays[rng.IntN(len(pays))]
			p.refund = min(p.cents, p.refund+rng.Int64N(p.cents)+1)
			s.mustDeliver(t, stripetest.Deliver(t, stripetest.EventID(), "charge.refunded",
				stripetest.ChargeRefunded(p.pi, "cus_x", p.cents, p.refund)))
		}
	}

	var all []control.Transaction
	var balance int64
	cursor := ""
	for pages := 0; ; pages++ {
		var page control.TransactionPage
		path := "/api/v1/billing/transactions?limit=7"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		c.must(http.StatusOK, "GET", path, nil).decode(t, &page)
		if pages == 0 {
			balance = page.BalanceMicros
		}
		all = append(all, page.Data...)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	ledger, err := s.svc.Ledger(ctx, a.ID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(ledger) || len(all) < 200 {
		t.Fatalf("%d transactions paged, %d ledger entries", len(all), len(ledger))
	}
	slices.Reverse(all)
	var sum int64
	for i, tx := range all {
		sum += tx.AmountMicros
		if tx.BalanceAfterMicros != sum {
			t.Fatalf("entry %d (%s %d): running balance %d, sum of entries %d", i, tx.Kind, tx.AmountMicros,
				tx.BalanceAfterMicros, sum)
		}
		if i > 0 && tx.ID <= all[i-1].ID {
			t.Fatalf("entry %d out of order", i)
		}
		if (tx.Kind == control.LedgerTopUp || tx.Kind == control.LedgerRefund) && strings.HasPrefix(tx.Ref, "pi_") &&
			(tx.Payment == nil || !strings.HasPrefix(tx.Ref, tx.Payment.PaymentIntentID)) {
			t.Fatalf("entry %d (%s) without its payment", i, tx.Ref)
		}
	}
	if sum != balance || balance != s.balance(t, a.ID) {
		t.Errorf("sum %d, page balance %d, account balance %d", sum, balance, s.balance(t, a.ID))
	}
	c.must(http.StatusBadRequest, "GET", "/api/v1/billing/transactions?cursor=abc", nil)
	c.must(http.StatusBadRequest, "GET", "/api/v1/billing/transactions?limit=5000", nil)

	var pp control.PaymentPage
	c.must(http.StatusOK, "GET", "/api/v1/billing/payments?limit=1000", nil).decode(t, &pp)
	if len(pp.Data) != len(pays) {
		t.Errorf("%d payments listed, %d made", len(pp.Data), len(pays))
	}
	raw, _ := json.Marshal(pp.Data[0])
	for _, field := range []string{"amount_cents", "currency", "status", "stripe_payment_intent_id", "created_at"} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("payment JSON lacks %s: %s", field, raw)
		}
	}
	controltest.Audit(t, s.path)
}
