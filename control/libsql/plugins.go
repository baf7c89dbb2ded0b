package libsql

import (
	"context"
	"database/sql"
	"errors"

	"github.com/switchyard-ai/switchyard/control"
)

func (s *Store) PutPlugin(ctx context.Context, p *control.Plugin, module []byte) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		var id string
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT id, created_at FROM plugins WHERE account_id = ? AND hash = ?`,
			p.AccountID, p.Hash).Scan(&id, &created)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO plugins (id, account_id, hash, module, active, created_at)
				VALUES (?, ?, ?, ?, 0, ?)`, p.ID, p.AccountID, p.Hash, module, ms(p.CreatedAt))
			if isForeignKeyViolation(err) {
				return control.Errorf(control.ENOTFOUND, "account not found")
			}
			if err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			p.ID, p.CreatedAt = id, fromMs(created)
		}
		if !p.Active {
			return tx.QueryRowContext(ctx, `SELECT active FROM plugins WHERE id = ?`, p.ID).Scan(&p.Active)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE plugins SET active = 0 WHERE account_id = ? AND active = 1 AND id <> ?`,
			p.AccountID, p.ID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE plugins SET active = 1 WHERE id = ?`, p.ID)
		return err
	})
}

func (s *Store) PluginModule(ctx context.Context, hash string) ([]byte, error) {
	var module []byte
	err := s.db.QueryRowContext(ctx, `SELECT module FROM plugins WHERE hash = ? LIMIT 1`, hash).Scan(&module)
	return module, notFound(err, "plugin")
}
