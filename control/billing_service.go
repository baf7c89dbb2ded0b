package control

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// payments returns the configured processor or EUNAVAILABLE.
func (s *Service) payments() (PaymentProcessor, error) {
	if s.cfg.Payments == nil {
		return nil, Errorf(EUNAVAILABLE, "card payments are not configured on this server")
	}
	return s.cfg.Payments, nil
}

// billingState returns one account's billing standing.
func (s *Service) billingState(ctx context.Context, accountID string) (*BillingState, error) {
	states, err := s.store.BillingStates(ctx, []string{accountID})
	if err != nil {
		return nil, err
	}
	if len(states) == 0 {
		return nil, Errorf(ENOTFOUND, "account not found")
	}
	return &states[0], nil
}

// BillingState returns the account's balance, auto top-up setting and
// whether a card is saved.
func (s *Service) BillingState(ctx context.Context, accountID string) (*BillingState, error) {
	return s.billingState(ctx, accountID)
}

// checkTopUpAmount checks a top-up against the configured bounds and
// returns it in cents.
func (s *Service) checkTopUpAmount(field string, micros int64) (int64, error) {
	b := &s.cfg.Billing
	if micros < b.MinTopUpMicros || micros > b.MaxTopUpMicros {
		return 0, Errorf(EINVALID, "%s must be between %d and %d micro-dollars ($%s to $%s)", field,
			b.MinTopUpMicros, b.MaxTopUpMicros, dollarString(b.MinTopUpMicros), dollarString(b.MaxTopUpMicros))
	}
	if micros%MicrosPerCent != 0 {
		return 0, Errorf(EINVALID, "%s must be a whole number of cents (a multiple of %d micro-dollars)", field, MicrosPerCent)
	}
	return micros / MicrosPerCent, nil
}

func dollarString(micros int64) string {
	return strconv.FormatFloat(float64(micros)/1e6, 'f', 2, 64)
}

// customer returns the account's processor customer, creating and storing
// it the first time. Two racing first calls may both create one at the
// processor (its idempotency key usually makes them the same); only the
// first stored is ever used.
func (s *Service) customer(ctx context.Context, p PaymentProcessor, st *BillingState) (string, error) {
	if st.CustomerID != "" {
		return st.CustomerID, nil
	}
	email, err := s.cfg.Keyring.Open(st.Email, st.AccountID, FieldEmail)
	if err != nil {
		return "", err
	}
	id, err := p.CreateCustomer(ctx, st.AccountID, email)
	if err != nil {
		return "", err
	}
	return s.store.SetCustomer(ctx, st.AccountID, id, s.now())
}

// Checkout opens a hosted payment page for a top-up of amountMicros, which
// must be whole cents within Config.Billing's bounds. The account's
// processor customer is created on first use. Credit arrives when the
// processor's webhook reports the payment (HandleWebhook).
//
// # Errors
//
// EINVALID for an amount out of range or not whole cents; EUNAVAILABLE
// when the processor cannot be reached (nothing is stored but, possibly,
// the customer, which is complete on its own).
func (s *Service) Checkout(ctx context.Context, accountID string, amountMicros int64) (*CheckoutSession, error) {
	cents, err := s.checkTopUpAmount("amount_micros", amountMicros)
	if err != nil {
		return nil, err
	}
	p, err := s.payments()
	if err != nil {
		return nil, err
	}
	st, err := s.billingState(ctx, accountID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Billing.ProcessorTimeout)
	defer cancel()
	cus, err := s.customer(ctx, p, st)
	if err != nil {
		return nil, err
	}
	return p.CreateCheckout(ctx, CheckoutRequest{AccountID: accountID, CustomerID: cus, AmountCents: cents,
		Currency: BillingCurrency, SuccessURL: s.cfg.Billing.SuccessURL, CancelURL: s.cfg.Billing.CancelURL})
}

// HandleWebhook verifies and applies one webhook delivery, exactly once
// per event id, even when deliveries of one event race (replicas). Paid
// events credit the ledger once per payment intent, refunds debit what was
// newly refunded, failures are recorded. An event for an account we do
// not know is recorded and logged at error level (metadata only), and
// answered as handled so the processor stops resending it.
//
// # Errors
//
// EINVALID for a bad or stale signature or a body that is not an event
// (nothing is applied); EUNAVAILABLE when payments are not configured;
// anything else is internal and the processor should retry.
func (s *Service) HandleWebhook(ctx context.Context, payload []byte, signature string) (*PaymentEvent, *PaymentOutcome, error) {
	p, err := s.payments()
	if err != nil {
		return nil, nil, err
	}
	ev, err := p.ParseWebhook(payload, signature)
	if err != nil {
		return nil, nil, err
	}
	out, err := s.applyPaymentEvent(ctx, ev)
	return ev, out, err
}

func (s *Service) applyPaymentEvent(ctx context.Context, ev *PaymentEvent) (*PaymentOutcome, error) {
	out, err := s.store.ApplyPaymentEvent(ctx, ev, s.now())
	if err != nil {
		return nil, fmt.Errorf("apply payment event %s: %w", ev.ID, err)
	}
	log := s.cfg.Logger.With("event_id", ev.ID, "event_type", ev.Type, "payment_intent", ev.PaymentIntentID)
	switch {
	case out.Duplicate:
		log.Debug("payment event already applied")
		return out, nil
	case out.UnknownAccount:
		log.Error("payment event for an unknown account: recorded, nothing credited",
			"account_id", ev.AccountID, "customer", ev.CustomerID, "amount_cents", ev.AmountCents, "currency", ev.Currency)
		return out, nil
	case out.Payment != nil && ev.Currency != "" && ev.Currency != BillingCurrency && ev.Kind != PaymentIgnored:
		log.Error("payment event in an unsupported currency: recorded, nothing credited", "currency", ev.Currency)
	}
	if out.Payment == nil {
		return out, nil
	}
	pay := out.Payment
	s.audit(WithActor(ctx, ActorSystem), AuditEntry{AccountID: pay.AccountID, Action: ActionPaymentApplied,
		Target: pay.PaymentIntentID, Detail: ev.Type + " → " + pay.Status})
	if out.CreditedMicros > 0 || ev.Kind == PaymentFailed && pay.Kind == PaymentKindAutoTopUp {
		st, err := s.billingState(ctx, pay.AccountID)
		if err != nil {
			log.Error("read billing state for a notice", "err", err)
			return out, nil
		}
		if out.CreditedMicros > 0 {
			err = s.cfg.Notifier.TopUpReceipt(ctx, TopUpReceipt{Key: "receipt:" + pay.PaymentIntentID,
				Recipient: s.recipient(st), PaymentID: pay.ID, PaymentIntentID: pay.PaymentIntentID, Kind: pay.Kind,
				AmountCents: pay.AmountCents, Currency: pay.Currency, CreditedMicros: out.CreditedMicros,
				BalanceMicros: out.BalanceMicros, PaidAt: s.now()})
		} else if pay.Status == PaymentFailedStatus && out.PreviousStatus != PaymentFailedStatus {
			err = s.cfg.Notifier.AutoTopUpFailed(ctx, s.failureNotice(st, pay, s.now()))
		}
		if err != nil {
			log.Error("billing notice failed", "account_id", pay.AccountID, "err", err)
		}
		s.reviewBalances(ctx, []BillingState{*st}, false)
	} else if out.RefundedMicros > 0 {
		s.afterBalanceChange(ctx, []string{pay.AccountID}, false)
	}
	return out, nil
}

// SetAutoTopUp saves the account's automatic top-up setting. Enabling it
// needs a card saved by an earlier top-up, an amount within the top-up
// bounds in whole cents, and a threshold between 0 and the largest
// top-up. Saving also resumes auto top-up paused by a failure.
//
// # Errors
//
// EINVALID for a bad amount or threshold; ECONFLICT when enabling without a
// saved card.
func (s *Service) SetAutoTopUp(ctx context.Context, accountID string, a AutoTopUp) (*BillingState, error) {
	if a.Enabled || a.AmountMicros != 0 {
		if _, err := s.checkTopUpAmount("amount_micros", a.AmountMicros); err != nil {
			return nil, err
		}
	}
	if a.ThresholdMicros < 0 || a.ThresholdMicros > s.cfg.Billing.MaxTopUpMicros {
		return nil, Errorf(EINVALID, "threshold_micros must be between 0 and %d", s.cfg.Billing.MaxTopUpMicros)
	}
	if a.Enabled {
		if _, err := s.payments(); err != nil {
			return nil, err
		}
		st, err := s.billingState(ctx, accountID)
		if err != nil {
			return nil, err
		}
		if !st.CardSaved {
			return nil, Errorf(ECONFLICT, "no card is saved yet: top up once by card, and that card is used for automatic top-ups")
		}
	}
	if err := s.store.SetAutoTopUp(ctx, accountID, a, s.now()); err != nil {
		return nil, err
	}
	return s.billingState(ctx, accountID)
}

// afterBalanceChange reviews accounts whose balance just moved: the
// low-balance notice (once per crossing) and, when autoTopUp, automatic
// top-ups. It runs after the change is committed; its failures are logged
// and never undo the change.
func (s *Service) afterBalanceChange(ctx context.Context, accountIDs []string, autoTopUp bool) {
	if len(accountIDs) == 0 || s.cfg.Payments == nil && s.cfg.Notifier == (BillingNotifier)(NopBillingNotifier{}) {
		return
	}
	states, err := s.store.BillingStates(ctx, accountIDs)
	if err != nil {
		s.cfg.Logger.Error("read billing states after a balance change", "err", err)
		return
	}
	s.reviewBalances(ctx, states, autoTopUp)
}

func (s *Service) reviewBalances(ctx context.Context, states []BillingState, autoTopUp bool) {
	now := s.now()
	for i := range states {
		st := &states[i]
		low := st.BalanceMicros < s.cfg.LowBalanceMicros
		if low != st.LowBalanceNotified {
			changed, crossing, err := s.store.MarkLowBalance(ctx, st.AccountID, low, now)
			if err != nil {
				s.cfg.Logger.Error("mark low balance", "account_id", st.AccountID, "err", err)
			} else if changed && low {
				err := s.cfg.Notifier.LowBalance(ctx, LowBalanceNotice{
					Key:       "low-balance:" + st.AccountID + ":" + strconv.FormatInt(crossing, 10),
					Recipient: s.recipient(st), BalanceMicros: st.BalanceMicros, ThresholdMicros: s.cfg.LowBalanceMicros,
					At: now})
				if err != nil {
					s.cfg.Logger.Error("low-balance notice failed", "account_id", st.AccountID, "err", err)
				}
			}
		}
		if autoTopUp && st.AutoTopUp.Enabled && st.BalanceMicros < st.AutoTopUp.ThresholdMicros &&
			st.AutoTopUpFailedAt == nil && s.cfg.Payments != nil {
			s.autoTopUp(ctx, st, now)
		}
	}
}

// autoTopUp charges the saved card once per window. The attempt is claimed
// in the database first, so replicas ingesting the same account's usage
// at once make one charge between them; a failure pauses auto top-up until
// the customer acts, so a refused card is never retried in a loop.
func (s *Service) autoTopUp(ctx context.Context, st *BillingState, now time.Time) {
	log := s.cfg.Logger.With("account_id", st.AccountID)
	won, err := s.store.ClaimAutoTopUp(ctx, st.AccountID, now, now.Add(-s.cfg.Billing.AutoTopUpWindow))
	if err != nil {
		log.Error("claim auto top-up", "err", err)
		return
	}
	if !won {
		return
	}
	cents := st.AutoTopUp.AmountMicros / MicrosPerCent
	pay := &Payment{AccountID: st.AccountID, Kind: PaymentKindAutoTopUp, Status: PaymentPending, AmountCents: cents,
		Currency: BillingCurrency, CustomerID: st.CustomerID, CreatedAt: now, UpdatedAt: now}
	// The processor call outlives the request that triggered it: an edge
	// giving up on its usage batch must not leave a charge half-made.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Billing.ProcessorTimeout)
	defer cancel()
	var res *ChargeResult
	switch {
	case st.CustomerID == "" || st.PaymentMethodID == "":
		res = &ChargeResult{Failed: true, FailureReason: "no card is saved for automatic top-ups"}
	default:
		res, err = s.cfg.Payments.ChargeSavedCard(pctx, SavedCardCharge{AccountID: st.AccountID, CustomerID: st.CustomerID,
			PaymentMethodID: st.PaymentMethodID, AmountCents: cents, Currency: BillingCurrency,
			IdempotencyKey: "auto-topup-" + st.AccountID + "-" + strconv.FormatInt(now.UnixMilli(), 10)})
		if err != nil {
			log.Error("auto top-up charge", "err", err)
			res = &ChargeResult{Failed: true, FailureReason: "the payment processor could not be reached"}
		}
	}
	pay.PaymentIntentID = res.PaymentIntentID
	if res.Failed {
		pay.Status, pay.FailureReason = PaymentFailedStatus, res.FailureReason
	}
	if err := s.store.RecordAutoTopUp(pctx, pay); err != nil {
		log.Error("record auto top-up", "payment_intent", pay.PaymentIntentID, "err", err)
		return
	}
	if !res.Failed {
		log.Info("auto top-up charged; credit follows the webhook", "payment_intent", pay.PaymentIntentID, "amount_cents", cents)
		return
	}
	log.Warn("auto top-up failed; paused until the customer acts", "payment_intent", pay.PaymentIntentID,
		"reason", pay.FailureReason)
	err = s.cfg.Notifier.AutoTopUpFailed(pctx, s.failureNotice(st, pay, now))
	if err != nil {
		log.Error("auto top-up failure notice failed", "err", err)
	}
}

// TransactionPage is one page of an account's transactions, newest first.
type TransactionPage struct {
	BalanceMicros int64         `json:"balance_micros"`
	Data          []Transaction `json:"data"`
	// NextCursor fetches the next (older) page; empty on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

// PaymentPage is one page of an account's payment records, newest first.
type PaymentPage struct {
	Data       []Payment `json:"data"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

const maxPageSize = 1000

func pageArgs(cursor string, limit int) (int64, int, error) {
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > maxPageSize {
		return 0, 0, Errorf(EINVALID, "limit must be between 1 and %d", maxPageSize)
	}
	var before int64
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, Errorf(EINVALID, "cursor is not one this API returned")
		}
		before = n
	}
	return before, limit, nil
}

// Transactions lists the account's ledger entries, newest first, each with
// the balance it left (BalanceAfterMicros, which always equals the sum of
// the entries up to it) and the payment behind top-ups and refunds. limit
// defaults to 100 (at most 1000); cursor is a page's NextCursor.
func (s *Service) Transactions(ctx context.Context, accountID, cursor string, limit int) (*TransactionPage, error) {
	before, limit, err := pageArgs(cursor, limit)
	if err != nil {
		return nil, err
	}
	a, err := s.store.Account(ctx, accountID)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.Transactions(ctx, accountID, before, limit+1)
	if err != nil {
		return nil, err
	}
	page := &TransactionPage{BalanceMicros: a.BalanceMicros, Data: rows}
	if len(rows) > limit {
		page.Data = rows[:limit]
		page.NextCursor = strconv.FormatInt(rows[limit-1].ID, 10)
	}
	return page, nil
}

// Payments lists the account's payment records (every status), newest
// first, paged as Transactions.
func (s *Service) Payments(ctx context.Context, accountID, cursor string, limit int) (*PaymentPage, error) {
	before, limit, err := pageArgs(cursor, limit)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.Payments(ctx, accountID, before, limit+1)
	if err != nil {
		return nil, err
	}
	page := &PaymentPage{Data: rows}
	if len(rows) > limit {
		page.Data = rows[:limit]
		page.NextCursor = strconv.FormatInt(rows[limit-1].ID, 10)
	}
	return page, nil
}

// debitedAccounts lists the accounts a usage batch may have debited.
func debitedAccounts(records []UsageRecord) []string {
	seen := make(map[string]bool, 4)
	var ids []string
	for i := range records {
		if id := records[i].AccountID; !seen[id] && records[i].CostMicros > 0 {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// recipient is who a notice about st goes to. The name and email are
// opened here, for the few states that get a notice, rather than for
// every state a usage batch reads; one that does not open leaves them
// empty (the notice is still recorded) and is logged.
func (s *Service) recipient(st *BillingState) Recipient {
	r := Recipient{AccountID: st.AccountID, Email: st.Email, Name: st.Name}
	if err := openFields(s.cfg.Keyring, st.AccountID, []sealedField{{FieldName, &r.Name}, {FieldEmail, &r.Email}}); err != nil {
		s.cfg.Logger.Error("open a billing notice's recipient", "account_id", st.AccountID, "err", err.Error())
		return Recipient{AccountID: st.AccountID}
	}
	return r
}

// failureNotice describes a failed automatic top-up. Sent from the charge
// and again from the processor's failure event, it has the same key both
// times.
func (s *Service) failureNotice(st *BillingState, p *Payment, at time.Time) AutoTopUpFailure {
	id := p.PaymentIntentID
	if id == "" {
		id = "payment-" + strconv.FormatInt(p.ID, 10)
	}
	return AutoTopUpFailure{Key: "auto-topup-failed:" + id, Recipient: s.recipient(st), PaymentID: p.ID,
		AmountCents: p.AmountCents, Currency: p.Currency, FailureReason: p.FailureReason,
		BalanceMicros: st.BalanceMicros, At: at}
}
