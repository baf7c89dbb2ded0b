package libsql

import (
	"context"
	"database/sql"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

// The audit log and the spend guard (migration 0006).

func (s *Store) AppendAudit(ctx context.Context, e *control.AuditEntry) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO audit_log
			(at, account_id, actor, action, target, client_ip, user_agent, result, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			ms(e.At), e.AccountID, e.Actor, e.Action, e.Target, e.ClientIP, e.UserAgent, e.Result, e.Detail).Scan(&e.ID)
	})
}

func (s *Store) AuditEntries(ctx context.Context, accountID string, before int64, limit int) ([]control.AuditEntry, error) {
	q := `SELECT id, at, account_id, actor, action, target, client_ip, user_agent, result, detail FROM audit_log WHERE `
	var args []any
	if accountID != "" {
		q += `account_id = ? AND `
		args = append(args, accountID)
	}
	if before <= 0 {
		before = 1 << 62
	}
	q += `id < ? ORDER BY id DESC LIMIT ?`
	args = append(args, before, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []control.AuditEntry
	for rows.Next() {
		var e control.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.AccountID, &e.Actor, &e.Action, &e.Target, &e.ClientIP, &e.UserAgent,
			&e.Result, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromMs(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *Store) HourlySpend(ctx context.Context, accountID string, from time.Time, hours int) ([]int64, error) {
	out := make([]int64, max(hours, 0))
	if hours <= 0 {
		return out, nil
	}
	start := ms(from)
	end := ms(from.Add(time.Duration(hours) * time.Hour))
	rows, err := s.db.QueryContext(ctx, `SELECT (started_at - ?) / 3600000, SUM(cost_micros) FROM usage_records
		WHERE account_id = ? AND started_at >= ? AND started_at < ? GROUP BY 1`, start, accountID, start, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var h, sum int64
		if err := rows.Scan(&h, &sum); err != nil {
			return nil, err
		}
		if h >= 0 && h < int64(hours) {
			out[h] = sum
		}
	}
	return out, rows.Err()
}

func (s *Store) SpendGuard(ctx context.Context, accountID string) (*control.SpendGuard, error) {
	var g control.SpendGuard
	var auto sql.NullInt64
	var flagged sql.NullInt64
	var reason sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT g.auto_suspend, g.flagged_at, g.flag_reason
		FROM accounts a LEFT JOIN spend_guard g ON g.account_id = a.id WHERE a.id = ?`, accountID).
		Scan(&auto, &flagged, &reason)
	if err != nil {
		return nil, notFound(err, "account")
	}
	g.AutoSuspend = auto.Int64 == 1
	g.FlaggedAt = timePtr(flagged)
	g.FlagReason = reason.String
	return &g, nil
}

// accountExists turns an unknown account into ENOTFOUND inside tx.
func accountExists(ctx context.Context, tx *sql.Tx, accountID string) error {
	var one int
	return notFound(tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, accountID).Scan(&one), "account")
}

func (s *Store) SetAutoSuspend(ctx context.Context, accountID string, on bool, at time.Time) error {
	v := 0
	if on {
		v = 1
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, accountID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO spend_guard (account_id, auto_suspend, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET auto_suspend = excluded.auto_suspend, updated_at = excluded.updated_at`,
			accountID, v, ms(at))
		return err
	})
}

func (s *Store) FlagSpend(ctx context.Context, accountID, reason string, at time.Time) (bool, error) {
	var won bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, accountID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO spend_guard (account_id, flagged_at, flag_reason, updated_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET flagged_at = excluded.flagged_at, flag_reason = excluded.flag_reason,
				updated_at = excluded.updated_at
			WHERE spend_guard.flagged_at IS NULL`, accountID, ms(at), reason, ms(at))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		won = n == 1
		return err
	})
	return won, err
}

func (s *Store) ClearSpendFlag(ctx context.Context, accountID string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE spend_guard SET flagged_at = NULL, flag_reason = '' WHERE account_id = ?`,
			accountID)
		return err
	})
}
