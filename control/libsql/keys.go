package libsql

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

const keyColumns = `k.id, k.account_id, k.name, k.prefix, k.status, k.requests_per_minute, k.tokens_per_minute,
	k.monthly_spend_cap_micros, k.allowed_models, k.expires_at, k.created_at, k.revoked_at, k.last_used_at`

func scanKey(row scanner, extra ...any) (*control.APIKey, error) {
	var k control.APIKey
	var models string
	var created int64
	var expires, revoked, used sql.NullInt64
	dest := append([]any{&k.ID, &k.AccountID, &k.Name, &k.Prefix, &k.Status, &k.Limits.RequestsPerMinute,
		&k.Limits.TokensPerMinute, &k.Limits.MonthlySpendCapMicros, &models, &expires, &created, &revoked, &used}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(models), &k.AllowedModels); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMs(created)
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt = timePtr(expires), timePtr(revoked), timePtr(used)
	return &k, nil
}

func modelsJSON(models []string) string {
	if len(models) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(models)
	return string(b)
}

func (s *Store) CreateKey(ctx context.Context, k *control.APIKey, hash string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, account_id, name, prefix, hash, status,
				requests_per_minute, tokens_per_minute, monthly_spend_cap_micros, allowed_models, expires_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.AccountID, k.Name, k.Prefix, hash, k.Status, k.Limits.RequestsPerMinute, k.Limits.TokensPerMinute,
			k.Limits.MonthlySpendCapMicros, modelsJSON(k.AllowedModels), msPtr(k.ExpiresAt), ms(k.CreatedAt))
		if isForeignKeyViolation(err) {
			return control.Errorf(control.ENOTFOUND, "account not found")
		}
		return err
	})
}

func (s *Store) Key(ctx context.Context, accountID, id string) (*control.APIKey, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys k
		WHERE k.id = ? AND k.account_id = ?`, id, accountID))
	return k, notFound(err, "key")
}

func (s *Store) Keys(ctx context.Context, accountID string) ([]control.APIKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys k
		WHERE k.account_id = ? ORDER BY k.created_at DESC, k.id`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []control.APIKey{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *k)
	}
	return out, rows.Err()
}

func (s *Store) UpdateKey(ctx context.Context, accountID, id string, u *control.KeyUpdate) (*control.APIKey, error) {
	var k *control.APIKey
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		k, err = scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys k
			WHERE k.id = ? AND k.account_id = ?`, id, accountID))
		if err != nil {
			return notFound(err, "key")
		}
		if k.Status == edgeapi.KeyRevoked {
			// Checked in the transaction, so a revoke that lands first
			// is never followed by a change.
			return control.Errorf(control.ECONFLICT, "the key was revoked and can no longer be changed; create a new key instead")
		}
		if u.Name != nil {
			k.Name = *u.Name
		}
		if u.Limits != nil {
			k.Limits = *u.Limits
		}
		if u.AllowedModels != nil {
			k.AllowedModels = *u.AllowedModels
		}
		if u.ExpiresAt != nil {
			k.ExpiresAt = u.ExpiresAt
		}
		_, err = tx.ExecContext(ctx, `UPDATE api_keys SET name = ?, requests_per_minute = ?, tokens_per_minute = ?,
				monthly_spend_cap_micros = ?, allowed_models = ?, expires_at = ?
			WHERE id = ?`,
			k.Name, k.Limits.RequestsPerMinute, k.Limits.TokensPerMinute, k.Limits.MonthlySpendCapMicros,
			modelsJSON(k.AllowedModels), msPtr(k.ExpiresAt), id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if k.AllowedModels == nil {
		k.AllowedModels = []string{}
	}
	return k, nil
}

func (s *Store) RevokeKey(ctx context.Context, accountID, id string, at time.Time) (*control.APIKey, error) {
	var k *control.APIKey
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET status = 'revoked', revoked_at = ?
			WHERE id = ? AND account_id = ? AND status <> 'revoked'`, ms(at), id, accountID); err != nil {
			return err
		}
		var err error
		k, err = scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys k
			WHERE k.id = ? AND k.account_id = ?`, id, accountID))
		return notFound(err, "key")
	})
	return k, err
}

func (s *Store) KeyState(ctx context.Context, hash, month string) (*control.KeyState, error) {
	var st control.KeyState
	var pluginHeaders string
	// The key's own activation wins; a key whose newest activation is
	// "none" follows the account.
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyColumns+`, a.status, a.balance_micros,
			COALESCE(v.hash, ''), COALESCE(v.fail, ''), COALESCE(v.headers, '[]'), COALESCE(v.wants_body, 0),
			COALESCE((SELECT s.spend_micros FROM key_spend s WHERE s.key_id = k.id AND s.month = ?), 0)
		FROM api_keys k JOIN accounts a ON a.id = k.account_id
		LEFT JOIN plugin_versions v ON v.id = COALESCE(
			(SELECT pa.plugin_id FROM plugin_activations pa WHERE pa.account_id = k.account_id AND pa.key_id = k.id
				ORDER BY pa.id DESC LIMIT 1),
			(SELECT pa.plugin_id FROM plugin_activations pa WHERE pa.account_id = k.account_id AND pa.key_id = ''
				ORDER BY pa.id DESC LIMIT 1))
		WHERE k.hash = ?`, month, hash),
		&st.AccountStatus, &st.BalanceMicros, &st.PluginHash, &st.PluginFail, &pluginHeaders, &st.PluginBody, &st.MonthSpendMicros)
	if err != nil {
		return nil, notFound(err, "key")
	}
	if err := json.Unmarshal([]byte(pluginHeaders), &st.PluginHeaders); err != nil {
		return nil, err
	}
	st.Key = *k
	return &st, nil
}
