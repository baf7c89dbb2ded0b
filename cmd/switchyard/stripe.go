package main

import (
	"errors"
	"flag"
	"os"
	"strconv"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/billing"
)

// stripeFlags configure card top-ups for `switchyard control`. The keys
// come from the environment only, so they do not show in process listings.
type stripeFlags struct {
	secretKey     string
	webhookSecret string
	apiURL        string
	tolerance     time.Duration
	minMicros     int64
	maxMicros     int64
	successURL    string
	cancelURL     string
	window        time.Duration
}

func (f *stripeFlags) register(fs *flag.FlagSet) {
	f.secretKey = os.Getenv("SWITCHYARD_STRIPE_SECRET_KEY")
	f.webhookSecret = os.Getenv("SWITCHYARD_STRIPE_WEBHOOK_SECRET")
	fs.StringVar(&f.apiURL, "stripe-api-url", os.Getenv("SWITCHYARD_STRIPE_API_URL"), "Stripe API root; empty means https://api.stripe.com (env SWITCHYARD_STRIPE_API_URL)")
	tol, _ := time.ParseDuration(os.Getenv("SWITCHYARD_STRIPE_WEBHOOK_TOLERANCE"))
	fs.DurationVar(&f.tolerance, "stripe-webhook-tolerance", tol, "how old a webhook's signed timestamp may be; 0 means 5m (env SWITCHYARD_STRIPE_WEBHOOK_TOLERANCE)")
	lo, _ := strconv.ParseInt(os.Getenv("SWITCHYARD_TOPUP_MIN_MICROS"), 10, 64)
	fs.Int64Var(&f.minMicros, "topup-min-micros", lo, "smallest top-up in micro-dollars; 0 means 5000000 ($5) (env SWITCHYARD_TOPUP_MIN_MICROS)")
	hi, _ := strconv.ParseInt(os.Getenv("SWITCHYARD_TOPUP_MAX_MICROS"), 10, 64)
	fs.Int64Var(&f.maxMicros, "topup-max-micros", hi, "largest top-up in micro-dollars; 0 means 1000000000 ($1000) (env SWITCHYARD_TOPUP_MAX_MICROS)")
	fs.StringVar(&f.successURL, "checkout-success-url", os.Getenv("SWITCHYARD_CHECKOUT_SUCCESS_URL"), "where Stripe Checkout sends a customer who paid; empty means http://localhost:8080/billing?checkout=success (env SWITCHYARD_CHECKOUT_SUCCESS_URL)")
	fs.StringVar(&f.cancelURL, "checkout-cancel-url", os.Getenv("SWITCHYARD_CHECKOUT_CANCEL_URL"), "where Stripe Checkout sends a customer who gave up; empty means http://localhost:8080/billing?checkout=cancel (env SWITCHYARD_CHECKOUT_CANCEL_URL)")
	win, _ := time.ParseDuration(os.Getenv("SWITCHYARD_AUTO_TOPUP_WINDOW"))
	fs.DurationVar(&f.window, "auto-topup-window", win, "least time between two automatic top-ups of one account; 0 means 1h (env SWITCHYARD_AUTO_TOPUP_WINDOW)")
}

// apply sets cfg's billing from the flags; without a secret key billing is
// off and its routes answer 503. on reports which.
func (f *stripeFlags) apply(cfg *control.Config) (on bool, err error) {
	cfg.Billing = control.BillingConfig{MinTopUpMicros: f.minMicros, MaxTopUpMicros: f.maxMicros,
		SuccessURL: f.successURL, CancelURL: f.cancelURL, AutoTopUpWindow: f.window}
	if f.secretKey == "" {
		return false, nil
	}
	if f.webhookSecret == "" {
		return false, errors.New("SWITCHYARD_STRIPE_WEBHOOK_SECRET is required with SWITCHYARD_STRIPE_SECRET_KEY: without it no payment event could be trusted")
	}
	p, err := billing.New(billing.Config{SecretKey: f.secretKey, WebhookSecret: f.webhookSecret,
		WebhookTolerance: f.tolerance, APIURL: f.apiURL})
	if err != nil {
		return false, err
	}
	cfg.Payments = p
	return true, nil
}
