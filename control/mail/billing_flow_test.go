package mail_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/mail"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/mailtest"
)

// TestLowBalanceOncePerCrossing wires BillingEmails as the service's
// notifier: usage that takes the balance under the threshold queues one
// warning however many debits follow, and a new crossing after a top-up
// queues another. The emails carry amounts only, never request content.
func TestLowBalanceOncePerCrossing(t *testing.T) {
	smtp := mailtest.Start(t)
	r := newRig(t)
	st := controltest.OpenStore(t, r.path)
	m, err := mail.New(mail.Config{Host: smtp.Host, Port: smtp.Port, From: "billing@switchyard.test"})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := control.NewService(st, control.Config{Clock: r.clock, Password: controltest.FastPasswords,
		Catalog: controltest.Catalog(), Logger: logger, LowBalanceMicros: 1_000_000,
		Notifier: &control.BillingEmails{Outbox: st, Clock: r.clock, Links: control.BillingLinks{TopUpURL: "https://switchyard.test/billing"}},
		Mail:     control.MailConfig{Mailer: m, Interval: time.Hour}})
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	ctx := context.Background()
	a := account(t, svc, "ada@example.com")
	if _, err := svc.GrantCredits(ctx, a.ID, 1_500_000, "test credit", ""); err != nil {
		t.Fatal(err)
	}
	k, _, err := svc.CreateKey(ctx, a.ID, control.KeyCreate{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	seq := 0
	spend := func(micros int) {
		t.Helper()
		seq++
		rec := edgeapi.UsageRecord{RequestID: fmt.Sprintf("req_%d", seq), KeyID: k.ID, AccountID: a.ID,
			StartedAt: r.clock.Now(), Endpoint: "chat.completions", Model: controltest.OneDollarModel,
			ServedModel: controltest.OneDollarModel, Provider: "test", Status: 200, FinishReason: "stop",
			InputTokens: micros, LatencyMs: 10, Attempts: 1}
		res, err := svc.IngestUsage(ctx, "edge-1", []edgeapi.UsageRecord{rec})
		if err != nil || res.Accepted != 1 {
			t.Fatalf("ingest: %+v, %v", res, err)
		}
		r.clock.Advance(time.Second)
	}
	lowWarnings := func() int {
		n := 0
		for _, e := range outbox(t, svc) {
			if e.Kind == control.EmailLowBalance {
				n++
			}
		}
		return n
	}

	spend(400_000) // $1.10: above
	if n := lowWarnings(); n != 0 {
		t.Fatalf("%d warnings above the threshold", n)
	}
	spend(300_000) // $0.80: crosses
	spend(100_000) // $0.70
	spend(100_000) // $0.60
	if n := lowWarnings(); n != 1 {
		t.Fatalf("%d warnings after one crossing, want 1", n)
	}
	if _, err := svc.GrantCredits(ctx, a.ID, 5_000_000, "top-up", ""); err != nil {
		t.Fatal(err)
	}
	// An operator's grant does not review the balance; the next usage
	// finds it above the threshold again.
	spend(100_000)   // $5.50
	spend(4_900_000) // $0.60 again: a second crossing
	if n := lowWarnings(); n != 2 {
		t.Fatalf("%d warnings after two crossings, want 2", n)
	}
	if n := deliver(t, svc); n != 2 {
		t.Fatalf("sent %d, want 2", n)
	}
	msgs := smtp.WaitMessages(t, 2, 5*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("mailpit has %d", len(msgs))
	}
	for _, s := range msgs {
		got := smtp.Message(t, s.ID)
		if !strings.Contains(got.Text, "below $1.00") || !strings.Contains(got.Text, "https://switchyard.test/billing") {
			t.Errorf("text:\n%s", got.Text)
		}
		for _, leak := range []string{"req_", k.ID, controltest.OneDollarModel, "chat.completions"} {
			if strings.Contains(got.Text, leak) || strings.Contains(got.HTML, leak) {
				t.Errorf("email carries request metadata %q", leak)
			}
		}
	}
	checkLogsPrivate(t, r.logs.String(), outbox(t, svc)[0].Email)
}
