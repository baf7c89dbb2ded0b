package libsql

import (
	"context"
	"database/sql"
	"errors"

	"github.com/switchyard-ai/switchyard/control"
)

func (s *Store) AppendLedger(ctx context.Context, e *control.LedgerEntry) error {
	return s.write(ctx, func(tx *sql.Tx) error { return appendLedger(ctx, tx, e) })
}

// appendLedger moves the cached balance and appends the entry recording the
// balance it left. Both happen in the caller's write transaction, which
// holds the database's write lock, so no concurrent debit can slip between
// the read of the balance and the entry.
func appendLedger(ctx context.Context, tx *sql.Tx, e *control.LedgerEntry) error {
	var ref sql.NullString
	if e.Ref != "" {
		ref = sql.NullString{String: e.Ref, Valid: true}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ledger_entries
			WHERE account_id = ? AND kind = ? AND ref = ?`, e.AccountID, e.Kind, e.Ref).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return control.Errorf(control.ECONFLICT, "a %s entry with this ref exists", e.Kind)
		}
	}
	err := tx.QueryRowContext(ctx, `UPDATE accounts SET balance_micros = balance_micros + ? WHERE id = ?
		RETURNING balance_micros`, e.AmountMicros, e.AccountID).Scan(&e.BalanceAfterMicros)
	if errors.Is(err, sql.ErrNoRows) {
		return control.Errorf(control.ENOTFOUND, "account not found")
	}
	if err != nil {
		return err
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO ledger_entries
			(account_id, kind, amount_micros, balance_after_micros, ref, note, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.AccountID, e.Kind, e.AmountMicros, e.BalanceAfterMicros, ref, e.Note, ms(e.CreatedAt)).Scan(&e.ID)
	if isUniqueViolation(err) {
		return control.Errorf(control.ECONFLICT, "a %s entry with this ref exists", e.Kind)
	}
	return err
}

func (s *Store) Ledger(ctx context.Context, accountID string, limit int) ([]control.LedgerEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, account_id, kind, amount_micros, balance_after_micros,
			COALESCE(ref, ''), note, created_at
		FROM ledger_entries WHERE account_id = ? ORDER BY id DESC LIMIT ?`, accountID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []control.LedgerEntry{}
	for rows.Next() {
		var e control.LedgerEntry
		var created int64
		if err := rows.Scan(&e.ID, &e.AccountID, &e.Kind, &e.AmountMicros, &e.BalanceAfterMicros, &e.Ref, &e.Note,
			&created); err != nil {
			return nil, err
		}
		e.CreatedAt = fromMs(created)
		out = append(out, e)
	}
	return out, rows.Err()
}
