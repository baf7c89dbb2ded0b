package billing_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/billing"
	"github.com/switchyard-ai/switchyard/internal/stripetest"
)

func newStripe(t *testing.T, url string) *billing.Stripe {
	t.Helper()
	s, err := billing.New(billing.Config{SecretKey: stripetest.SecretKey, WebhookSecret: stripetest.WebhookSecret,
		APIURL: url, MaxNetworkRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStripeMockRequests sends each request billing makes to stripe-mock,
// which checks every parameter against Stripe's OpenAPI specification.
func TestStripeMockRequests(t *testing.T) {
	s := newStripe(t, stripetest.Start(t))
	ctx := context.Background()
	cus, err := s.CreateCustomer(ctx, "acct_1", "a@example.com")
	if err != nil || !strings.HasPrefix(cus, "cus_") {
		t.Fatalf("customer %q %v", cus, err)
	}
	cs, err := s.CreateCheckout(ctx, control.CheckoutRequest{AccountID: "acct_1", CustomerID: cus, AmountCents: 500,
		Currency: "usd", SuccessURL: "https://x.example/ok?s={CHECKOUT_SESSION_ID}", CancelURL: "https://x.example/no"})
	if err != nil || !strings.HasPrefix(cs.ID, "cs_") || !strings.HasPrefix(cs.URL, "https://") {
		t.Fatalf("checkout %+v %v", cs, err)
	}
	// stripe-mock's PaymentIntent fixture needs a payment method: to
	// billing, a card that could not be charged.
	res, err := s.ChargeSavedCard(ctx, control.SavedCardCharge{AccountID: "acct_1", CustomerID: cus,
		PaymentMethodID: "pm_card_visa", AmountCents: 1_000, Currency: "usd", IdempotencyKey: "k1"})
	if err != nil || !res.Failed || !strings.HasPrefix(res.PaymentIntentID, "pi_") || res.FailureReason == "" {
		t.Fatalf("charge %+v %v", res, err)
	}
}

// TestStripeDeleteCustomer: deleting a customer goes to stripe-mock as
// Stripe's API defines it; a customer Stripe no longer has counts as
// deleted; an outage is EUNAVAILABLE, for the retention job to retry.
func TestStripeDeleteCustomer(t *testing.T) {
	ctx := context.Background()
	s := newStripe(t, stripetest.Start(t))
	cus, err := s.CreateCustomer(ctx, "acct_del", "del@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCustomer(ctx, cus); err != nil {
		t.Fatalf("delete %s: %v", cus, err)
	}
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"already gone", 404, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such customer: 'cus_gone'"}}`, ""},
		{"stripe down", 503, `{"error":{"type":"api_error","message":"down"}}`, control.EUNAVAILABLE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var method, path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				method, path = r.Method, r.URL.Path
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			err := newStripe(t, srv.URL).DeleteCustomer(ctx, "cus_gone")
			if method != http.MethodDelete || path != "/v1/customers/cus_gone" {
				t.Errorf("sent %s %s", method, path)
			}
			if tc.want == "" && err != nil || tc.want != "" && control.ErrorCode(err) != tc.want {
				t.Errorf("error %v, want code %q", err, tc.want)
			}
		})
	}
}

func TestStripeDeclinedCard(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPaymentRequired)
		fmt.Fprint(w, `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds",
			"message":"Your card has insufficient funds.",
			"payment_intent":{"id":"pi_declined","object":"payment_intent","status":"requires_payment_method"}}}`)
	}))
	defer srv.Close()
	res, err := newStripe(t, srv.URL).ChargeSavedCard(context.Background(), control.SavedCardCharge{AccountID: "a",
		CustomerID: "cus_1", PaymentMethodID: "pm_1", AmountCents: 1_000, Currency: "usd"})
	if err != nil || !res.Failed || res.PaymentIntentID != "pi_declined" || res.FailureReason != "Your card has insufficient funds." {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestStripeErrorsClassified(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		want   string
	}{
		{"server error", 500, control.EUNAVAILABLE},
		{"rate limited", 429, control.EUNAVAILABLE},
		{"bad key", 401, control.EUNAVAILABLE},
		{"our bad request", 400, control.EINTERNAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, `{"error":{"type":"api_error","message":"nope"}}`)
			}))
			defer srv.Close()
			_, err := newStripe(t, srv.URL).CreateCustomer(context.Background(), "a", "a@example.com")
			if control.ErrorCode(err) != tc.want {
				t.Errorf("code %q for %v", control.ErrorCode(err), err)
			}
		})
	}
}

func TestStripeParseWebhook(t *testing.T) {
	s := newStripe(t, "http://127.0.0.1:1")
	tests := []struct {
		name string
		typ  string
		obj  map[string]any
		want control.PaymentEvent
	}{
		{"checkout completed", "checkout.session.completed",
			stripetest.CheckoutCompleted("cs_1", "pi_1", "acct_1", "cus_1", 500),
			control.PaymentEvent{Kind: control.PaymentPaid, PaymentKind: "checkout", AccountID: "acct_1", CustomerID: "cus_1",
				PaymentIntentID: "pi_1", CheckoutSessionID: "cs_1", AmountCents: 500, Currency: "usd"}},
		{"checkout unpaid", "checkout.session.completed",
			func() map[string]any {
				o := stripetest.CheckoutCompleted("cs_2", "pi_2", "acct_1", "cus_1", 500)
				o["payment_status"] = "unpaid"
				return o
			}(),
			control.PaymentEvent{Kind: control.PaymentIgnored, PaymentKind: "checkout", AccountID: "acct_1", CustomerID: "cus_1",
				PaymentIntentID: "pi_2", CheckoutSessionID: "cs_2", AmountCents: 500, Currency: "usd"}},
		{"intent succeeded, card saved", "payment_intent.succeeded",
			stripetest.PaymentIntent("pi_3", "acct_1", "cus_1", "auto_topup", "succeeded", 700, "pm_1"),
			control.PaymentEvent{Kind: control.PaymentPaid, PaymentKind: "auto_topup", AccountID: "acct_1", CustomerID: "cus_1",
				PaymentIntentID: "pi_3", ChargeID: "ch_3", PaymentMethodID: "pm_1", AmountCents: 700, Currency: "usd"}},
		{"intent failed", "payment_intent.payment_failed",
			stripetest.PaymentIntent("pi_4", "acct_1", "cus_1", "checkout", "requires_payment_method", 700, ""),
			control.PaymentEvent{Kind: control.PaymentFailed, PaymentKind: "checkout", AccountID: "acct_1", CustomerID: "cus_1",
				PaymentIntentID: "pi_4", ChargeID: "ch_4", AmountCents: 700, Currency: "usd",
				FailureReason: "Your card was declined."}},
		{"charge refunded", "charge.refunded", stripetest.ChargeRefunded("pi_5", "cus_1", 900, 300),
			control.PaymentEvent{Kind: control.PaymentRefunded, CustomerID: "cus_1", PaymentIntentID: "pi_5", ChargeID: "ch_5",
				AmountCents: 900, RefundedCents: 300, Currency: "usd"}},
		{"other type", "customer.created", map[string]any{"id": "cus_1", "object": "customer"},
			control.PaymentEvent{Kind: control.PaymentIgnored}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := stripetest.Deliver(t, "evt_"+tc.name, tc.typ, tc.obj)
			ev, err := s.ParseWebhook(d.Payload, d.Signature)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.ID, tc.want.Type, tc.want.CreatedAt = "evt_"+tc.name, tc.typ, ev.CreatedAt
			if *ev != tc.want {
				t.Errorf("got  %+v\nwant %+v", *ev, tc.want)
			}
			if time.Since(ev.CreatedAt) > time.Minute {
				t.Errorf("created %v", ev.CreatedAt)
			}
		})
	}
}
