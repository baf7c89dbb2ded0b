// Package billing takes card payments for the control service through
// Stripe (github.com/stripe/stripe-go/v76): customers, Checkout Sessions
// for top-ups, off-session charges of a saved card for auto top-up, and
// signed webhook events. It implements control.PaymentProcessor; the rules
// (amounts, exactly-once crediting) are control's.
//
// The client is built per Stripe value with client.New and its own
// backends, never through stripe-go's package globals (stripe.Key), so
// several configurations can live in one process and tests can point one
// at stripe-mock.
package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/switchyard-ai/switchyard/control"
)

// Config configures a Stripe processor. Each field's default is stated
// beside it.
type Config struct {
	// SecretKey is the Stripe API key (sk_live_… or sk_test_…). Required.
	SecretKey string
	// WebhookSecret is the webhook endpoint's signing secret (whsec_…).
	// Required: without it no event could be trusted.
	WebhookSecret string
	// WebhookTolerance is how old a delivery's signed timestamp may be, so
	// a captured delivery cannot be replayed later. Default 5 minutes
	// (Stripe's default).
	WebhookTolerance time.Duration
	// APIURL is Stripe's API root. Default https://api.stripe.com; tests
	// point it at stripe-mock.
	APIURL string
	// HTTPClient makes the API calls. Default a client with a 30s timeout.
	HTTPClient *http.Client
	// MaxNetworkRetries is how often stripe-go retries a request that
	// failed on the network or with a 409/429/5xx; idempotency keys make
	// the retries safe. Default 2; negative means none.
	MaxNetworkRetries int
	// ProductName names the credits on Stripe's payment page and receipts.
	// Default "Switchyard credits".
	ProductName string
}

// Stripe is a control.PaymentProcessor over Stripe. It is safe for
// concurrent use.
type Stripe struct {
	api *client.API
	cfg Config
}

var _ control.PaymentProcessor = (*Stripe)(nil)

// New returns a Stripe processor. It does no I/O.
//
// # Errors
//
// When SecretKey or WebhookSecret is missing.
func New(cfg Config) (*Stripe, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("billing: the Stripe secret key is required")
	}
	if cfg.WebhookSecret == "" {
		return nil, errors.New("billing: the Stripe webhook signing secret is required")
	}
	if cfg.WebhookTolerance <= 0 {
		cfg.WebhookTolerance = webhook.DefaultTolerance
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	retries := int64(cfg.MaxNetworkRetries)
	if cfg.MaxNetworkRetries == 0 {
		retries = 2
	} else if retries < 0 {
		retries = 0
	}
	if cfg.ProductName == "" {
		cfg.ProductName = "Switchyard credits"
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        cfg.HTTPClient,
		MaxNetworkRetries: stripe.Int64(retries),
		// Failures are returned and logged by the caller, with context.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.APIURL != "" {
		bc.URL = stripe.String(strings.TrimRight(cfg.APIURL, "/"))
	}
	backends := &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, bc),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, bc),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, bc),
	}
	return &Stripe{api: client.New(cfg.SecretKey, backends), cfg: cfg}, nil
}

// Metadata keys Switchyard puts on Stripe objects.
const (
	metaAccount = "account_id"
	metaKind    = "kind"
)

// CreateCustomer creates a customer for the account. The idempotency key
// is the account id, so a retry within Stripe's 24 hours gets the same
// customer back.
func (s *Stripe) CreateCustomer(ctx context.Context, accountID, email string) (string, error) {
	p := &stripe.CustomerParams{Email: stripe.String(email)}
	p.Context = ctx
	p.AddMetadata(metaAccount, accountID)
	p.SetIdempotencyKey("switchyard-customer-" + accountID)
	c, err := s.api.Customers.New(p)
	if err != nil {
		return "", classify("create customer", err)
	}
	return c.ID, nil
}

// DeleteCustomer deletes a customer; Stripe then drops its email and
// payment methods, while its charges and payment intents stay. A customer
// Stripe does not know (deleted before) counts as deleted.
func (s *Stripe) DeleteCustomer(ctx context.Context, customerID string) error {
	p := &stripe.CustomerParams{}
	p.Context = ctx
	_, err := s.api.Customers.Del(customerID, p)
	var se *stripe.Error
	if errors.As(err, &se) && se.Code == stripe.ErrorCodeResourceMissing {
		return nil
	}
	if err != nil {
		return classify("delete customer", err)
	}
	return nil
}

// CreateCheckout creates a Checkout Session in payment mode for one line
// of credits. The account id travels as client_reference_id and in the
// metadata of the session and of its payment intent, so every event about
// the payment names the account; the card is saved for off-session use.
func (s *Stripe) CreateCheckout(ctx context.Context, c control.CheckoutRequest) (*control.CheckoutSession, error) {
	meta := map[string]string{metaAccount: c.AccountID, metaKind: control.PaymentKindCheckout}
	p := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		Customer:          stripe.String(c.CustomerID),
		ClientReferenceID: stripe.String(c.AccountID),
		SuccessURL:        stripe.String(c.SuccessURL),
		CancelURL:         stripe.String(c.CancelURL),
		LineItems: []*stripe.CheckoutSessionLineItemParams{{
			Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency:    stripe.String(c.Currency),
				UnitAmount:  stripe.Int64(c.AmountCents),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String(s.cfg.ProductName)},
			},
		}},
		PaymentIntentData: &stripe.CheckoutSessionPaymentIntentDataParams{
			SetupFutureUsage: stripe.String(string(stripe.PaymentIntentSetupFutureUsageOffSession)),
			Metadata:         meta,
		},
	}
	p.Context = ctx
	for k, v := range meta {
		p.AddMetadata(k, v)
	}
	cs, err := s.api.CheckoutSessions.New(p)
	if err != nil {
		return nil, classify("create checkout session", err)
	}
	if cs.URL == "" {
		return nil, fmt.Errorf("billing: checkout session %s has no URL", cs.ID)
	}
	return &control.CheckoutSession{ID: cs.ID, URL: cs.URL}, nil
}

// ChargeSavedCard creates and confirms an off-session PaymentIntent. A
// declined card, or one that needs the customer to authenticate, is a
// failed result, not an error.
func (s *Stripe) ChargeSavedCard(ctx context.Context, c control.SavedCardCharge) (*control.ChargeResult, error) {
	p := &stripe.PaymentIntentParams{
		Amount:        stripe.Int64(c.AmountCents),
		Currency:      stripe.String(c.Currency),
		Customer:      stripe.String(c.CustomerID),
		PaymentMethod: stripe.String(c.PaymentMethodID),
		Confirm:       stripe.Bool(true),
		OffSession:    stripe.Bool(true),
		Description:   stripe.String(s.cfg.ProductName + " (automatic top-up)"),
	}
	p.Context = ctx
	p.AddMetadata(metaAccount, c.AccountID)
	p.AddMetadata(metaKind, control.PaymentKindAutoTopUp)
	if c.IdempotencyKey != "" {
		p.SetIdempotencyKey(c.IdempotencyKey)
	}
	pi, err := s.api.PaymentIntents.New(p)
	var se *stripe.Error
	if errors.As(err, &se) && se.Type == stripe.ErrorTypeCard {
		res := &control.ChargeResult{Failed: true, Status: "card_error", FailureReason: reason(se)}
		if se.PaymentIntent != nil {
			res.PaymentIntentID, res.Status = se.PaymentIntent.ID, string(se.PaymentIntent.Status)
		}
		return res, nil
	}
	if err != nil {
		return nil, classify("charge saved card", err)
	}
	res := &control.ChargeResult{PaymentIntentID: pi.ID, Status: string(pi.Status)}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded, stripe.PaymentIntentStatusProcessing:
	case stripe.PaymentIntentStatusRequiresAction:
		res.Failed, res.FailureReason = true, "your bank asks you to confirm this payment; top up by card once to continue"
	default:
		res.Failed, res.FailureReason = true, "the saved card could not be charged"
		if pi.LastPaymentError != nil {
			res.FailureReason = reason(pi.LastPaymentError)
		}
	}
	return res, nil
}

// reason is Stripe's message for a card error, meant for the cardholder.
func reason(e *stripe.Error) string {
	msg := strings.TrimSpace(e.Msg)
	if msg == "" {
		msg = "the card was declined"
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

// classify marks failures the customer can only wait out (network, Stripe
// down or rate limiting, our key refused) as control.EUNAVAILABLE, keeping
// the cause for the log.
func classify(what string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		switch code := se.HTTPStatusCode; {
		case code >= 500, code == http.StatusTooManyRequests, code == http.StatusUnauthorized, code == http.StatusForbidden:
		default:
			return fmt.Errorf("billing: stripe %s: %w", what, err)
		}
	}
	return fmt.Errorf("billing: stripe %s: %w: %w", what,
		control.Errorf(control.EUNAVAILABLE, "the payment processor cannot be reached; please try again in a few minutes"), err)
}

// ParseWebhook verifies the Stripe-Signature header against the webhook
// secret and the tolerance, then reads the event. Events of an API version
// other than stripe-go's are accepted: only long-stable fields are read.
func (s *Stripe) ParseWebhook(payload []byte, signature string) (*control.PaymentEvent, error) {
	e, err := webhook.ConstructEventWithOptions(payload, signature, s.cfg.WebhookSecret, webhook.ConstructEventOptions{
		Tolerance: s.cfg.WebhookTolerance, IgnoreAPIVersionMismatch: true})
	if err != nil {
		if errors.Is(err, webhook.ErrNotSigned) || errors.Is(err, webhook.ErrInvalidHeader) ||
			errors.Is(err, webhook.ErrNoValidSignature) || errors.Is(err, webhook.ErrTooOld) {
			return nil, control.Errorf(control.EINVALID, "the Stripe-Signature header is missing, invalid or too old")
		}
		return nil, control.Errorf(control.EINVALID, "the body is not a Stripe event")
	}
	if e.ID == "" || e.Data == nil {
		return nil, control.Errorf(control.EINVALID, "the body is not a Stripe event")
	}
	ev := &control.PaymentEvent{ID: e.ID, Type: string(e.Type), Kind: control.PaymentIgnored,
		CreatedAt: time.Unix(e.Created, 0).UTC()}
	if err := readObject(e, ev); err != nil {
		return nil, control.Errorf(control.EINVALID, "the %s event's object is malformed", e.Type)
	}
	ev.Currency = strings.ToLower(ev.Currency)
	return ev, nil
}

// readObject fills ev from the event's object for the types billing acts
// on; any other type stays PaymentIgnored.
func readObject(e stripe.Event, ev *control.PaymentEvent) error {
	switch e.Type {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed":
		var cs stripe.CheckoutSession
		if err := json.Unmarshal(e.Data.Raw, &cs); err != nil {
			return err
		}
		ev.CheckoutSessionID, ev.AmountCents, ev.Currency = cs.ID, cs.AmountTotal, string(cs.Currency)
		ev.AccountID, ev.PaymentKind = cs.Metadata[metaAccount], cs.Metadata[metaKind]
		if ev.AccountID == "" {
			ev.AccountID = cs.ClientReferenceID
		}
		if cs.Customer != nil {
			ev.CustomerID = cs.Customer.ID
		}
		if cs.PaymentIntent != nil {
			ev.PaymentIntentID = cs.PaymentIntent.ID
		}
		switch {
		case e.Type == "checkout.session.async_payment_failed":
			ev.Kind, ev.FailureReason = control.PaymentFailed, "the payment did not go through"
		case cs.PaymentStatus == stripe.CheckoutSessionPaymentStatusPaid:
			ev.Kind = control.PaymentPaid
		}
	case "payment_intent.succeeded", "payment_intent.payment_failed":
		var pi stripe.PaymentIntent
		if err := json.Unmarshal(e.Data.Raw, &pi); err != nil {
			return err
		}
		ev.PaymentIntentID, ev.Currency = pi.ID, string(pi.Currency)
		ev.AccountID, ev.PaymentKind = pi.Metadata[metaAccount], pi.Metadata[metaKind]
		if pi.Customer != nil {
			ev.CustomerID = pi.Customer.ID
		}
		if pi.LatestCharge != nil {
			ev.ChargeID = pi.LatestCharge.ID
		}
		if e.Type == "payment_intent.succeeded" {
			ev.Kind, ev.AmountCents = control.PaymentPaid, pi.AmountReceived
			if pi.PaymentMethod != nil && pi.SetupFutureUsage == stripe.PaymentIntentSetupFutureUsageOffSession {
				ev.PaymentMethodID = pi.PaymentMethod.ID
			}
		} else {
			ev.Kind, ev.AmountCents = control.PaymentFailed, pi.Amount
			ev.FailureReason = "the payment did not go through"
			if pi.LastPaymentError != nil {
				ev.FailureReason = reason(pi.LastPaymentError)
			}
		}
	case "charge.refunded":
		var ch stripe.Charge
		if err := json.Unmarshal(e.Data.Raw, &ch); err != nil {
			return err
		}
		ev.Kind, ev.ChargeID, ev.Currency = control.PaymentRefunded, ch.ID, string(ch.Currency)
		ev.AmountCents, ev.RefundedCents = ch.Amount, ch.AmountRefunded
		ev.AccountID, ev.PaymentKind = ch.Metadata[metaAccount], ch.Metadata[metaKind]
		if ch.Customer != nil {
			ev.CustomerID = ch.Customer.ID
		}
		if ch.PaymentIntent != nil {
			ev.PaymentIntentID = ch.PaymentIntent.ID
		}
	}
	return nil
}
