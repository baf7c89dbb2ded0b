package libsql

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

func (s *Store) BillingStates(ctx context.Context, ids []string) ([]control.BillingState, error) {
	out := []control.BillingState{}
	for start := 0; start < len(ids); start += 500 {
		part := ids[start:min(start+500, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, `SELECT a.id, a.email, a.name, a.balance_micros,
				COALESCE(b.stripe_customer_id, ''), COALESCE(b.payment_method_id, ''),
				COALESCE(b.auto_topup_enabled, 0), COALESCE(b.auto_topup_threshold, 0), COALESCE(b.auto_topup_amount, 0),
				b.auto_topup_attempted_at, b.auto_topup_failed_at, COALESCE(b.low_balance_notified, 0)
			FROM accounts a LEFT JOIN billing_accounts b ON b.account_id = a.id
			WHERE a.id IN (`+placeholders(len(part))+`) ORDER BY a.id`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var st control.BillingState
			var attempted, failed sql.NullInt64
			if err := rows.Scan(&st.AccountID, &st.Email, &st.Name, &st.BalanceMicros, &st.CustomerID,
				&st.PaymentMethodID, &st.AutoTopUp.Enabled, &st.AutoTopUp.ThresholdMicros, &st.AutoTopUp.AmountMicros,
				&attempted, &failed, &st.LowBalanceNotified); err != nil {
				rows.Close()
				return nil, err
			}
			st.AutoTopUpAttemptedAt, st.AutoTopUpFailedAt = timePtr(attempted), timePtr(failed)
			st.CardSaved = st.CustomerID != "" && st.PaymentMethodID != ""
			out = append(out, st)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ensureBillingRow gives an account its billing row. ENOTFOUND for an
// unknown account.
func ensureBillingRow(ctx context.Context, tx *sql.Tx, accountID string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO billing_accounts (account_id, updated_at) VALUES (?, ?)
		ON CONFLICT (account_id) DO NOTHING`, accountID, ms(at))
	if isForeignKeyViolation(err) {
		return control.Errorf(control.ENOTFOUND, "account not found")
	}
	return err
}

func (s *Store) SetCustomer(ctx context.Context, accountID, customerID string, at time.Time) (string, error) {
	var stored string
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := ensureBillingRow(ctx, tx, accountID, at); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE billing_accounts SET stripe_customer_id = ?, updated_at = ?
			WHERE account_id = ? AND stripe_customer_id IS NULL`, customerID, ms(at), accountID); err != nil {
			if isUniqueViolation(err) {
				return control.Errorf(control.ECONFLICT, "the customer belongs to another account")
			}
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT stripe_customer_id FROM billing_accounts WHERE account_id = ?`,
			accountID).Scan(&stored)
	})
	return stored, err
}

func (s *Store) SetAutoTopUp(ctx context.Context, accountID string, a control.AutoTopUp, at time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := ensureBillingRow(ctx, tx, accountID, at); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE billing_accounts SET auto_topup_enabled = ?, auto_topup_threshold = ?,
				auto_topup_amount = ?, auto_topup_failed_at = NULL, updated_at = ?
			WHERE account_id = ?`, a.Enabled, a.ThresholdMicros, a.AmountMicros, ms(at), accountID)
		return err
	})
}

func (s *Store) MarkLowBalance(ctx context.Context, accountID string, low bool, at time.Time) (bool, int64, error) {
	var changed bool
	var crossing int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := ensureBillingRow(ctx, tx, accountID, at); err != nil {
			return err
		}
		err := tx.QueryRowContext(ctx, `UPDATE billing_accounts SET low_balance_notified = ?,
				low_balance_crossings = low_balance_crossings + ?, updated_at = ?
			WHERE account_id = ? AND low_balance_notified <> ? RETURNING low_balance_crossings`,
			low, low, ms(at), accountID, low).Scan(&crossing)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		changed = err == nil
		return err
	})
	return changed, crossing, err
}

func (s *Store) ClaimAutoTopUp(ctx context.Context, accountID string, at, notBefore time.Time) (bool, error) {
	var won bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE billing_accounts SET auto_topup_attempted_at = ?, updated_at = ?
			WHERE account_id = ? AND auto_topup_enabled = 1 AND auto_topup_failed_at IS NULL
				AND (auto_topup_attempted_at IS NULL OR auto_topup_attempted_at <= ?)`,
			ms(at), ms(at), accountID, ms(notBefore))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		won = n == 1
		return err
	})
	return won, err
}

func (s *Store) RecordAutoTopUp(ctx context.Context, p *control.Payment) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		// The processor's webhook may have recorded the payment intent
		// already; then its record stands.
		err := tx.QueryRowContext(ctx, `INSERT INTO payments (account_id, kind, status, amount_cents, currency,
				stripe_payment_intent_id, stripe_customer_id, failure_reason, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (stripe_payment_intent_id) DO UPDATE SET kind = excluded.kind
			RETURNING id, status`,
			p.AccountID, control.PaymentKindAutoTopUp, p.Status, p.AmountCents, p.Currency, nullString(p.PaymentIntentID),
			p.CustomerID, p.FailureReason, ms(p.CreatedAt), ms(p.UpdatedAt)).Scan(&p.ID, &p.Status)
		if err != nil {
			return err
		}
		if p.Status == control.PaymentFailedStatus {
			_, err = tx.ExecContext(ctx, `UPDATE billing_accounts SET auto_topup_failed_at = ?, updated_at = ?
				WHERE account_id = ?`, ms(p.UpdatedAt), ms(p.UpdatedAt), p.AccountID)
		}
		return err
	})
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

const paymentColumns = `id, account_id, kind, status, amount_cents, currency, refunded_cents, credited_micros, refunded_micros,
	COALESCE(stripe_payment_intent_id, ''), COALESCE(stripe_checkout_session_id, ''), COALESCE(stripe_charge_id, ''),
	stripe_customer_id, failure_reason, created_at, updated_at, succeeded_at`

func scanPayment(row scanner) (*control.Payment, error) {
	var p control.Payment
	var created, updated int64
	var succeeded sql.NullInt64
	if err := row.Scan(&p.ID, &p.AccountID, &p.Kind, &p.Status, &p.AmountCents, &p.Currency, &p.RefundedCents,
		&p.CreditedMicros, &p.RefundedMicros, &p.PaymentIntentID, &p.CheckoutSessionID, &p.ChargeID, &p.CustomerID, &p.FailureReason,
		&created, &updated, &succeeded); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt, p.SucceededAt = fromMs(created), fromMs(updated), timePtr(succeeded)
	return &p, nil
}

// statusRank orders payment statuses: a payment only moves forward, so
// events delivered out of order cannot undo each other.
var statusRank = map[string]int{
	control.PaymentPending:           0,
	control.PaymentFailedStatus:      1,
	control.PaymentSucceeded:         2,
	control.PaymentPartiallyRefunded: 3,
	control.PaymentRefundedStatus:    4,
}

func advance(p *control.Payment, status string) {
	if statusRank[status] > statusRank[p.Status] {
		p.Status = status
	}
}

// Event outcomes as stripe_events records them.
const (
	eventApplied        = "applied"
	eventIgnored        = "ignored"
	eventUnknownAccount = "unknown_account"
)

func (s *Store) ApplyPaymentEvent(ctx context.Context, ev *control.PaymentEvent, at time.Time) (*control.PaymentOutcome, error) {
	var out *control.PaymentOutcome
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = &control.PaymentOutcome{}
		res, err := tx.ExecContext(ctx, `INSERT INTO stripe_events (id, type, outcome, account_id, payment_intent_id,
				created_at, received_at)
			VALUES (?, ?, '', ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			ev.ID, ev.Type, ev.AccountID, ev.PaymentIntentID, ms(ev.CreatedAt), ms(at))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			out.Duplicate = err == nil
			return err
		}
		outcome, accountID, err := applyEvent(ctx, tx, ev, at, out)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE stripe_events SET outcome = ?, account_id = ? WHERE id = ?`,
			outcome, accountID, ev.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// applyEvent applies a new event to its payment record and the ledger and
// returns the outcome to record with the account it concerned.
func applyEvent(ctx context.Context, tx *sql.Tx, ev *control.PaymentEvent, at time.Time,
	out *control.PaymentOutcome) (string, string, error) {
	if ev.Kind == control.PaymentIgnored || ev.PaymentIntentID == "" {
		return eventIgnored, ev.AccountID, nil
	}
	p, err := scanPayment(tx.QueryRowContext(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE stripe_payment_intent_id = ?`, ev.PaymentIntentID))
	if errors.Is(err, sql.ErrNoRows) {
		p, err = insertPayment(ctx, tx, ev, at)
	} else if err == nil {
		out.PreviousStatus = p.Status
	}
	if err != nil {
		return "", "", err
	}
	account, known, err := resolveAccount(ctx, tx, p, ev)
	if err != nil {
		return "", "", err
	}
	if p.AccountID == "" {
		p.AccountID = account
	}
	if p.AmountCents == 0 && ev.AmountCents > 0 {
		p.AmountCents = ev.AmountCents
	}
	if p.Currency == "" {
		p.Currency = ev.Currency
	}
	if ev.PaymentKind == control.PaymentKindAutoTopUp {
		p.Kind = ev.PaymentKind
	}
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&p.CheckoutSessionID, ev.CheckoutSessionID}, {&p.ChargeID, ev.ChargeID}, {&p.CustomerID, ev.CustomerID},
	} {
		if *f.dst == "" {
			*f.dst = f.v
		}
	}
	switch ev.Kind {
	case control.PaymentPaid:
		advance(p, control.PaymentSucceeded)
		if known {
			if err := savedCard(ctx, tx, account, ev.PaymentMethodID, at); err != nil {
				return "", "", err
			}
		}
	case control.PaymentFailed:
		advance(p, control.PaymentFailedStatus)
		if p.Status == control.PaymentFailedStatus && ev.FailureReason != "" {
			p.FailureReason = ev.FailureReason
		}
		if known && p.Kind == control.PaymentKindAutoTopUp && p.Status == control.PaymentFailedStatus {
			if _, err := tx.ExecContext(ctx, `UPDATE billing_accounts SET auto_topup_failed_at = ?, updated_at = ?
				WHERE account_id = ?`, ms(at), ms(at), account); err != nil {
				return "", "", err
			}
		}
	case control.PaymentRefunded:
		// Stripe reports the total refunded; totals delivered late are
		// smaller and change nothing.
		p.RefundedCents = max(p.RefundedCents, ev.RefundedCents)
		if p.AmountCents > 0 && p.RefundedCents >= p.AmountCents {
			advance(p, control.PaymentRefundedStatus)
		} else if p.RefundedCents > 0 {
			advance(p, control.PaymentPartiallyRefunded)
		}
	}
	if statusRank[p.Status] >= statusRank[control.PaymentSucceeded] && p.SucceededAt == nil {
		t := at
		p.SucceededAt = &t
	}
	// Money moves only for accounts we know, in the currency credits are
	// sold in; settling here, rather than per event kind, catches up when
	// a later event names the account of an earlier one.
	if known && p.Currency == control.BillingCurrency {
		if err := settle(ctx, tx, account, p, at, out); err != nil {
			return "", "", err
		}
	}
	p.UpdatedAt = at
	if _, err := tx.ExecContext(ctx, `UPDATE payments SET account_id = ?, kind = ?, status = ?, amount_cents = ?, currency = ?,
			refunded_cents = ?, credited_micros = ?, refunded_micros = ?, stripe_checkout_session_id = ?,
			stripe_charge_id = ?, stripe_customer_id = ?, failure_reason = ?, updated_at = ?, succeeded_at = ?
		WHERE id = ?`, p.AccountID, p.Kind, p.Status, p.AmountCents, p.Currency, p.RefundedCents, p.CreditedMicros,
		p.RefundedMicros,
		nullString(p.CheckoutSessionID), nullString(p.ChargeID), p.CustomerID, p.FailureReason, ms(p.UpdatedAt),
		msPtr(p.SucceededAt), p.ID); err != nil {
		return "", "", err
	}
	out.Payment = p
	if !known {
		out.UnknownAccount = true
		return eventUnknownAccount, account, nil
	}
	return eventApplied, account, nil
}

// settle brings the ledger in line with the payment: credited once it has
// succeeded (a refund implies it did), debited for whatever was refunded
// beyond what was debited before. Each movement carries a ref unique to
// it, so the ledger refuses a second one.
func settle(ctx context.Context, tx *sql.Tx, account string, p *control.Payment, at time.Time,
	out *control.PaymentOutcome) error {
	if statusRank[p.Status] >= statusRank[control.PaymentSucceeded] && p.CreditedMicros == 0 && p.AmountCents > 0 {
		e := &control.LedgerEntry{AccountID: account, Kind: control.LedgerTopUp,
			AmountMicros: p.AmountCents * control.MicrosPerCent, Ref: p.PaymentIntentID, Note: topUpNote(p.Kind),
			CreatedAt: at}
		switch err := appendLedger(ctx, tx, e); {
		case control.ErrorCode(err) == control.ECONFLICT:
			// Credited under this ref by other means (an operator); never
			// twice.
		case err != nil:
			return err
		default:
			p.CreditedMicros = e.AmountMicros
			out.CreditedMicros, out.BalanceMicros = e.AmountMicros, e.BalanceAfterMicros
		}
	}
	if due := p.RefundedCents*control.MicrosPerCent - p.RefundedMicros; due > 0 {
		e := &control.LedgerEntry{AccountID: account, Kind: control.LedgerRefund, AmountMicros: -due,
			Ref:  p.PaymentIntentID + "/refunded/" + strconv.FormatInt(p.RefundedCents, 10),
			Note: "card payment refunded", CreatedAt: at}
		switch err := appendLedger(ctx, tx, e); {
		case control.ErrorCode(err) == control.ECONFLICT:
		case err != nil:
			return err
		default:
			out.RefundedMicros, out.BalanceMicros = due, e.BalanceAfterMicros
		}
		p.RefundedMicros += due
	}
	return nil
}

func topUpNote(kind string) string {
	if kind == control.PaymentKindAutoTopUp {
		return "automatic top-up by card"
	}
	return "top-up by card"
}

// insertPayment records a payment intent first seen in ev.
func insertPayment(ctx context.Context, tx *sql.Tx, ev *control.PaymentEvent, at time.Time) (*control.Payment, error) {
	kind := ev.PaymentKind
	if kind != control.PaymentKindAutoTopUp {
		kind = control.PaymentKindCheckout
	}
	p := &control.Payment{Kind: kind, Status: control.PaymentPending, AmountCents: ev.AmountCents,
		Currency: strings.ToLower(ev.Currency), PaymentIntentID: ev.PaymentIntentID, CreatedAt: at, UpdatedAt: at}
	err := tx.QueryRowContext(ctx, `INSERT INTO payments (account_id, kind, status, amount_cents, currency,
			stripe_payment_intent_id, created_at, updated_at)
		VALUES ('', ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.Kind, p.Status, p.AmountCents, p.Currency, p.PaymentIntentID, ms(at), ms(at)).Scan(&p.ID)
	return p, err
}

// resolveAccount finds whose payment p is: the account it was recorded
// for, else the event's metadata, else the owner of its customer; and
// whether that account exists.
func resolveAccount(ctx context.Context, tx *sql.Tx, p *control.Payment, ev *control.PaymentEvent) (string, bool, error) {
	account := p.AccountID
	if account == "" {
		account = ev.AccountID
	}
	if account == "" && ev.CustomerID != "" {
		err := tx.QueryRowContext(ctx, `SELECT account_id FROM billing_accounts WHERE stripe_customer_id = ?`,
			ev.CustomerID).Scan(&account)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", false, err
		}
	}
	if account == "" {
		return "", false, nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM accounts WHERE id = ?`, account).Scan(&n); err != nil {
		return "", false, err
	}
	return account, n > 0, nil
}

// savedCard remembers the card a payment saved for off-session use; any
// successful payment also resumes an auto top-up paused by a failure.
func savedCard(ctx context.Context, tx *sql.Tx, accountID, paymentMethodID string, at time.Time) error {
	if err := ensureBillingRow(ctx, tx, accountID, at); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE billing_accounts SET
			payment_method_id = CASE WHEN ? <> '' THEN ? ELSE payment_method_id END,
			auto_topup_failed_at = NULL, updated_at = ?
		WHERE account_id = ?`, paymentMethodID, paymentMethodID, ms(at), accountID)
	return err
}

func (s *Store) Transactions(ctx context.Context, accountID string, before int64, limit int) ([]control.Transaction, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, account_id, kind, amount_micros, balance_after_micros,
			COALESCE(ref, ''), note, created_at
		FROM ledger_entries WHERE account_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, accountID, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []control.Transaction{}
	var intents []any
	for rows.Next() {
		var t control.Transaction
		var created int64
		if err := rows.Scan(&t.ID, &t.AccountID, &t.Kind, &t.AmountMicros, &t.BalanceAfterMicros, &t.Ref, &t.Note,
			&created); err != nil {
			return nil, err
		}
		t.CreatedAt = fromMs(created)
		if pi := paymentIntentOf(&t.LedgerEntry); pi != "" {
			intents = append(intents, pi)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(intents) == 0 {
		return out, nil
	}
	byIntent := map[string]*control.Payment{}
	prows, err := s.db.QueryContext(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE account_id = ? AND stripe_payment_intent_id IN (`+placeholders(len(intents))+`)`,
		append([]any{accountID}, intents...)...)
	if err != nil {
		return nil, err
	}
	defer prows.Close()
	for prows.Next() {
		p, err := scanPayment(prows)
		if err != nil {
			return nil, err
		}
		byIntent[p.PaymentIntentID] = p
	}
	if err := prows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Payment = byIntent[paymentIntentOf(&out[i].LedgerEntry)]
	}
	return out, nil
}

// paymentIntentOf reads the payment intent id from the ref of a card
// top-up ("pi_…") or refund ("pi_…/refunded/<cents>") entry.
func paymentIntentOf(e *control.LedgerEntry) string {
	if e.Kind != control.LedgerTopUp && e.Kind != control.LedgerRefund || !strings.HasPrefix(e.Ref, "pi_") {
		return ""
	}
	pi, _, _ := strings.Cut(e.Ref, "/")
	return pi
}

func (s *Store) Payments(ctx context.Context, accountID string, before int64, limit int) ([]control.Payment, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE account_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, accountID, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []control.Payment{}
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}
