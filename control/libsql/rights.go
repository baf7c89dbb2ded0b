package libsql

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

// ExportedTables are the tables with an account_id column whose rows
// AccountExport returns. TestExportCoversEveryAccountTable fails when a
// table with an account_id column is neither here nor in notExported.
var ExportedTables = []string{
	"tokens", "api_keys", "ledger_entries", "usage_records", "usage_rollups", "plugin_versions",
	"plugin_activations", "billing_accounts", "payments", "stripe_events", "email_outbox", "audit_log",
	"spend_guard",
}

// NotExported are tables with an account_id column that hold nothing
// about the person beyond what the export carries: bookkeeping of the
// retention job, and usage_daily, the per-day sums of the exported usage
// records.
var NotExported = []string{"account_erasures", "usage_daily"}

func (s *Store) UpdateProfile(ctx context.Context, a *control.Account, email control.EmailKey) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := emailFree(ctx, tx, email, a.ID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET name = ?, email = ?, email_lookup = NULLIF(?, ''),
				company = ?, billing_address = ?, phone = ?
			WHERE id = ? AND closed_at IS NULL`,
			a.Name, a.Email, email.Current, a.Company, a.BillingAddress, a.Phone, a.ID)
		if isUniqueViolation(err) {
			return errEmailTaken
		}
		return mustAffect(res, err)("account")
	})
}

func (s *Store) PasswordHash(ctx context.Context, accountID string) (string, error) {
	var hash string
	err := s.db.QueryRowContext(ctx, `SELECT password_hash FROM accounts WHERE id = ? AND closed_at IS NULL`,
		accountID).Scan(&hash)
	return hash, notFound(err, "account")
}

// each runs query and calls scan on each row.
func each(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *Store) AccountExport(ctx context.Context, accountID string) (*control.AccountExport, error) {
	a, err := s.Account(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if a.ClosedAt != nil {
		return nil, control.Errorf(control.ENOTFOUND, "account not found")
	}
	x := &control.AccountExport{Account: *a, Tokens: []control.Token{}, KeySpend: []control.KeySpend{},
		Ledger: []control.LedgerEntry{}, Payments: []control.Payment{}, PaymentEvents: []control.PaymentEventRecord{},
		PluginActivations: []control.PluginActivation{}, Emails: []control.EmailRecord{}, UsageRollups: []control.UsageRollup{}}
	id := []any{accountID}
	if err := each(ctx, s.db, `SELECT `+tokenColumns+` FROM tokens t WHERE t.account_id = ? ORDER BY t.created_at, t.id`, id,
		func(r *sql.Rows) error {
			t, err := scanToken(r)
			if err == nil {
				x.Tokens = append(x.Tokens, *t)
			}
			return err
		}); err != nil {
		return nil, fmt.Errorf("libsql: export tokens: %w", err)
	}
	if x.APIKeys, err = s.Keys(ctx, accountID); err != nil {
		return nil, fmt.Errorf("libsql: export keys: %w", err)
	}
	if err := each(ctx, s.db, `SELECT s.key_id, s.month, s.spend_micros FROM key_spend s JOIN api_keys k ON k.id = s.key_id
		WHERE k.account_id = ? ORDER BY s.month, s.key_id`, id, func(r *sql.Rows) error {
		var ks control.KeySpend
		err := r.Scan(&ks.KeyID, &ks.Month, &ks.SpendMicros)
		x.KeySpend = append(x.KeySpend, ks)
		return err
	}); err != nil {
		return nil, fmt.Errorf("libsql: export key spend: %w", err)
	}
	if err := each(ctx, s.db, `SELECT id, account_id, kind, amount_micros, balance_after_micros, COALESCE(ref, ''), note, created_at
		FROM ledger_entries WHERE account_id = ? ORDER BY id`, id, func(r *sql.Rows) error {
		var e control.LedgerEntry
		var created int64
		err := r.Scan(&e.ID, &e.AccountID, &e.Kind, &e.AmountMicros, &e.BalanceAfterMicros, &e.Ref, &e.Note, &created)
		e.CreatedAt = fromMs(created)
		x.Ledger = append(x.Ledger, e)
		return err
	}); err != nil {
		return nil, fmt.Errorf("libsql: export ledger: %w", err)
	}
	if err := each(ctx, s.db, `SELECT `+paymentColumns+` FROM payments WHERE account_id = ? ORDER BY id`, id,
		func(r *sql.Rows) error {
			p, err := scanPayment(r)
			if err == nil {
				x.Payments = append(x.Payments, *p)
			}
			return err
		}); err != nil {
		return nil, fmt.Errorf("libsql: export payments: %w", err)
	}
	if err := s.exportBilling(ctx, x); err != nil {
		return nil, err
	}
	if err := each(ctx, s.db, `SELECT id, type, outcome, payment_intent_id, created_at, received_at FROM stripe_events
		WHERE account_id = ? ORDER BY received_at, id`, id, func(r *sql.Rows) error {
		var e control.PaymentEventRecord
		var created, received int64
		err := r.Scan(&e.ID, &e.Type, &e.Outcome, &e.PaymentIntentID, &created, &received)
		e.CreatedAt, e.ReceivedAt = fromMs(created), fromMs(received)
		x.PaymentEvents = append(x.PaymentEvents, e)
		return err
	}); err != nil {
		return nil, fmt.Errorf("libsql: export payment events: %w", err)
	}
	if x.Plugins, err = s.Plugins(ctx, accountID); err != nil {
		return nil, fmt.Errorf("libsql: export plugins: %w", err)
	}
	if err := each(ctx, s.db, `SELECT id, key_id, COALESCE(plugin_id, ''), created_at FROM plugin_activations
		WHERE account_id = ? ORDER BY id`, id, func(r *sql.Rows) error {
		var pa control.PluginActivation
		var created int64
		err := r.Scan(&pa.ID, &pa.KeyID, &pa.PluginID, &created)
		pa.CreatedAt = fromMs(created)
		x.PluginActivations = append(x.PluginActivations, pa)
		return err
	}); err != nil {
		return nil, fmt.Errorf("libsql: export plugin activations: %w", err)
	}
	if err := each(ctx, s.db, `SELECT id, kind, recipient, subject, status, attempts, created_at, sent_at FROM email_outbox
		WHERE account_id = ? ORDER BY created_at, id`, id, func(r *sql.Rows) error {
		var e control.EmailRecord
		var created int64
		var sent sql.NullInt64
		err := r.Scan(&e.ID, &e.Kind, &e.To, &e.Subject, &e.Status, &e.Attempts, &created, &sent)
		e.CreatedAt, e.SentAt = fromMs(created), timePtr(sent)
		x.Emails = append(x.Emails, e)
		return err
	}); err != nil {
		return nil, fmt.Errorf("libsql: export emails: %w", err)
	}
	if err := each(ctx, s.db, `SELECT day, model, key_id, requests, input_tokens, cached_input_tokens, cache_write_tokens,
			output_tokens, reasoning_tokens, cost_micros
		FROM usage_rollups WHERE account_id = ? ORDER BY day, model, key_id`, id, func(r *sql.Rows) error {
		var u control.UsageRollup
		err := r.Scan(&u.Day, &u.Model, &u.KeyID, &u.Requests, &u.InputTokens, &u.CachedInputTokens, &u.CacheWriteTokens,
			&u.OutputTokens, &u.ReasoningTokens, &u.CostMicros)
		x.UsageRollups = append(x.UsageRollups, u)
		return err
	}); err != nil {
		return nil, fmt.Errorf("libsql: export usage rollups: %w", err)
	}
	if x.SpendGuard, err = s.SpendGuard(ctx, accountID); err != nil {
		return nil, fmt.Errorf("libsql: export spend guard: %w", err)
	}
	x.AuditLog = []control.AuditEntry{}
	for before := int64(0); ; {
		page, err := s.AuditEntries(ctx, accountID, before, 1000)
		if err != nil {
			return nil, fmt.Errorf("libsql: export audit log: %w", err)
		}
		x.AuditLog = append(x.AuditLog, page...)
		if len(page) < 1000 {
			break
		}
		before = page[len(page)-1].ID
	}
	return x, nil
}

func (s *Store) exportBilling(ctx context.Context, x *control.AccountExport) error {
	var b control.BillingSettings
	var attempted, failed sql.NullInt64
	var updated int64
	var paymentMethod string
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(stripe_customer_id, ''), payment_method_id, auto_topup_enabled,
			auto_topup_threshold, auto_topup_amount, auto_topup_attempted_at, auto_topup_failed_at, low_balance_notified, updated_at
		FROM billing_accounts WHERE account_id = ?`, x.Account.ID).Scan(&b.CustomerID, &paymentMethod, &b.AutoTopUp.Enabled,
		&b.AutoTopUp.ThresholdMicros, &b.AutoTopUp.AmountMicros, &attempted, &failed, &b.LowBalanceNotified, &updated)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("libsql: export billing: %w", err)
	}
	b.CardSaved = b.CustomerID != "" && paymentMethod != ""
	b.AutoTopUpAttemptedAt, b.AutoTopUpFailedAt, b.UpdatedAt = timePtr(attempted), timePtr(failed), fromMs(updated)
	x.Billing = &b
	return nil
}

func (s *Store) EachUsageRecord(ctx context.Context, accountID string, fn func(*control.UsageRecord) error) error {
	return each(ctx, s.db, `SELECT `+usageColumns+` FROM usage_records WHERE account_id = ? ORDER BY started_at, id`,
		[]any{accountID}, func(rows *sql.Rows) error {
			r, err := scanUsage(rows)
			if err != nil {
				return err
			}
			return fn(r)
		})
}

// RecentUsage returns up to limit of the account's records started in
// [from, to), newest first, through the (account_id, started_at) index.
func (s *Store) RecentUsage(ctx context.Context, accountID string, from, to time.Time, f control.UsageFilter, limit int) ([]control.UsageRecord, error) {
	out := []control.UsageRecord{}
	where, args := "account_id = ? AND started_at >= ? AND started_at < ?", []any{accountID, ms(from), ms(to)}
	if f.KeyID != "" {
		where, args = where+" AND key_id = ?", append(args, f.KeyID)
	}
	if f.Model != "" {
		where, args = where+" AND CASE WHEN served_model <> '' THEN served_model ELSE model END = ?", append(args, f.Model)
	}
	err := each(ctx, s.db, `SELECT `+usageColumns+` FROM usage_records
		WHERE `+where+` ORDER BY started_at DESC, id DESC LIMIT ?`,
		append(args, limit), func(rows *sql.Rows) error {
			r, err := scanUsage(rows)
			if err == nil {
				out = append(out, *r)
			}
			return err
		})
	return out, err
}

// scanUsage reads a row of usageColumns.
func scanUsage(rows *sql.Rows) (*control.UsageRecord, error) {
	var r control.UsageRecord
	var started, received int64
	var tags sql.NullString
	if err := rows.Scan(&r.RequestID, &r.AccountID, &r.KeyID, &started, &r.Endpoint, &r.Model, &r.ServedModel,
		&r.Provider, &r.Stream, &r.Status, &r.ErrorType, &r.FinishReason, &r.InputTokens, &r.CachedInputTokens,
		&r.CacheWriteTokens, &r.OutputTokens, &r.ReasoningTokens, &r.Estimated, &r.LatencyMs, &r.TTFBMs,
		&r.Attempts, &tags, &r.EdgeCostMicros, &r.CostMicros, &r.PricedBy, &r.EdgeID, &r.IngestID, &received); err != nil {
		return nil, err
	}
	r.StartedAt, r.ReceivedAt = fromMs(started), fromMs(received)
	if tags.Valid {
		if err := json.Unmarshal([]byte(tags.String), &r.Tags); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// queueProcessorErasure queues the account's payment-processor customer,
// if it has one, for deletion there; it takes the account id once.
const queueProcessorErasure = `INSERT INTO processor_erasures (customer_id, queued_at)
	SELECT b.stripe_customer_id, COALESCE(a.closed_at, 0) FROM billing_accounts b JOIN accounts a ON a.id = b.account_id
	WHERE b.account_id = ? AND b.stripe_customer_id IS NOT NULL AND b.stripe_customer_id <> ''
	ON CONFLICT (customer_id) DO NOTHING`

func (s *Store) ProcessorErasures(ctx context.Context, limit int) ([]string, error) {
	var out []string
	err := each(ctx, s.db, `SELECT customer_id FROM processor_erasures ORDER BY attempts, queued_at, customer_id LIMIT ?`,
		[]any{limit}, func(r *sql.Rows) error {
			var id string
			err := r.Scan(&id)
			out = append(out, id)
			return err
		})
	return out, err
}

func (s *Store) FinishProcessorErasure(ctx context.Context, customerID, failure string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if failure == "" {
			_, err := tx.ExecContext(ctx, `DELETE FROM processor_erasures WHERE customer_id = ?`, customerID)
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE processor_erasures SET attempts = attempts + 1, last_error = ?
			WHERE customer_id = ?`, failure, customerID)
		return err
	})
}

func (s *Store) CloseAccount(ctx context.Context, accountID string, at time.Time) (*control.Closure, error) {
	c := &control.Closure{AccountID: accountID, ClosedAt: at}
	err := s.write(ctx, func(tx *sql.Tx) error {
		*c = control.Closure{AccountID: accountID, ClosedAt: at}
		// The keys go first and stay, revoked: the edge then learns
		// "revoked" rather than "unknown", and usage it still reports
		// within its cache TTL is charged, not lost.
		steps := []struct {
			sql   string
			args  []any
			count *int64
		}{
			{`UPDATE accounts SET name = '', email = 'closed-' || id || '@invalid', email_lookup = NULL, company = '', billing_address = '',
				phone = '', password_hash = '', status = 'suspended', closed_at = ? WHERE id = ? AND closed_at IS NULL`,
				[]any{ms(at), accountID}, nil},
			{`UPDATE api_keys SET status = 'revoked', revoked_at = COALESCE(revoked_at, ?), name = '', allowed_models = '[]'
				WHERE account_id = ?`, []any{ms(at), accountID}, &c.KeysRevoked},
			{`DELETE FROM tokens WHERE account_id = ?`, []any{accountID}, &c.TokensDeleted},
			{`DELETE FROM plugin_activations WHERE account_id = ?`, []any{accountID}, nil},
			{`DELETE FROM plugin_versions WHERE account_id = ?`, []any{accountID}, &c.PluginsDeleted},
			{`DELETE FROM plugin_modules WHERE hash NOT IN (SELECT hash FROM plugin_versions)`, nil, nil},
			// The account's daily totals become rollups whole.
			{`INSERT INTO usage_rollups (` + cellColumns + `) SELECT ` + cellColumns + ` FROM usage_daily
				WHERE account_id = ? ` + addCells, []any{accountID}, nil},
			{`DELETE FROM usage_daily WHERE account_id = ?`, []any{accountID}, nil},
			{`DELETE FROM usage_records WHERE account_id = ?`, []any{accountID}, &c.UsageDeleted},
			{`DELETE FROM key_spend WHERE key_id IN (SELECT id FROM api_keys WHERE account_id = ?)`, []any{accountID}, nil},
			{queueProcessorErasure, []any{accountID}, nil},
			{`DELETE FROM billing_accounts WHERE account_id = ?`, []any{accountID}, nil},
			{`DELETE FROM email_outbox WHERE account_id = ?`, []any{accountID}, &c.EmailsDeleted},
			{`DELETE FROM spend_guard WHERE account_id = ?`, []any{accountID}, nil},
		}
		for i, st := range steps {
			res, err := tx.ExecContext(ctx, st.sql, st.args...)
			if i == 0 {
				if err := mustAffect(res, err)("account"); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			if st.count != nil {
				if *st.count, err = res.RowsAffected(); err != nil {
					return err
				}
			}
		}
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM payments WHERE account_id = ?`, accountID).Scan(&c.PaymentsRetained)
	})
	if err != nil {
		return nil, err
	}
	s.checkpoint(ctx)
	return c, nil
}

// checkpoint copies the write-ahead log into the database file and
// truncates it, so that erased (or re-sealed) values stop lingering in its
// old frames.
// secure_delete (see fileDSN) has zeroed them in the file itself. A reader
// holding an old snapshot can keep the checkpoint from finishing; the next
// one then does it, so failure here is not an error.
func (s *Store) checkpoint(ctx context.Context) {
	if s.writeSem == nil {
		return
	}
	var busy, logFrames, done int
	_ = s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done)
}

// sealedColumns maps each sealed field to where it is stored: table,
// owner column and value column. Owners are account ids, and outbox
// email ids for the outbox's fields.
var sealedColumns = map[string]struct{ table, owner, column string }{
	control.FieldName:           {"accounts", "id", "name"},
	control.FieldEmail:          {"accounts", "id", "email"},
	control.FieldCompany:        {"accounts", "id", "company"},
	control.FieldBillingAddress: {"accounts", "id", "billing_address"},
	control.FieldPhone:          {"accounts", "id", "phone"},
	control.FieldEmailTo:        {"email_outbox", "id", "recipient"},
	control.FieldEmailSubject:   {"email_outbox", "id", "subject"},
	control.FieldEmailText:      {"email_outbox", "id", "text_body"},
	control.FieldEmailHTML:      {"email_outbox", "id", "html_body"},
}

func sealedColumn(field string) (table, owner, column string, err error) {
	c, ok := sealedColumns[field]
	if !ok {
		return "", "", "", fmt.Errorf("libsql: %q is not a sealed field", field)
	}
	return c.table, c.owner, c.column, nil
}

func (s *Store) StaleSealed(ctx context.Context, field, keyID, afterOwner string, limit int) ([]control.SealedValue, error) {
	table, owner, column, err := sealedColumn(field)
	if err != nil {
		return nil, err
	}
	prefix := "v1:" + keyID + ":"
	stale, args := `substr(`+column+`, 1, ?) <> ?`, []any{afterOwner, len(prefix), prefix}
	if field == control.FieldEmail {
		// An open account's lookup must be under the current key too.
		stale = `(` + stale + ` OR closed_at IS NULL AND (email_lookup IS NULL OR substr(email_lookup, 1, ?) <> ?))`
		args = append(args, len(keyID)+1, keyID+":")
	}
	var out []control.SealedValue
	err = each(ctx, s.db, `SELECT `+owner+`, `+column+` FROM `+table+`
		WHERE `+owner+` > ? AND `+column+` <> '' AND `+stale+`
		ORDER BY `+owner+` LIMIT ?`, append(args, limit), func(r *sql.Rows) error {
		var v control.SealedValue
		err := r.Scan(&v.Owner, &v.Old)
		out = append(out, v)
		return err
	})
	return out, err
}

func (s *Store) Reseal(ctx context.Context, field string, values []control.SealedValue) (int, error) {
	table, owner, column, err := sealedColumn(field)
	if err != nil {
		return 0, err
	}
	var n int
	err = s.write(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, v := range values {
			set, args := column+" = ?", []any{v.New}
			if field == control.FieldEmail {
				// The lookup follows the key the address is sealed under;
				// a closed account's placeholder is found by nothing.
				set, args = set+", email_lookup = CASE WHEN closed_at IS NULL THEN NULLIF(?, '') END", append(args, v.Lookup)
			}
			res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+set+` WHERE `+owner+` = ? AND `+column+` = ?`,
				append(args, v.Owner, v.Old)...)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(k)
		}
		return nil
	})
	if err == nil {
		s.checkpoint(ctx)
	}
	return n, err
}
