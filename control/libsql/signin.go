package libsql

import (
	"context"
	"database/sql"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

func (s *Store) SigninBuckets(ctx context.Context, keys []string) (map[string]control.SigninBucket, error) {
	out := make(map[string]control.SigninBucket, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	err := each(ctx, s.db, `SELECT key, left, last FROM signin_buckets WHERE key IN (`+placeholders(len(keys))+`)`, args,
		func(r *sql.Rows) error {
			var key string
			var b control.SigninBucket
			var last int64
			err := r.Scan(&key, &b.Left, &last)
			b.Last = fromMs(last)
			out[key] = b
			return err
		})
	return out, err
}

func (s *Store) ChargeSigninFailure(ctx context.Context, key string, capacity, perSecond float64, now time.Time,
	forgetBefore time.Time) (float64, error) {
	var left float64
	err := s.write(ctx, func(tx *sql.Tx) error {
		// A bucket refills continuously: by perSecond since its last
		// failure, up to capacity; then this failure takes one.
		if err := tx.QueryRowContext(ctx, `INSERT INTO signin_buckets (key, left, last) VALUES (?, ? - 1, ?)
			ON CONFLICT (key) DO UPDATE SET
				left = min(left + max(excluded.last - last, 0) / 1000.0 * ?, ?) - 1,
				last = max(last, excluded.last)
			RETURNING left`, key, capacity, ms(now), perSecond, capacity).Scan(&left); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM signin_buckets WHERE last < ?`, ms(forgetBefore))
		return err
	})
	return left, err
}
