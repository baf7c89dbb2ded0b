// Package stripetest runs Stripe's official mock server, stripe-mock, for
// tests, and signs webhook deliveries as Stripe does.
//
// stripe-mock is installed by `make tools` into bin/tools; the environment
// variable SWITCHYARD_STRIPE_MOCK names another binary. A missing binary
// fails the test rather than skipping it, so billing is never silently
// untested.
package stripetest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/switchyard-ai/switchyard/internal/repo"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// Test credentials. stripe-mock accepts any sk_test_ key.
const (
	SecretKey     = "sk_test_switchyard"
	WebhookSecret = "whsec_switchyard_test_secret"
)

// Binary returns the stripe-mock executable tests use, failing tb when it
// is not installed.
func Binary(tb testing.TB) string {
	tb.Helper()
	return repo.Tool(tb, "stripe-mock", "SWITCHYARD_STRIPE_MOCK")
}

var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// Start runs stripe-mock on free loopback ports and returns its HTTP root
// URL, for billing.Config.APIURL. The server is killed when tb ends.
func Start(tb testing.TB) string {
	tb.Helper()
	cmd := exec.Command(Binary(tb), "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		tb.Fatalf("stripetest: start stripe-mock: %v", err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var seen strings.Builder
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		close(addr)
		io.Copy(io.Discard, out)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			tb.Fatal("stripetest: stripe-mock exited without listening")
		}
		return "http://" + a
	case <-time.After(30 * time.Second):
		tb.Fatal("stripetest: stripe-mock did not start within 30s")
	}
	return ""
}

// Event builds a Stripe event of type typ around object (a map or a
// stripe-go struct), as Stripe delivers it.
func Event(tb testing.TB, id, typ string, object any) []byte {
	tb.Helper()
	raw, err := json.Marshal(object)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": stripe.APIVersion, "created": time.Now().Unix(),
		"type": typ, "livemode": false, "pending_webhooks": 1,
		"data": map[string]json.RawMessage{"object": raw},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Sign returns the Stripe-Signature header Stripe would send with payload,
// signed with secret at t.
func Sign(payload []byte, secret string, t time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: t}).Header
}

// Delivery is a signed webhook delivery.
type Delivery struct {
	Payload   []byte
	Signature string
}

// Deliver builds and signs an event with WebhookSecret, now.
func Deliver(tb testing.TB, id, typ string, object any) Delivery {
	tb.Helper()
	p := Event(tb, id, typ, object)
	return Delivery{Payload: p, Signature: Sign(p, WebhookSecret, time.Now())}
}

// Objects as Stripe sends them, with the fields billing reads.

// CheckoutCompleted is a paid checkout.session.completed object.
func CheckoutCompleted(sessionID, paymentIntentID, accountID, customerID string, cents int64) map[string]any {
	return map[string]any{
		"id": sessionID, "object": "checkout.session", "mode": "payment", "payment_status": "paid", "status": "complete",
		"amount_total": cents, "currency": "usd", "customer": customerID, "client_reference_id": accountID,
		"payment_intent": paymentIntentID, "metadata": map[string]string{"account_id": accountID, "kind": "checkout"},
	}
}

// PaymentIntent is a payment_intent object; status "succeeded" or
// "requires_payment_method" (failed). paymentMethod, when set, was saved
// for off-session use.
func PaymentIntent(id, accountID, customerID, kind, status string, cents int64, paymentMethod string) map[string]any {
	pi := map[string]any{
		"id": id, "object": "payment_intent", "amount": cents, "currency": "usd", "customer": customerID,
		"status": status, "metadata": map[string]string{"account_id": accountID, "kind": kind},
		"latest_charge": "ch_" + strings.TrimPrefix(id, "pi_"),
	}
	if status == "succeeded" {
		pi["amount_received"] = cents
	} else {
		pi["amount_received"] = 0
		pi["last_payment_error"] = map[string]any{"type": "card_error", "code": "card_declined",
			"message": "Your card was declined."}
	}
	if paymentMethod != "" {
		pi["payment_method"] = paymentMethod
		pi["setup_future_usage"] = "off_session"
	}
	return pi
}

// ChargeRefunded is a charge.refunded object: refundedCents is the total
// refunded so far. Charges carry no metadata of ours.
func ChargeRefunded(paymentIntentID, customerID string, cents, refundedCents int64) map[string]any {
	return map[string]any{
		"id": "ch_" + strings.TrimPrefix(paymentIntentID, "pi_"), "object": "charge", "amount": cents,
		"amount_refunded": refundedCents, "currency": "usd", "customer": customerID,
		"payment_intent": paymentIntentID, "refunded": refundedCents >= cents, "paid": true, "status": "succeeded",
	}
}

// EventID returns a fresh event id.
func EventID() string { return fmt.Sprintf("evt_test_%d", ids.Add(1)) }

var ids atomic.Int64

func init() { ids.Store(time.Now().UnixNano()) }
