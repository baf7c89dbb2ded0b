package httpapi_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/stripetest"
)

// BenchmarkWebhookDeliveries measures webhook processing with 16
// deliveries in flight over HTTP into a real libSQL file: each payment's
// two events (checkout.session.completed, payment_intent.succeeded), each
// delivered twice, so half the deliveries are duplicates that must change
// nothing. It reports deliveries per second; the balance check at the end
// holds exactly-once under the load.
func BenchmarkWebhookDeliveries(b *testing.B) {
	s := newBillingServer(b, billingOptions{})
	_, a := signup(b, s.server, "bench@example.com")
	payments := max(b.N/4, 1)
	deliveries := make([]stripetest.Delivery, 0, payments*4)
	for p := range payments {
		pi := fmt.Sprintf("pi_bench_%d", p)
		cs := stripetest.Deliver(b, stripetest.EventID(), "checkout.session.completed", stripetest.CheckoutCompleted("cs_"+pi, pi, a.ID, "cus_b", 500))
		ok := stripetest.Deliver(b, stripetest.EventID(), "payment_intent.succeeded", stripetest.PaymentIntent(pi, a.ID, "cus_b", "checkout", "succeeded", 500, ""))
		deliveries = append(deliveries, cs, ok, cs, ok)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(deliveries)) {
					return
				}
				if r := s.deliver(b, deliveries[i]); r.status != http.StatusOK {
					b.Errorf("status %d: %s", r.status, r.body)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(len(deliveries))/b.Elapsed().Seconds(), "deliveries/s")
	if got, want := s.balance(b, a.ID), int64(payments)*500*10_000; got != want {
		b.Fatalf("balance %d after %d payments, want %d", got, payments, want)
	}
}
