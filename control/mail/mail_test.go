package mail_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/mail"
	"github.com/switchyard-ai/switchyard/internal/mailtest"
	"github.com/switchyard-ai/switchyard/internal/syncbuf"
)

// rig is one database and clock shared by the services a test opens on
// it, as replicas or restarts would.
type rig struct {
	t     *testing.T
	path  string
	clock *controltest.Clock
	logs  *syncbuf.Buffer
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, path: controltest.DBPath(t), clock: controltest.NewClock(controltest.Epoch), logs: &syncbuf.Buffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", r.logs)
		}
	})
	return r
}

// service opens a new store and service on the rig's database, sending
// through the SMTP server at addr (none when addr is empty). The sender
// loop is not started unless mc.Interval is set; tests drive it with
// DeliverEmails.
func (r *rig) service(addr string, mc control.MailConfig) *control.Service {
	r.t.Helper()
	if addr != "" {
		host, port := splitAddr(r.t, addr)
		m, err := mail.New(mail.Config{Host: host, Port: port, From: "Switchyard Billing <billing@switchyard.test>"})
		if err != nil {
			r.t.Fatal(err)
		}
		mc.Mailer = m
	}
	if mc.Backoff == 0 {
		mc.Backoff = time.Minute
	}
	if mc.SendTimeout == 0 {
		mc.SendTimeout = 5 * time.Second
	}
	mc.Logger = slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Without an interval, no sender loop: the test calls DeliverEmails,
	// and no pass of a loop can race it.
	mc.Manual = mc.Interval == 0
	svc := control.NewService(controltest.OpenStore(r.t, r.path), control.Config{Clock: r.clock,
		Password: controltest.FastPasswords, Mail: mc})
	if err := svc.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { svc.Close() })
	return svc
}

// notifier is the outbox's BillingNotifier over a store of its own on
// the rig's database.
func (r *rig) notifier(links control.BillingLinks) *control.BillingEmails {
	return &control.BillingEmails{Outbox: controltest.OpenStore(r.t, r.path), Clock: r.clock, Links: links}
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	var port int
	if _, err := fmt.Sscan(addr[i+1:], &port); err != nil {
		t.Fatal(err)
	}
	return addr[:i], port
}

func account(t *testing.T, svc *control.Service, email string) *control.Account {
	t.Helper()
	a, err := svc.CreateAccount(context.Background(), control.AccountCreate{Name: "Ada Lovelace", Email: email,
		BillingAddress: "12 St James's Square", Password: "difference engine"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func receipt(a *control.Account, intent string) control.TopUpReceipt {
	return control.TopUpReceipt{Key: "receipt:" + intent,
		Recipient: control.Recipient{AccountID: a.ID, Email: a.Email, Name: a.Name},
		PaymentID: 7, PaymentIntentID: intent, Kind: control.PaymentKindCheckout, AmountCents: 2500,
		Currency: "usd", CreditedMicros: 25_000_000, BalanceMicros: 31_250_000, PaidAt: controltest.Epoch}
}

func deliver(t *testing.T, svc *control.Service) int {
	t.Helper()
	n, err := svc.DeliverEmails(context.Background())
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	return n
}

func outbox(t *testing.T, svc *control.Service) []control.OutboxEmail {
	t.Helper()
	out, err := svc.OutboxEmails(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkLogsPrivate fails when a log line carries an address or any part
// of an email: the outbox logs ids, kinds and error classes only.
func checkLogsPrivate(t *testing.T, logs string, emails ...control.Email) {
	t.Helper()
	if logs == "" {
		t.Fatal("no log lines captured: the privacy check would prove nothing")
	}
	for _, e := range emails {
		secrets := []string{e.To, e.Subject}
		for _, line := range strings.Split(e.Text, "\n") {
			if len(strings.TrimSpace(line)) > 8 {
				secrets = append(secrets, strings.TrimSpace(line))
			}
		}
		for _, s := range secrets {
			if strings.Contains(logs, s) {
				t.Errorf("logs contain %q from an email", s)
			}
		}
	}
	if strings.Contains(logs, "@") {
		t.Errorf("logs contain an @, perhaps an address:\n%s", logs)
	}
}

func TestReceiptEnqueuedTwiceIsSentOnce(t *testing.T) {
	smtp := mailtest.Start(t)
	r := newRig(t)
	svc := r.service(smtp.Addr(), control.MailConfig{})
	a := account(t, svc, "ada@example.com")
	notifier := r.notifier(control.BillingLinks{TopUpURL: "https://switchyard.test/billing"})
	ctx := context.Background()
	for range 2 {
		if err := notifier.TopUpReceipt(ctx, receipt(a, "pi_123")); err != nil {
			t.Fatal(err)
		}
	}
	if n := deliver(t, svc); n != 1 {
		t.Fatalf("sent %d, want 1", n)
	}
	if err := notifier.TopUpReceipt(ctx, receipt(a, "pi_123")); err != nil {
		t.Fatal(err)
	}
	if n := deliver(t, svc); n != 0 {
		t.Fatalf("after the receipt went out, a third enqueue sent %d more", n)
	}
	msgs := smtp.WaitMessages(t, 1, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	if msgs = smtp.Messages(t); len(msgs) != 1 {
		t.Fatalf("mailpit has %d messages, want 1", len(msgs))
	}
	m := smtp.Message(t, msgs[0].ID)
	if len(m.To) != 1 || m.To[0].Address != "ada@example.com" || m.From.Address != "billing@switchyard.test" {
		t.Errorf("from %+v to %+v", m.From, m.To)
	}
	if m.Subject != "Your Switchyard receipt: $25.00" {
		t.Errorf("subject = %q", m.Subject)
	}
	for _, want := range []string{"Hello Ada Lovelace", "$25.00 has been added", "New balance:  $31.25", "pi_123",
		"16 March 2026 09:30 UTC", "Add credits: https://switchyard.test/billing"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if !strings.Contains(m.HTML, `<a href="https://switchyard.test/billing">`) {
		t.Errorf("html lacks the link:\n%s", m.HTML)
	}
	box := outbox(t, svc)
	if len(box) != 1 || box[0].Status != control.OutboxSent || box[0].SentAt == nil || box[0].Attempts != 1 {
		t.Fatalf("outbox = %+v", box)
	}
	if !strings.HasPrefix(m.MessageID, box[0].ID+"@") {
		t.Errorf("Message-ID %q does not name outbox id %s", m.MessageID, box[0].ID)
	}
	checkLogsPrivate(t, r.logs.String(), box[0].Email)
}

// TestSMTPDown: while the server is down the email stays queued, retried
// on the backoff; it goes out once the server is back.
func TestSMTPDown(t *testing.T) {
	smtp := mailtest.New(t) // not started
	r := newRig(t)
	svc := r.service(smtp.Addr(), control.MailConfig{Backoff: time.Minute})
	a := account(t, svc, "ada@example.com")
	notifier := r.notifier(control.BillingLinks{})
	ctx := context.Background()
	if err := notifier.LowBalance(ctx, control.LowBalanceNotice{Key: "low-balance:" + a.ID + ":1",
		Recipient: control.Recipient{AccountID: a.ID, Email: a.Email}, BalanceMicros: 420_000, ThresholdMicros: 1_000_000,
		At: controltest.Epoch}); err != nil {
		t.Fatal(err)
	}
	if n := deliver(t, svc); n != 0 {
		t.Fatalf("sent %d with the server down", n)
	}
	box := outbox(t, svc)
	if len(box) != 1 || box[0].Status != control.OutboxQueued || box[0].Attempts != 1 || box[0].LastError != "connect" ||
		!box[0].NextAttemptAt.Equal(controltest.Epoch.Add(time.Minute)) {
		t.Fatalf("after a failed attempt: %+v", box)
	}
	if n := deliver(t, svc); n != 0 || outbox(t, svc)[0].Attempts != 1 {
		t.Fatal("retried before the backoff ran out")
	}
	r.clock.Advance(time.Minute)
	deliver(t, svc)
	if box = outbox(t, svc); box[0].Attempts != 2 || !box[0].NextAttemptAt.Equal(r.clock.Now().Add(2*time.Minute)) {
		t.Fatalf("second failure: %+v; want the backoff doubled", box[0])
	}

	smtp.Start()
	r.clock.Advance(2 * time.Minute)
	if n := deliver(t, svc); n != 1 {
		t.Fatalf("sent %d once the server was back, want 1", n)
	}
	msgs := smtp.WaitMessages(t, 1, 5*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("mailpit has %d messages", len(msgs))
	}
	m := smtp.Message(t, msgs[0].ID)
	if m.Subject != "Your Switchyard balance is low: $0.42" || !strings.Contains(m.Text, "below $1.00") {
		t.Errorf("subject %q text:\n%s", m.Subject, m.Text)
	}
	box = outbox(t, svc)
	checkLogsPrivate(t, r.logs.String(), box[0].Email)
	if !strings.Contains(r.logs.String(), "error_class=connect") {
		t.Errorf("logs do not name the failure class:\n%s", r.logs)
	}
}

// TestSenderLoop: Start's loop sends without being asked, and a server
// stopped in between only delays the next email.
func TestSenderLoop(t *testing.T) {
	smtp := mailtest.Start(t)
	r := newRig(t)
	svc := r.service(smtp.Addr(), control.MailConfig{Interval: 20 * time.Millisecond, Backoff: time.Millisecond})
	a := account(t, svc, "ada@example.com")
	notifier := r.notifier(control.BillingLinks{})
	ctx := context.Background()
	fail := control.AutoTopUpFailure{Key: "auto-topup-failed:1", Recipient: control.Recipient{AccountID: a.ID, Email: a.Email},
		PaymentID: 1, AmountCents: 1000, Currency: "usd", FailureReason: "Your card was declined.", BalanceMicros: 120_000}
	if err := notifier.AutoTopUpFailed(ctx, fail); err != nil {
		t.Fatal(err)
	}
	if msgs := smtp.WaitMessages(t, 1, 5*time.Second); len(msgs) != 1 {
		t.Fatalf("the loop sent %d, want 1", len(msgs))
	}
	smtp.Stop()
	fail.Key, fail.PaymentID = "auto-topup-failed:2", 2
	if err := notifier.AutoTopUpFailed(ctx, fail); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for outbox(t, svc)[0].Attempts == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	smtp.Start()
	r.clock.Advance(time.Second) // past the backoff
	msgs := smtp.WaitMessages(t, 2, 5*time.Second)
	if len(msgs) != 2 {
		t.Fatalf("mailpit has %d messages, want 2", len(msgs))
	}
	m := smtp.Message(t, msgs[0].ID)
	if m.Subject != "Your Switchyard automatic top-up failed" ||
		!strings.Contains(m.Text, "with $10.00: Your card was declined.") || !strings.Contains(m.Text, "Current balance: $0.12") {
		t.Errorf("subject %q text:\n%s", m.Subject, m.Text)
	}
	svc.Close()
	svc.Close()
}

// TestRestartDoesNotResend: a new service on the same database finds the
// sent email sent.
func TestRestartDoesNotResend(t *testing.T) {
	smtp := mailtest.Start(t)
	r := newRig(t)
	first := r.service(smtp.Addr(), control.MailConfig{})
	a := account(t, first, "ada@example.com")
	if err := r.notifier(control.BillingLinks{}).TopUpReceipt(context.Background(), receipt(a, "pi_1")); err != nil {
		t.Fatal(err)
	}
	if n := deliver(t, first); n != 1 {
		t.Fatalf("sent %d", n)
	}
	first.Close()

	second := r.service(smtp.Addr(), control.MailConfig{})
	r.clock.Advance(24 * time.Hour)
	if err := r.notifier(control.BillingLinks{}).TopUpReceipt(context.Background(), receipt(a, "pi_1")); err != nil {
		t.Fatal(err)
	}
	if n := deliver(t, second); n != 0 {
		t.Fatalf("the restarted service sent %d again", n)
	}
	time.Sleep(100 * time.Millisecond)
	if msgs := smtp.Messages(t); len(msgs) != 1 {
		t.Fatalf("mailpit has %d messages, want 1", len(msgs))
	}
}

// TestLeaseExpiry: an email claimed by a sender that died is sent by
// another once the lease runs out, not before.
func TestLeaseExpiry(t *testing.T) {
	smtp := mailtest.Start(t)
	r := newRig(t)
	svc := r.service(smtp.Addr(), control.MailConfig{Lease: time.Minute})
	a := account(t, svc, "ada@example.com")
	if err := r.notifier(control.BillingLinks{}).TopUpReceipt(context.Background(), receipt(a, "pi_1")); err != nil {
		t.Fatal(err)
	}
	now := r.clock.Now()
	dead := controltest.OpenStore(t, r.path)
	claimed, err := dead.ClaimEmails(context.Background(), "claim_dead", now, now.Add(time.Minute), 10, 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %d emails", err, len(claimed))
	}
	if n := deliver(t, svc); n != 0 {
		t.Fatalf("sent %d while another sender held the lease", n)
	}
	r.clock.Advance(time.Minute)
	if n := deliver(t, svc); n != 1 {
		t.Fatalf("sent %d after the lease ran out, want 1", n)
	}
	// The dead sender's late report must not overwrite the outcome.
	if err := dead.FinishEmail(context.Background(), claimed[0].ID, "claim_dead",
		control.EmailOutcome{Status: control.OutboxQueued, At: now, RetryAt: now, LastError: "connect"}); err != nil {
		t.Fatal(err)
	}
	if box := outbox(t, svc); box[0].Status != control.OutboxSent || box[0].Attempts != 2 {
		t.Fatalf("outbox = %+v", box[0])
	}
}

// TestGivesUp: after MaxAttempts failures the email is marked failed and
// kept; a recipient the server refuses for good fails at once.
func TestGivesUp(t *testing.T) {
	smtp := mailtest.New(t)
	r := newRig(t)
	svc := r.service(smtp.Addr(), control.MailConfig{MaxAttempts: 2, Backoff: time.Second})
	a := account(t, svc, "ada@example.com")
	if err := r.notifier(control.BillingLinks{}).TopUpReceipt(context.Background(), receipt(a, "pi_1")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		deliver(t, svc)
		r.clock.Advance(time.Hour)
	}
	box := outbox(t, svc)
	if box[0].Status != control.OutboxFailed || box[0].Attempts != 2 || box[0].LastError != "connect" {
		t.Fatalf("outbox = %+v", box[0])
	}
	if failed, _ := svc.OutboxEmails(context.Background(), control.OutboxFailed, 10); len(failed) != 1 {
		t.Fatalf("failed list has %d", len(failed))
	}
	smtp.Start()
	if n := deliver(t, svc); n != 0 {
		t.Fatalf("a failed email was sent (%d)", n)
	}

	refusing := mailtest.New(t)
	refusing.Args = []string{"--smtp-allowed-recipients", `^allowed@`}
	refusing.Start()
	other := newRig(t)
	svc2 := other.service(refusing.Addr(), control.MailConfig{})
	b := account(t, svc2, "refused@example.com")
	if err := other.notifier(control.BillingLinks{}).TopUpReceipt(context.Background(), receipt(b, "pi_2")); err != nil {
		t.Fatal(err)
	}
	deliver(t, svc2)
	box = outbox(t, svc2)
	if box[0].Status != control.OutboxFailed || box[0].Attempts != 1 || box[0].LastError != "recipient" {
		t.Fatalf("refused recipient: %+v", box[0])
	}
	checkLogsPrivate(t, other.logs.String(), box[0].Email)
}

// TestReplicasShareTheOutbox: several services on one database, sending
// at once, deliver each email exactly once.
func TestReplicasShareTheOutbox(t *testing.T) {
	smtp := mailtest.Start(t)
	r := newRig(t)
	const replicas, emails = 3, 40
	svcs := make([]*control.Service, replicas)
	for i := range svcs {
		// A short lease: a replica whose pass failed on a busy database
		// leaves its claimed emails to the others within the test's time.
		svcs[i] = r.service(smtp.Addr(), control.MailConfig{Lease: 10 * time.Second, SendTimeout: 5 * time.Second})
	}
	a := account(t, svcs[0], "ada@example.com")
	notifier := r.notifier(control.BillingLinks{})
	for i := range emails {
		if err := notifier.TopUpReceipt(context.Background(),
			receipt(a, fmt.Sprintf("pi_%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// Every replica sends until all are out (or 90 s pass): under load a
	// pass may find nothing due because others hold the leases.
	var (
		wg       sync.WaitGroup
		sent     = make([]int, replicas)
		all      atomic.Int64
		deadline = time.Now().Add(90 * time.Second)
	)
	for i, svc := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for all.Load() < emails && time.Now().Before(deadline) {
				n, err := svc.DeliverEmails(context.Background())
				if err != nil {
					// A replica's pass can meet a busy database under
					// load, as the sender loop would; it tries again.
					t.Logf("replica %d: %v", i, err)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				sent[i] += n
				all.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range sent {
		total += n
	}
	if total != emails {
		t.Fatalf("replicas report %v sent, total %d, want %d", sent, total, emails)
	}
	msgs := smtp.WaitMessages(t, emails, 30*time.Second)
	time.Sleep(100 * time.Millisecond)
	msgs = smtp.Messages(t)
	if len(msgs) != emails {
		t.Fatalf("mailpit has %d messages, want %d", len(msgs), emails)
	}
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[smtp.Message(t, m.ID).MessageID] = true
	}
	if len(ids) != emails {
		t.Fatalf("%d distinct Message-IDs among %d messages", len(ids), emails)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     mail.Config
		addr    string
		wantErr bool
	}{
		{"defaults", mail.Config{Host: "smtp.example.com", From: "b@example.com"}, "smtp.example.com:587", false},
		{"implicit TLS port", mail.Config{Host: "smtp.example.com", From: "b@example.com", TLS: mail.TLSImplicit}, "smtp.example.com:465", false},
		{"explicit port", mail.Config{Host: "smtp.example.com", Port: 2525, From: "Billing <b@example.com>"}, "smtp.example.com:2525", false},
		{"no host", mail.Config{From: "b@example.com"}, "", true},
		{"bad from", mail.Config{Host: "h", From: "not an address"}, "", true},
		{"bad TLS mode", mail.Config{Host: "h", From: "b@example.com", TLS: "maybe"}, "", true},
		{"bad port", mail.Config{Host: "h", From: "b@example.com", Port: 70000}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mail.New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && m.Addr() != tt.addr {
				t.Errorf("addr = %s, want %s", m.Addr(), tt.addr)
			}
		})
	}
}
