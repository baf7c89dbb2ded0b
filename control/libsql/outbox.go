package libsql

import (
	"context"
	"database/sql"
	"sort"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

const outboxColumns = `id, account_id, recipient, kind, subject, text_body, html_body, dedupe_key, status,
	attempts, next_attempt_at, last_error, created_at, sent_at`

func scanOutbox(rows *sql.Rows) ([]control.OutboxEmail, error) {
	defer rows.Close()
	out := []control.OutboxEmail{}
	for rows.Next() {
		var e control.OutboxEmail
		var next, created int64
		var sent sql.NullInt64
		if err := rows.Scan(&e.ID, &e.AccountID, &e.To, &e.Kind, &e.Subject, &e.Text, &e.HTML, &e.DedupeKey,
			&e.Status, &e.Attempts, &next, &e.LastError, &created, &sent); err != nil {
			return nil, err
		}
		e.NextAttemptAt, e.CreatedAt, e.SentAt = fromMs(next), fromMs(created), timePtr(sent)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *Store) EnqueueEmail(ctx context.Context, e *control.OutboxEmail) (bool, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO email_outbox
				(id, account_id, recipient, kind, subject, text_body, html_body, dedupe_key, status,
				 attempts, next_attempt_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
			ON CONFLICT (dedupe_key) DO NOTHING`,
			e.ID, e.AccountID, e.To, e.Kind, e.Subject, e.Text, e.HTML, e.DedupeKey, e.Status,
			ms(e.NextAttemptAt), ms(e.CreatedAt))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n > 0, err
}

// ClaimEmails leases with one UPDATE under the write lock (a file
// database) or as one statement (a server), so two replicas never hold the
// same email: the second finds it no longer due.
func (s *Store) ClaimEmails(ctx context.Context, claim string, now, leaseUntil time.Time, limit, maxAttempts int) ([]control.OutboxEmail, error) {
	var out []control.OutboxEmail
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE email_outbox SET status = 'failed', last_error = 'lease_expired', claim = NULL
			WHERE status = 'sending' AND next_attempt_at <= ? AND attempts >= ?`, ms(now), maxAttempts); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `UPDATE email_outbox
			SET status = 'sending', claim = ?, attempts = attempts + 1, next_attempt_at = ?
			WHERE id IN (SELECT id FROM email_outbox
				WHERE status IN ('queued', 'sending') AND next_attempt_at <= ?
				ORDER BY next_attempt_at, id LIMIT ?)
			RETURNING `+outboxColumns, claim, ms(leaseUntil), ms(now), limit)
		if err != nil {
			return err
		}
		out, err = scanOutbox(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

func (s *Store) FinishEmail(ctx context.Context, id, claim string, o control.EmailOutcome) error {
	next := o.At
	var sent sql.NullInt64
	switch o.Status {
	case control.OutboxSent:
		sent = sql.NullInt64{Int64: ms(o.At), Valid: true}
	case control.OutboxQueued:
		next = o.RetryAt
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE email_outbox
			SET status = ?, next_attempt_at = ?, last_error = ?, sent_at = ?, claim = NULL
			WHERE id = ? AND claim = ? AND status = 'sending'`,
			o.Status, ms(next), o.LastError, sent, id, claim)
		return err
	})
}

func (s *Store) OutboxEmails(ctx context.Context, status string, limit int) ([]control.OutboxEmail, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+outboxColumns+` FROM email_outbox
		WHERE ? = '' OR status = ? ORDER BY created_at DESC, id DESC LIMIT ?`, status, status, limit)
	if err != nil {
		return nil, err
	}
	return scanOutbox(rows)
}
