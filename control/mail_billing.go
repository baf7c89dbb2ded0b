package control

import (
	"context"
	"fmt"
	"html"
	"strings"
)

// The three billing emails, built from the notices BillingNotifier
// receives. They carry metadata only: amounts, balances, payment ids, the
// account's name and a link. Nothing a customer sent through the gateway
// can reach them, because nothing of it is stored.

// BillingLinks are the links the billing emails carry.
type BillingLinks struct {
	// TopUpURL is where the customer adds credits (the dashboard's billing
	// page). Default: no link.
	TopUpURL string
	// Product names the service in subjects and greetings. Default
	// "Switchyard".
	Product string
}

func (l BillingLinks) product() string {
	if l.Product == "" {
		return "Switchyard"
	}
	return l.Product
}

// FormatMicros writes an amount of micro-units as money, rounded to the
// cent: "$12.50" for USD, "12.50 EUR" otherwise.
func FormatMicros(micros int64, currency string) string {
	sign := ""
	if micros < 0 {
		sign, micros = "-", -micros
	}
	cents := (micros + 5_000) / 10_000
	n := fmt.Sprintf("%d.%02d", cents/100, cents%100)
	cur := strings.ToUpper(currency)
	if cur == "" || cur == "USD" {
		return sign + "$" + n
	}
	return sign + n + " " + cur
}

// ReceiptEmail builds the receipt for a credited payment.
func ReceiptEmail(n TopUpReceipt, l BillingLinks) Email {
	paid := FormatMicros(n.AmountCents*MicrosPerCent, n.Currency)
	lines := []string{
		fmt.Sprintf("Thank you: %s has been added to your %s balance.", FormatMicros(n.CreditedMicros, BillingCurrency),
			l.product()),
		"",
		"Amount paid:  " + paid,
		"New balance:  " + FormatMicros(n.BalanceMicros, BillingCurrency),
		"Payment:      " + n.PaymentIntentID,
	}
	if n.Kind == PaymentKindAutoTopUp {
		lines = append(lines, "Type:         automatic top-up")
	}
	if !n.PaidAt.IsZero() {
		lines = append(lines, "Date:         "+n.PaidAt.UTC().Format("2 January 2006 15:04 UTC"))
	}
	return billingEmail(n.Recipient, EmailTopUpReceipt, n.Key, fmt.Sprintf("Your %s receipt: %s", l.product(), paid),
		lines, l)
}

// LowBalanceEmail builds the warning that a balance fell below the
// threshold.
func LowBalanceEmail(n LowBalanceNotice, l BillingLinks) Email {
	balance := FormatMicros(n.BalanceMicros, BillingCurrency)
	lines := []string{
		fmt.Sprintf("Your %s balance is %s, below %s.", l.product(), balance,
			FormatMicros(n.ThresholdMicros, BillingCurrency)),
		"",
		"When it reaches zero, API requests are refused until you add credits.",
	}
	return billingEmail(n.Recipient, EmailLowBalance, n.Key, fmt.Sprintf("Your %s balance is low: %s", l.product(), balance),
		lines, l)
}

// AutoTopUpFailedEmail builds the notice that an automatic top-up failed.
func AutoTopUpFailedEmail(n AutoTopUpFailure, l BillingLinks) Email {
	reason := strings.TrimSpace(n.FailureReason)
	if reason == "" {
		reason = "the payment did not go through"
	}
	lines := []string{
		fmt.Sprintf("We could not top up your %s balance automatically with %s: %s", l.product(),
			FormatMicros(n.AmountCents*MicrosPerCent, n.Currency), strings.TrimSuffix(reason, ".")+"."),
		"",
		"Current balance: " + FormatMicros(n.BalanceMicros, BillingCurrency),
		"",
		"Automatic top-up is paused and will not retry this payment. Please check your card, then turn it on again or add credits yourself.",
	}
	return billingEmail(n.Recipient, EmailAutoTopUpFailed, n.Key, fmt.Sprintf("Your %s automatic top-up failed", l.product()),
		lines, l)
}

// billingEmail adds the link and the HTML alternative to a body of lines.
func billingEmail(r Recipient, kind, dedupe, subject string, lines []string, l BillingLinks) Email {
	if name := strings.TrimSpace(r.Name); name != "" {
		lines = append([]string{"Hello " + name + ",", ""}, lines...)
	}
	if l.TopUpURL != "" {
		lines = append(lines, "", "Add credits: "+l.TopUpURL)
	}
	footer := fmt.Sprintf("You receive this email because you have a %s account.", l.product())
	text := strings.Join(append(lines, "", "-- ", footer), "\n") + "\n"
	var h strings.Builder
	h.WriteString("<!doctype html><html><body style=\"font-family:sans-serif\">\n")
	for _, line := range lines {
		if line != "" {
			fmt.Fprintf(&h, "<p>%s</p>\n", html.EscapeString(line))
		}
	}
	if l.TopUpURL != "" {
		fmt.Fprintf(&h, "<p><a href=\"%s\">Add credits</a></p>\n", html.EscapeString(l.TopUpURL))
	}
	fmt.Fprintf(&h, "<p style=\"color:#666;font-size:small\">%s</p>\n</body></html>\n", html.EscapeString(footer))
	return Email{AccountID: r.AccountID, To: r.Email, Kind: kind, Subject: subject, Text: text, HTML: h.String(),
		DedupeKey: dedupe}
}

// BillingEmails is the BillingNotifier that writes each notice to the
// email outbox, once per notice Key, for a Service's sender to deliver. It
// needs only the Store, so it can be built before the Service it is
// configured into:
//
//	st, _ := libsql.Open(...)
//	svc := control.NewService(st, control.Config{Notifier: &control.BillingEmails{Outbox: st}, ...})
type BillingEmails struct {
	// Outbox is where emails go; required.
	Outbox OutboxStore
	// Clock stamps them. Default SystemClock.
	Clock Clock
	// Links are what the emails link to; see BillingLinks.
	Links BillingLinks
	// Keyring seals the queued emails' recipient, subject and bodies.
	// Default: the Service's Config.Keyring, set when NewService is given
	// this notifier.
	Keyring *Keyring
}

var _ BillingNotifier = (*BillingEmails)(nil)

// TopUpReceipt enqueues a receipt.
func (b *BillingEmails) TopUpReceipt(ctx context.Context, n TopUpReceipt) error {
	return b.enqueue(ctx, ReceiptEmail(n, b.Links))
}

// LowBalance enqueues a low-balance warning.
func (b *BillingEmails) LowBalance(ctx context.Context, n LowBalanceNotice) error {
	return b.enqueue(ctx, LowBalanceEmail(n, b.Links))
}

// AutoTopUpFailed enqueues a failure notice.
func (b *BillingEmails) AutoTopUpFailed(ctx context.Context, n AutoTopUpFailure) error {
	return b.enqueue(ctx, AutoTopUpFailedEmail(n, b.Links))
}

func (b *BillingEmails) enqueue(ctx context.Context, e Email) error {
	clock := b.Clock
	if clock == nil {
		clock = SystemClock
	}
	_, err := enqueueEmail(ctx, b.Outbox, b.Keyring, clock.Now().UTC(), e)
	return err
}
