package control_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
)

func TestFormatMicros(t *testing.T) {
	tests := []struct {
		name     string
		micros   int64
		currency string
		want     string
	}{
		{"zero", 0, "usd", "$0.00"},
		{"whole dollars", 25_000_000, "usd", "$25.00"},
		{"cents", 1_230_000, "USD", "$1.23"},
		{"rounds to the nearest cent", 4_995_000, "usd", "$5.00"},
		{"rounds down below half a cent", 4_994_999, "usd", "$4.99"},
		{"default currency", 500_000, "", "$0.50"},
		{"negative", -1_500_000, "usd", "-$1.50"},
		{"other currency", 10_000_000, "eur", "10.00 EUR"},
		{"large", 1_000_000_000 * 1_000_000, "usd", "$1000000000.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := control.FormatMicros(tt.micros, tt.currency); got != tt.want {
				t.Errorf("FormatMicros(%d, %q) = %q, want %q", tt.micros, tt.currency, got, tt.want)
			}
		})
	}
}

// TestBillingEmailsCarryMetadataOnly builds each email and checks every
// line of it is one the template writes around the notice's metadata.
func TestBillingEmailsCarryMetadataOnly(t *testing.T) {
	r := control.Recipient{AccountID: "acct_1", Email: "ada@example.com", Name: "Ada"}
	links := control.BillingLinks{TopUpURL: "https://switchyard.test/billing?a=1&b=<2>"}
	at := time.Date(2026, 3, 16, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name    string
		email   control.Email
		kind    string
		subject string
		lines   []string
	}{
		{"receipt", control.ReceiptEmail(control.TopUpReceipt{Key: "receipt:pi_1", Recipient: r, PaymentIntentID: "pi_1",
			Kind: control.PaymentKindAutoTopUp, AmountCents: 1999, Currency: "usd", CreditedMicros: 19_990_000,
			BalanceMicros: 20_500_000, PaidAt: at}, links),
			control.EmailTopUpReceipt, "Your Switchyard receipt: $19.99",
			[]string{"Thank you: $19.99 has been added to your Switchyard balance.", "Amount paid:  $19.99",
				"New balance:  $20.50", "Payment:      pi_1", "Type:         automatic top-up",
				"Date:         16 March 2026 09:30 UTC"}},
		{"low balance", control.LowBalanceEmail(control.LowBalanceNotice{Key: "low-balance:acct_1:5", Recipient: r,
			BalanceMicros: 999_999, ThresholdMicros: 1_000_000, At: at}, links),
			control.EmailLowBalance, "Your Switchyard balance is low: $1.00",
			[]string{"Your Switchyard balance is $1.00, below $1.00.",
				"When it reaches zero, API requests are refused until you add credits."}},
		{"auto top-up failed", control.AutoTopUpFailedEmail(control.AutoTopUpFailure{Key: "auto-topup-failed:3",
			Recipient: r, PaymentID: 3, AmountCents: 2000, Currency: "usd", BalanceMicros: 10_000, At: at}, links),
			control.EmailAutoTopUpFailed, "Your Switchyard automatic top-up failed",
			[]string{"We could not top up your Switchyard balance automatically with $20.00: the payment did not go through.",
				"Current balance: $0.01",
				"Automatic top-up is paused and will not retry this payment. Please check your card, then turn it on again or add credits yourself."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.email
			if e.Kind != tt.kind || e.Subject != tt.subject || e.To != r.Email || e.AccountID != r.AccountID {
				t.Errorf("kind %q subject %q to %q account %q", e.Kind, e.Subject, e.To, e.AccountID)
			}
			allowed := map[string]bool{"": true, "Hello Ada,": true, "-- ": true,
				"Add credits: " + links.TopUpURL:                                true,
				"You receive this email because you have a Switchyard account.": true}
			for _, l := range tt.lines {
				allowed[l] = true
			}
			for _, line := range strings.Split(e.Text, "\n") {
				if !allowed[line] {
					t.Errorf("unexpected line %q", line)
				}
			}
			for _, l := range tt.lines {
				if !strings.Contains(e.Text, l+"\n") {
					t.Errorf("text lacks %q", l)
				}
			}
			if !strings.Contains(e.HTML, `href="https://switchyard.test/billing?a=1&amp;b=&lt;2&gt;"`) {
				t.Errorf("html does not escape the link:\n%s", e.HTML)
			}
		})
	}
}

func TestEnqueueEmail(t *testing.T) {
	svc := controltest.NewService(t, controltest.OpenStore(t, controltest.DBPath(t)), controltest.NewClock(controltest.Epoch))
	ctx := context.Background()
	valid := control.Email{AccountID: "acct_1", To: "ada@example.com", Kind: control.EmailLowBalance,
		Subject: "Low", Text: "Your balance is low.\n", DedupeKey: "low-balance:acct_1:1"}
	tests := []struct {
		name   string
		change func(e *control.Email)
		want   string
	}{
		{"valid", func(*control.Email) {}, ""},
		{"no account", func(e *control.Email) { e.AccountID = "" }, control.EINVALID},
		{"address with a name", func(e *control.Email) { e.To = "Ada <ada@example.com>" }, control.EINVALID},
		{"not an address", func(e *control.Email) { e.To = "ada" }, control.EINVALID},
		{"header injection in the subject", func(e *control.Email) { e.Subject = "Low\r\nBcc: x@example.com" }, control.EINVALID},
		{"no subject", func(e *control.Email) { e.Subject = " " }, control.EINVALID},
		{"no text", func(e *control.Email) { e.Text = "" }, control.EINVALID},
		{"no dedupe key", func(e *control.Email) { e.DedupeKey = "" }, control.EINVALID},
		{"text too long", func(e *control.Email) { e.Text = strings.Repeat("a", 65<<10) }, control.EINVALID},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid
			e.DedupeKey = valid.DedupeKey + ":" + string(rune('a'+i))
			tt.change(&e)
			_, err := svc.EnqueueEmail(ctx, e)
			if got := control.ErrorCode(err); got != tt.want {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), "ada@") || strings.Contains(err.Error(), "Bcc")) {
				t.Errorf("error echoes the value: %v", err)
			}
		})
	}

	first, err := svc.EnqueueEmail(ctx, valid)
	if err != nil || !first {
		t.Fatalf("first enqueue: %v, %v", first, err)
	}
	again := valid
	again.Subject = "Another subject"
	if dup, err := svc.EnqueueEmail(ctx, again); err != nil || dup {
		t.Fatalf("second enqueue with the same key: queued=%v, %v", dup, err)
	}
	box, err := svc.OutboxEmails(ctx, control.OutboxQueued, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range box {
		if e.DedupeKey == valid.DedupeKey {
			n++
			if e.Subject != "Low" || e.Status != control.OutboxQueued || !e.NextAttemptAt.Equal(controltest.Epoch) {
				t.Errorf("stored %+v", e)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d emails with the key, want 1", n)
	}
	// Without a Mailer nothing is sent and nothing is lost.
	if sent, err := svc.DeliverEmails(ctx); sent != 0 || err != nil {
		t.Fatalf("deliver without a mailer: %d, %v", sent, err)
	}
	if _, err := svc.OutboxEmails(ctx, "bogus", 10); control.ErrorCode(err) != control.EINVALID {
		t.Errorf("unknown status: %v", err)
	}
}
