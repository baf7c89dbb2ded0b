package libsql

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

// The audit log (migration 0006) and its time column, Unix milliseconds.
// The rule checks the table is there, so that it never depends on which
// of the two migrations a database got first.
const (
	auditTable = "audit_log"
	auditTime  = "at"
)

func (s *Store) ClaimJob(ctx context.Context, job, holder string, now, until time.Time) (bool, error) {
	var held bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO job_leases (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= ?`,
			job, holder, ms(until), ms(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		held = n > 0
		return err
	})
	return held, err
}

func (s *Store) ReleaseJob(ctx context.Context, job, holder string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE job_leases SET expires_at = 0 WHERE name = ? AND holder = ?`, job, holder)
		return err
	})
}

// ExpireUsage takes the oldest limit records' received_at as its bound
// and expires every record received up to it: that is whole ingestions
// (each shares one received_at), at most limit records plus the rest of
// the last ingestion (an edge batch, at most 10,000).
func (s *Store) ExpireUsage(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var bound sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(received_at) FROM (SELECT received_at FROM usage_records
			WHERE received_at < ? ORDER BY received_at LIMIT ?)`, ms(cutoff), limit).Scan(&bound); err != nil {
			return err
		}
		if !bound.Valid {
			return nil
		}
		if err := foldUsage(ctx, tx, `received_at <= ?`, bound.Int64); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM usage_records WHERE received_at <= ?`, bound.Int64)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func (s *Store) ExpirePayments(ctx context.Context, cutoff time.Time, limit int) (payments, events int64, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		if payments, err = deleteOldest(ctx, tx, "payments", "id", "created_at", cutoff, limit); err != nil {
			return err
		}
		events, err = deleteOldest(ctx, tx, "stripe_events", "id", "received_at", cutoff, limit)
		return err
	})
	return payments, events, err
}

// deleteOldest deletes up to limit rows of table whose column is before
// cutoff, oldest first (column is indexed in every table it is used on).
func deleteOldest(ctx context.Context, tx *sql.Tx, table, key, column string, cutoff time.Time, limit int) (int64, error) {
	res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+key+` IN (SELECT `+key+` FROM `+table+`
		WHERE `+column+` < ? ORDER BY `+column+` LIMIT ?)`, ms(cutoff), limit)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *Store) ExpireEmails(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM email_outbox WHERE id IN (SELECT id FROM email_outbox
			WHERE status IN ('sent', 'failed') AND created_at < ? ORDER BY status, created_at LIMIT ?)`, ms(cutoff), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func (s *Store) ExpireAuditLog(ctx context.Context, cutoff time.Time, limit int) (int64, bool, error) {
	var n int64
	var ok bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if ok, err = hasColumn(ctx, tx, auditTable, auditTime); err != nil || !ok {
			return err
		}
		n, err = deleteOldest(ctx, tx, auditTable, "rowid", auditTime, cutoff, limit)
		return err
	})
	return n, ok, err
}

// hasColumn reports whether table exists with column: rules over tables
// that other migrations add apply once those are in place.
func hasColumn(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, table, column string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n)
	return n > 0, err
}

func (s *Store) ClosedAccounts(ctx context.Context, cutoff time.Time, limit int) ([]string, bool, error) {
	ok, err := hasColumn(ctx, s.db, "accounts", "closed_at")
	if err != nil || !ok {
		return nil, ok, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM accounts
		WHERE closed_at IS NOT NULL AND closed_at < ? AND id NOT IN (SELECT account_id FROM account_erasures)
		ORDER BY closed_at, id LIMIT ?`, ms(cutoff), limit)
	if err != nil {
		return nil, true, err
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, true, err
		}
		ids = append(ids, id)
	}
	return ids, true, rows.Err()
}

// erasures are the statements that erase a closed account once its usage
// records are gone, in an order the foreign keys allow, each with the
// counter it adds to (nil for none). Every one takes the account id once.
func erasures(out *control.AccountErasure) []struct {
	sql   string
	count *int64
} {
	return []struct {
		sql   string
		count *int64
	}{
		{`DELETE FROM usage_rollups WHERE account_id = ?`, &out.UsageRollups},
		{`DELETE FROM usage_daily WHERE account_id = ?`, nil},
		{`DELETE FROM tokens WHERE account_id = ?`, &out.Tokens},
		{`DELETE FROM key_spend WHERE key_id IN (SELECT id FROM api_keys WHERE account_id = ?)`, nil},
		{`DELETE FROM plugin_activations WHERE account_id = ?`, nil},
		{`DELETE FROM api_keys WHERE account_id = ?`, &out.Keys},
		{`DELETE FROM plugin_versions WHERE account_id = ?`, &out.PluginVersions},
		{queueProcessorErasure, nil},
		{`DELETE FROM billing_accounts WHERE account_id = ?`, &out.BillingAccounts},
		{`DELETE FROM email_outbox WHERE account_id = ?`, &out.Emails},
		// The email must stay unique; this one names no one.
		{`UPDATE accounts SET name = '', email = 'erased-' || id || '@invalid', email_lookup = NULL, company = '', billing_address = '',
			phone = '', password_hash = '' WHERE id = ?`, nil},
	}
}

func (s *Store) EraseAccount(ctx context.Context, id string, at time.Time, limit int, out *control.AccountErasure) (bool, error) {
	var done bool
	var tally control.AccountErasure
	err := s.write(ctx, func(tx *sql.Tx) error {
		tally = control.AccountErasure{}
		var closedAt sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT closed_at FROM accounts WHERE id = ?
			AND id NOT IN (SELECT account_id FROM account_erasures)`, id).Scan(&closedAt)
		if errors.Is(err, sql.ErrNoRows) || err == nil && !closedAt.Valid {
			// Erased meanwhile (by another run) or reopened: nothing to do.
			done = true
			return nil
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM usage_records WHERE id IN (SELECT id FROM usage_records
			WHERE account_id = ? LIMIT ?)`, id, limit)
		if err != nil {
			return err
		}
		if tally.UsageRecords, err = res.RowsAffected(); err != nil || tally.UsageRecords == int64(limit) {
			return err
		}
		for _, e := range erasures(&tally) {
			res, err := tx.ExecContext(ctx, e.sql, id)
			if err != nil {
				return err
			}
			if e.count != nil {
				if *e.count, err = res.RowsAffected(); err != nil {
					return err
				}
			}
		}
		// The spend guard's setting and flag (migration 0006).
		if ok, err := hasColumn(ctx, tx, "spend_guard", "account_id"); err != nil {
			return err
		} else if ok {
			if _, err := tx.ExecContext(ctx, `DELETE FROM spend_guard WHERE account_id = ?`, id); err != nil {
				return err
			}
		}
		// Modules are kept once per hash for every account that uploaded
		// them; only those no version names any more go.
		res, err = tx.ExecContext(ctx, `DELETE FROM plugin_modules WHERE hash NOT IN (SELECT hash FROM plugin_versions)`)
		if err != nil {
			return err
		}
		if tally.PluginModules, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO account_erasures (account_id, closed_at, erased_at) VALUES (?, ?, ?)`,
			id, closedAt.Int64, ms(at)); err != nil {
			return err
		}
		tally.Accounts = 1
		done = true
		return nil
	})
	if err != nil {
		return false, err
	}
	out.Accounts += tally.Accounts
	out.Keys += tally.Keys
	out.Tokens += tally.Tokens
	out.UsageRecords += tally.UsageRecords
	out.UsageRollups += tally.UsageRollups
	out.PluginVersions += tally.PluginVersions
	out.PluginModules += tally.PluginModules
	out.BillingAccounts += tally.BillingAccounts
	out.Emails += tally.Emails
	return done, nil
}
