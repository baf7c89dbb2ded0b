package control

import (
	"context"
	"time"
)

// EUNAVAILABLE means a service the request depends on (the payment
// processor) cannot be reached or refused us; the client may retry later.
// control/httpapi answers it with 503.
const EUNAVAILABLE = "unavailable"

// BillingConfig configures card top-ups. The zero value is usable; each
// field's default is stated beside it.
type BillingConfig struct {
	// MinTopUpMicros is the smallest top-up, by Checkout or automatic.
	// Default 5,000,000 ($5).
	MinTopUpMicros int64
	// MaxTopUpMicros is the largest top-up. Default 1,000,000,000 ($1000).
	MaxTopUpMicros int64
	// SuccessURL is where Stripe Checkout sends the customer after paying.
	// Stripe replaces {CHECKOUT_SESSION_ID} in it. Default
	// "http://localhost:8080/billing?checkout=success".
	SuccessURL string
	// CancelURL is where Stripe Checkout sends a customer who gives up.
	// Default "http://localhost:8080/billing?checkout=cancel".
	CancelURL string
	// AutoTopUpWindow is the least time between two automatic top-up
	// attempts of one account. Default 1 hour.
	AutoTopUpWindow time.Duration
	// ProcessorTimeout bounds each call to the payment processor. Default
	// 15s.
	ProcessorTimeout time.Duration
}

func (c BillingConfig) withDefaults() BillingConfig {
	if c.MinTopUpMicros == 0 {
		c.MinTopUpMicros = 5_000_000
	}
	if c.MaxTopUpMicros == 0 {
		c.MaxTopUpMicros = 1_000_000_000
	}
	if c.SuccessURL == "" {
		c.SuccessURL = "http://localhost:8080/billing?checkout=success"
	}
	if c.CancelURL == "" {
		c.CancelURL = "http://localhost:8080/billing?checkout=cancel"
	}
	if c.AutoTopUpWindow == 0 {
		c.AutoTopUpWindow = time.Hour
	}
	if c.ProcessorTimeout == 0 {
		c.ProcessorTimeout = 15 * time.Second
	}
	return c
}

func (c BillingConfig) validate() error {
	switch {
	case c.MinTopUpMicros <= 0 || c.MinTopUpMicros%MicrosPerCent != 0:
		return Errorf(EINVALID, "the minimum top-up must be a positive number of whole cents")
	case c.MaxTopUpMicros < c.MinTopUpMicros || c.MaxTopUpMicros > maxAdjustment || c.MaxTopUpMicros%MicrosPerCent != 0:
		return Errorf(EINVALID, "the maximum top-up must be whole cents, at least the minimum")
	case c.AutoTopUpWindow < time.Minute:
		return Errorf(EINVALID, "the auto top-up window must be at least a minute")
	case c.ProcessorTimeout <= 0:
		return Errorf(EINVALID, "the payment processor timeout must be positive")
	}
	return nil
}

// Money at the payment processor is in cents of BillingCurrency; credits are
// micro-dollars.
const (
	BillingCurrency = "usd"
	MicrosPerCent   = 10_000
)

// PaymentProcessor takes card payments: control/billing implements it over
// Stripe. Implementations return an *Error with EUNAVAILABLE (possibly
// wrapped, with the cause) when the processor cannot be reached or fails
// on its side.
type PaymentProcessor interface {
	// CreateCustomer creates the processor's customer for an account.
	// Repeating it for the same account soon after returns the same
	// customer, so a lost answer can be retried.
	CreateCustomer(ctx context.Context, accountID, email string) (customerID string, err error)
	// CreateCheckout opens a hosted payment page for a one-off top-up that
	// saves the card for later off-session charges.
	CreateCheckout(ctx context.Context, c CheckoutRequest) (*CheckoutSession, error)
	// ChargeSavedCard charges a saved card without the customer present.
	// A refused card is not an error: it comes back as a ChargeResult with
	// Failed set.
	ChargeSavedCard(ctx context.Context, c SavedCardCharge) (*ChargeResult, error)
	// DeleteCustomer deletes the processor's customer, and with it the
	// email and saved cards the processor holds for the account; payments
	// already made stay on the processor's books. Deleting a customer that
	// is already gone is not an error.
	DeleteCustomer(ctx context.Context, customerID string) error
	// ParseWebhook verifies a webhook delivery's signature and reads its
	// event. EINVALID when the signature is wrong or too old, or the body
	// is not an event.
	ParseWebhook(payload []byte, signature string) (*PaymentEvent, error)
}

// CheckoutRequest is a top-up to collect through a hosted payment page.
type CheckoutRequest struct {
	AccountID   string
	CustomerID  string
	AmountCents int64
	Currency    string
	SuccessURL  string
	CancelURL   string
}

// CheckoutSession is a hosted payment page to send the customer to.
type CheckoutSession struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// SavedCardCharge is an off-session charge of a saved card.
type SavedCardCharge struct {
	AccountID       string
	CustomerID      string
	PaymentMethodID string
	AmountCents     int64
	Currency        string
	// IdempotencyKey makes a retried request the same charge.
	IdempotencyKey string
}

// ChargeResult is what the processor said about an off-session charge.
// Success is confirmed later by a webhook event, like every payment.
type ChargeResult struct {
	PaymentIntentID string
	Status          string
	Failed          bool
	// FailureReason is the processor's explanation, safe to show the
	// customer ("Your card was declined.").
	FailureReason string
}

// Payment event kinds, as the processor's events map onto them.
const (
	// PaymentPaid: checkout.session.completed (paid) and
	// payment_intent.succeeded. Both arrive for one Checkout payment; the
	// payment intent id makes the credit happen once.
	PaymentPaid = "paid"
	// PaymentFailed: payment_intent.payment_failed.
	PaymentFailed = "failed"
	// PaymentRefunded: charge.refunded, carrying the total refunded so far.
	PaymentRefunded = "refunded"
	// PaymentIgnored: events that change nothing here, recorded as
	// processed all the same.
	PaymentIgnored = "ignored"
)

// Payment kinds: how a payment was started.
const (
	PaymentKindCheckout  = "checkout"
	PaymentKindAutoTopUp = "auto_topup"
)

// PaymentEvent is a verified webhook event, read into what billing needs.
type PaymentEvent struct {
	// ID is the processor's event id; each is applied once.
	ID string
	// Type is the processor's event type ("payment_intent.succeeded").
	Type string
	// Kind is PaymentPaid, PaymentFailed, PaymentRefunded or
	// PaymentIgnored.
	Kind string
	// PaymentKind is PaymentKindCheckout or PaymentKindAutoTopUp when the
	// payment carries it in its metadata.
	PaymentKind string
	// AccountID comes from the payment's metadata; empty when the object
	// has none (charges), and then the stored payment or the customer
	// decides.
	AccountID         string
	CustomerID        string
	PaymentIntentID   string
	CheckoutSessionID string
	ChargeID          string
	// PaymentMethodID is the card that paid, when it was saved for
	// off-session use.
	PaymentMethodID string
	AmountCents     int64
	// RefundedCents is the total refunded so far (PaymentRefunded).
	RefundedCents int64
	Currency      string
	// FailureReason explains a PaymentFailed event.
	FailureReason string
	CreatedAt     time.Time
}

// Payment statuses. A payment only moves forward: pending → failed →
// succeeded → partially_refunded → refunded (a failed attempt may be
// followed by a successful one of the same payment intent).
const (
	PaymentPending           = "pending"
	PaymentFailedStatus      = "failed"
	PaymentSucceeded         = "succeeded"
	PaymentPartiallyRefunded = "partially_refunded"
	PaymentRefundedStatus    = "refunded"
)

// Payment is a payment record: one payment intent at the processor. It is
// kept apart from the account (no foreign key), for 7 years, because tax
// and accounting rules outlive the account data.
type Payment struct {
	ID        int64  `json:"id"`
	AccountID string `json:"account_id"`
	Kind      string `json:"kind"`
	Status    string `json:"status"`
	// AmountCents and Currency are what the processor charged.
	AmountCents   int64  `json:"amount_cents"`
	Currency      string `json:"currency"`
	RefundedCents int64  `json:"refunded_cents"`
	// CreditedMicros is what the ledger was credited for it, and
	// RefundedMicros what it was debited for its refunds.
	CreditedMicros    int64      `json:"credited_micros"`
	RefundedMicros    int64      `json:"refunded_micros"`
	PaymentIntentID   string     `json:"stripe_payment_intent_id,omitempty"`
	CheckoutSessionID string     `json:"stripe_checkout_session_id,omitempty"`
	ChargeID          string     `json:"stripe_charge_id,omitempty"`
	CustomerID        string     `json:"stripe_customer_id,omitempty"`
	FailureReason     string     `json:"failure_reason,omitempty"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	SucceededAt       *time.Time `json:"succeeded_at,omitempty"`
}

// PaymentOutcome is what applying one event did.
type PaymentOutcome struct {
	// Duplicate: the event was applied before; nothing changed.
	Duplicate bool
	// UnknownAccount: the event names no account we have; it was recorded
	// and credited nobody.
	UnknownAccount bool
	// Payment is the record after the event; nil for ignored events.
	Payment *Payment
	// PreviousStatus is the record's status before the event; empty when
	// the event created it.
	PreviousStatus string
	// CreditedMicros and RefundedMicros are what this event moved.
	CreditedMicros int64
	RefundedMicros int64
	// BalanceMicros is the account's balance after the event.
	BalanceMicros int64
}

// AutoTopUp is an account's automatic top-up setting.
type AutoTopUp struct {
	Enabled bool `json:"enabled"`
	// ThresholdMicros: a top-up starts when the balance falls below it.
	ThresholdMicros int64 `json:"threshold_micros"`
	// AmountMicros is what each top-up buys, in whole cents.
	AmountMicros int64 `json:"amount_micros"`
}

// BillingState is an account's billing standing.
type BillingState struct {
	AccountID     string    `json:"account_id"`
	Email         string    `json:"-"`
	Name          string    `json:"-"`
	BalanceMicros int64     `json:"balance_micros"`
	AutoTopUp     AutoTopUp `json:"auto_topup"`
	// CardSaved: a card is saved for off-session charges.
	CardSaved       bool   `json:"card_saved"`
	CustomerID      string `json:"-"`
	PaymentMethodID string `json:"-"`
	// AutoTopUpAttemptedAt is the last automatic attempt.
	AutoTopUpAttemptedAt *time.Time `json:"auto_topup_attempted_at,omitempty"`
	// AutoTopUpFailedAt is set when the last automatic attempt failed;
	// automatic top-ups then stay off until the setting is saved again or
	// a payment succeeds, so a refused card is never retried in a loop.
	AutoTopUpFailedAt *time.Time `json:"auto_topup_failed_at,omitempty"`
	// LowBalanceNotified: the account was told its balance is low and has
	// not climbed back over the threshold since.
	LowBalanceNotified bool `json:"-"`
}

// Transaction is a ledger entry with the payment behind it, if any.
type Transaction struct {
	LedgerEntry
	Payment *Payment `json:"payment,omitempty"`
}

// BillingStore keeps Stripe customers, auto top-up settings, payment
// records and processed webhook events.
type BillingStore interface {
	// BillingStates returns the billing standing of each account in ids
	// that exists, in one read.
	BillingStates(ctx context.Context, ids []string) ([]BillingState, error)
	// SetCustomer stores the account's processor customer unless it has
	// one, and returns the one stored.
	SetCustomer(ctx context.Context, accountID, customerID string, at time.Time) (string, error)
	// SetAutoTopUp saves the setting and clears a paused failure.
	SetAutoTopUp(ctx context.Context, accountID string, a AutoTopUp, at time.Time) error
	// MarkLowBalance sets the account's low-balance flag to low and
	// reports whether it changed, so that of racing callers one wins; and,
	// when it was set, the number of that crossing (1, 2, …).
	MarkLowBalance(ctx context.Context, accountID string, low bool, at time.Time) (changed bool, crossing int64, err error)
	// ClaimAutoTopUp records an automatic attempt at at unless one was
	// made after notBefore or the last one failed, and reports whether it
	// did: of racing callers (replicas) at most one wins per window.
	ClaimAutoTopUp(ctx context.Context, accountID string, at, notBefore time.Time) (bool, error)
	// RecordAutoTopUp stores the payment an automatic attempt made (or
	// failed to make); when p.Status is failed it pauses auto top-up.
	RecordAutoTopUp(ctx context.Context, p *Payment) error
	// ApplyPaymentEvent applies ev in one transaction with the record that
	// it was applied: an event id seen before changes nothing. A paid
	// event credits the ledger once per payment intent, a refund debits
	// what was newly refunded, a failure is recorded; an event whose
	// account is unknown is recorded and moves no money. Only
	// BillingCurrency moves money; each cent is MicrosPerCent of credit.
	ApplyPaymentEvent(ctx context.Context, ev *PaymentEvent, at time.Time) (*PaymentOutcome, error)
	// Transactions lists the account's ledger entries with id below
	// before (0 for the newest), newest first, at most limit, each with
	// the payment behind it.
	Transactions(ctx context.Context, accountID string, before int64, limit int) ([]Transaction, error)
	// Payments lists the account's payment records with id below before
	// (0 for the newest), newest first, at most limit.
	Payments(ctx context.Context, accountID string, before int64, limit int) ([]Payment, error)
}

// BillingNotifier tells customers about their money; *BillingEmails does,
// through the email outbox. Each notice carries a Key that is the same
// whenever the same notice is due again, so an outbox sends it once.
// Errors are logged; they never undo the payment or usage that caused the
// notice.
type BillingNotifier interface {
	// TopUpReceipt: a payment was credited.
	TopUpReceipt(ctx context.Context, n TopUpReceipt) error
	// LowBalance: the balance fell below Config.LowBalanceMicros; called
	// once per crossing.
	LowBalance(ctx context.Context, n LowBalanceNotice) error
	// AutoTopUpFailed: an automatic top-up was refused; auto top-up is
	// paused until the customer saves its setting again.
	AutoTopUpFailed(ctx context.Context, n AutoTopUpFailure) error
}

// Recipient is who a billing notice goes to. Email and Name may be empty
// when the notifier is to look them up.
type Recipient struct {
	AccountID string
	Email     string
	Name      string
}

// TopUpReceipt is a receipt for a credited payment.
type TopUpReceipt struct {
	// Key is "receipt:<payment intent id>".
	Key string
	Recipient
	PaymentID       int64
	PaymentIntentID string
	// Kind is PaymentKindCheckout or PaymentKindAutoTopUp.
	Kind           string
	AmountCents    int64
	Currency       string
	CreditedMicros int64
	BalanceMicros  int64
	PaidAt         time.Time
}

// LowBalanceNotice warns that credits are running out.
type LowBalanceNotice struct {
	// Key is "low-balance:<account id>:<crossing number>".
	Key string
	Recipient
	BalanceMicros   int64
	ThresholdMicros int64
	At              time.Time
}

// AutoTopUpFailure says an automatic top-up did not go through.
type AutoTopUpFailure struct {
	// Key is "auto-topup-failed:<payment intent id>", or
	// "auto-topup-failed:payment-<payment id>" when no payment intent was
	// made; the charge and the processor's later failure event give the
	// same key.
	Key string
	Recipient
	PaymentID   int64
	AmountCents int64
	Currency    string
	// FailureReason is the processor's customer-safe explanation.
	FailureReason string
	BalanceMicros int64
	At            time.Time
}

// NopBillingNotifier tells nobody; it is Config.Notifier's default.
type NopBillingNotifier struct{}

var _ BillingNotifier = NopBillingNotifier{}

func (NopBillingNotifier) TopUpReceipt(context.Context, TopUpReceipt) error        { return nil }
func (NopBillingNotifier) LowBalance(context.Context, LowBalanceNotice) error      { return nil }
func (NopBillingNotifier) AutoTopUpFailed(context.Context, AutoTopUpFailure) error { return nil }
