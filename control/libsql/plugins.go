package libsql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

const pluginColumns = `v.id, v.account_id, v.name, v.version, v.hash, m.size, v.fail, v.headers, v.wants_body, v.created_at`

func scanPlugin(row scanner) (*control.Plugin, error) {
	var p control.Plugin
	var headers string
	var created int64
	if err := row.Scan(&p.ID, &p.AccountID, &p.Name, &p.Version, &p.Hash, &p.Size, &p.Fail, &headers, &p.WantsBody, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(headers), &p.Headers); err != nil {
		return nil, err
	}
	p.CreatedAt = fromMs(created)
	p.ActiveKeys = []string{}
	return &p, nil
}

func (s *Store) CreatePlugin(ctx context.Context, p *control.Plugin, module []byte) error {
	headers, err := json.Marshal(p.Headers)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO plugin_modules (hash, module, size) VALUES (?, ?, ?)
			ON CONFLICT (hash) DO NOTHING`, p.Hash, module, len(module)); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM plugin_versions
			WHERE account_id = ? AND name = ?`, p.AccountID, p.Name).Scan(&p.Version); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO plugin_versions (id, account_id, name, version, hash, fail, headers, wants_body, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.AccountID, p.Name, p.Version, p.Hash, p.Fail, string(headers), p.WantsBody, ms(p.CreatedAt))
		if isForeignKeyViolation(err) {
			return control.Errorf(control.ENOTFOUND, "account not found")
		}
		return err
	})
}

func (s *Store) Plugin(ctx context.Context, accountID, id string) (*control.Plugin, error) {
	p, err := scanPlugin(s.db.QueryRowContext(ctx, `SELECT `+pluginColumns+`
		FROM plugin_versions v JOIN plugin_modules m ON m.hash = v.hash
		WHERE v.id = ? AND v.account_id = ?`, id, accountID))
	if err != nil {
		return nil, notFound(err, "plugin")
	}
	scopes, err := s.activeScopes(ctx, accountID)
	if err != nil {
		return nil, err
	}
	markActive(p, scopes)
	return p, nil
}

func (s *Store) Plugins(ctx context.Context, accountID string) ([]control.Plugin, error) {
	scopes, err := s.activeScopes(ctx, accountID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+pluginColumns+`
		FROM plugin_versions v JOIN plugin_modules m ON m.hash = v.hash
		WHERE v.account_id = ? ORDER BY v.created_at DESC, v.name, v.version DESC`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []control.Plugin{}
	for rows.Next() {
		p, err := scanPlugin(rows)
		if err != nil {
			return nil, err
		}
		markActive(p, scopes)
		out = append(out, *p)
	}
	return out, rows.Err()
}

// activeScopes maps each plugin id that runs somewhere in the account to
// where: "" for the whole account, else key ids.
func (s *Store) activeScopes(ctx context.Context, accountID string) (map[string][]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT a.key_id, a.plugin_id FROM plugin_activations a
		WHERE a.plugin_id IS NOT NULL AND a.id IN (
			SELECT MAX(id) FROM plugin_activations WHERE account_id = ? GROUP BY key_id)
		ORDER BY a.key_id`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	scopes := map[string][]string{}
	for rows.Next() {
		var keyID, pluginID string
		if err := rows.Scan(&keyID, &pluginID); err != nil {
			return nil, err
		}
		scopes[pluginID] = append(scopes[pluginID], keyID)
	}
	return scopes, rows.Err()
}

func markActive(p *control.Plugin, scopes map[string][]string) {
	for _, keyID := range scopes[p.ID] {
		if keyID == "" {
			p.Active = true
		} else {
			p.ActiveKeys = append(p.ActiveKeys, keyID)
		}
	}
}

// activation is the newest row of a scope's history.
type activation struct {
	id       int64
	pluginID sql.NullString
	previous sql.NullInt64
}

// currentActivation reads a scope's newest row; nil when it has none.
// keyID, when set, must be one of the account's keys.
func currentActivation(ctx context.Context, tx *sql.Tx, accountID, keyID string) (*activation, error) {
	if keyID != "" {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM api_keys WHERE id = ? AND account_id = ?`, keyID, accountID).Scan(&one)
		if err != nil {
			return nil, notFound(err, "key")
		}
	}
	var a activation
	err := tx.QueryRowContext(ctx, `SELECT id, plugin_id, previous_id FROM plugin_activations
		WHERE account_id = ? AND key_id = ? ORDER BY id DESC LIMIT 1`, accountID, keyID).Scan(&a.id, &a.pluginID, &a.previous)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &a, nil
}

func (s *Store) SetActivePlugin(ctx context.Context, accountID, keyID, pluginID string, at time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		cur, err := currentActivation(ctx, tx, accountID, keyID)
		if err != nil {
			return err
		}
		if pluginID != "" {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM plugin_versions WHERE id = ? AND account_id = ?`, pluginID, accountID).Scan(&one)
			if err != nil {
				return notFound(err, "plugin")
			}
		}
		var previous sql.NullInt64
		if cur != nil {
			if cur.pluginID.String == pluginID {
				return nil
			}
			previous = sql.NullInt64{Int64: cur.id, Valid: true}
		} else if pluginID == "" {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO plugin_activations (account_id, key_id, plugin_id, previous_id, created_at)
			VALUES (?, ?, NULLIF(?, ''), ?, ?)`, accountID, keyID, pluginID, previous, ms(at))
		return err
	})
}

func (s *Store) RollbackPlugin(ctx context.Context, accountID, keyID string, at time.Time) (string, error) {
	var pluginID string
	err := s.write(ctx, func(tx *sql.Tx) error {
		cur, err := currentActivation(ctx, tx, accountID, keyID)
		if err != nil {
			return err
		}
		if cur == nil || !cur.previous.Valid {
			return control.Errorf(control.ECONFLICT, "there is no earlier plugin activation to roll back to")
		}
		var prev activation
		if err := tx.QueryRowContext(ctx, `SELECT id, plugin_id, previous_id FROM plugin_activations WHERE id = ?`,
			cur.previous.Int64).Scan(&prev.id, &prev.pluginID, &prev.previous); err != nil {
			return err
		}
		// The restored row points where the one it copies did, so the
		// next rollback steps further back rather than forward again.
		_, err = tx.ExecContext(ctx, `INSERT INTO plugin_activations (account_id, key_id, plugin_id, previous_id, created_at)
			VALUES (?, ?, ?, ?, ?)`, accountID, keyID, prev.pluginID, prev.previous, ms(at))
		pluginID = prev.pluginID.String
		return err
	})
	return pluginID, err
}

func (s *Store) PluginModule(ctx context.Context, hash string) ([]byte, error) {
	var module []byte
	err := s.db.QueryRowContext(ctx, `SELECT module FROM plugin_modules WHERE hash = ?`, hash).Scan(&module)
	return module, notFound(err, "plugin")
}
