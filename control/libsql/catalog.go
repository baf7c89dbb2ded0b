package libsql

import (
	"context"
	"database/sql"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

func (s *Store) Catalog(ctx context.Context) (*control.Catalog, error) {
	// One statement, so the version and the models come from one snapshot
	// even while an operator edits.
	rows, err := s.db.QueryContext(ctx, `SELECT c.version, c.updated_at,
			m.id, m.provider, m.upstream, m.kind, m.context_length, m.input_price, m.output_price, m.cached_input_price
		FROM catalog_state c LEFT JOIN models m ON 1 = 1
		ORDER BY m.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cat := &control.Catalog{Models: []control.Model{}}
	for rows.Next() {
		var updated int64
		var id, provider, upstream, kind sql.NullString
		var ctxLen, in, out, cached sql.NullInt64
		if err := rows.Scan(&cat.Version, &updated, &id, &provider, &upstream, &kind, &ctxLen, &in, &out, &cached); err != nil {
			return nil, err
		}
		cat.UpdatedAt = fromMs(updated)
		if id.Valid {
			cat.Models = append(cat.Models, control.Model{ID: id.String, Provider: provider.String, Upstream: upstream.String,
				Kind: kind.String, ContextLength: int(ctxLen.Int64), InputPrice: in.Int64, OutputPrice: out.Int64,
				CachedInputPrice: cached.Int64})
		}
	}
	return cat, rows.Err()
}

func (s *Store) CatalogVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, `SELECT version FROM catalog_state`).Scan(&v)
	return v, err
}

func (s *Store) SeedCatalog(ctx context.Context, models []control.Model, at time.Time) (bool, error) {
	seeded := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, `SELECT version FROM catalog_state`).Scan(&v); err != nil {
			return err
		}
		if v != 0 {
			return nil
		}
		for i := range models {
			if err := putModel(ctx, tx, &models[i], at); err != nil {
				return err
			}
		}
		seeded = true
		_, err := tx.ExecContext(ctx, `UPDATE catalog_state SET version = 1, updated_at = ?`, ms(at))
		return err
	})
	return seeded, err
}

func putModel(ctx context.Context, tx *sql.Tx, m *control.Model, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO models
			(id, provider, upstream, kind, context_length, input_price, output_price, cached_input_price, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET provider = excluded.provider, upstream = excluded.upstream,
			kind = excluded.kind, context_length = excluded.context_length, input_price = excluded.input_price,
			output_price = excluded.output_price, cached_input_price = excluded.cached_input_price,
			updated_at = excluded.updated_at`,
		m.ID, m.Provider, m.Upstream, m.Kind, m.ContextLength, m.InputPrice, m.OutputPrice, m.CachedInputPrice, ms(at))
	return err
}

// bumpVersion advances the catalog version and returns the new one.
func bumpVersion(ctx context.Context, tx *sql.Tx, at time.Time) (int, error) {
	var v int
	err := tx.QueryRowContext(ctx, `UPDATE catalog_state SET version = version + 1, updated_at = ? RETURNING version`,
		ms(at)).Scan(&v)
	return v, err
}

func (s *Store) PutModel(ctx context.Context, m *control.Model, at time.Time) (int, error) {
	var v int
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := putModel(ctx, tx, m, at); err != nil {
			return err
		}
		var err error
		v, err = bumpVersion(ctx, tx, at)
		return err
	})
	return v, err
}

func (s *Store) DeleteModel(ctx context.Context, id string, at time.Time) (int, error) {
	var v int
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := mustAffect(tx.ExecContext(ctx, `DELETE FROM models WHERE id = ?`, id))("model"); err != nil {
			return err
		}
		var err error
		v, err = bumpVersion(ctx, tx, at)
		return err
	})
	return v, err
}
