package libsql

import (
	"context"
	"database/sql"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

const accountColumns = `id, name, email, company, billing_address, phone, status, balance_micros, created_at, closed_at`

type scanner interface {
	Scan(dest ...any) error
}

func scanAccount(row scanner, extra ...any) (*control.Account, error) {
	var a control.Account
	var created int64
	var closed sql.NullInt64
	dest := append([]any{&a.ID, &a.Name, &a.Email, &a.Company, &a.BillingAddress, &a.Phone, &a.Status,
		&a.BalanceMicros, &created, &closed}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	a.CreatedAt = fromMs(created)
	closedAccount(&a, closed)
	return &a, nil
}

// closedAccount marks a closed account as such: its row says suspended,
// so that every path that checks the status refuses it too.
func closedAccount(a *control.Account, closed sql.NullInt64) {
	if closed.Valid {
		a.ClosedAt = timePtr(closed)
		a.Status = control.AccountClosed
	}
}

func (s *Store) CreateAccount(ctx context.Context, a *control.Account, email control.EmailKey, passwordHash string,
	grant *control.LedgerEntry) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := emailFree(ctx, tx, email, ""); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts
			(id, name, email, email_lookup, company, billing_address, phone, password_hash, status, balance_micros, created_at)
			VALUES (?, ?, ?, NULLIF(?, ''), ?, ?, ?, ?, ?, 0, ?)`,
			a.ID, a.Name, a.Email, email.Current, a.Company, a.BillingAddress, a.Phone, passwordHash, a.Status, ms(a.CreatedAt))
		if isUniqueViolation(err) {
			return errEmailTaken
		}
		if err != nil {
			return err
		}
		if grant != nil {
			return appendLedger(ctx, tx, grant)
		}
		return nil
	})
}

var errEmailTaken = control.Errorf(control.ECONFLICT, "an account with this email exists")

// emailWhere selects the rows holding email: by any of its lookup hashes,
// or in plain text (rows from before sealing).
func emailWhere(email control.EmailKey) (string, []any) {
	where, args := "email = ?", []any{email.Plain}
	if len(email.Any) > 0 {
		where = "(email_lookup IN (" + placeholders(len(email.Any)) + ") OR " + where + ")"
		args = make([]any, 0, len(email.Any)+1)
		for _, h := range email.Any {
			args = append(args, h)
		}
		args = append(args, email.Plain)
	}
	return where, args
}

// emailFree fails with ECONFLICT when an account other than except holds
// email, under any key: the unique index sees only equal hashes, and a row
// not yet rotated holds its hash under an older key.
func emailFree(ctx context.Context, tx *sql.Tx, email control.EmailKey, except string) error {
	where, args := emailWhere(email)
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM accounts WHERE `+where+` AND id <> ?`,
		append(args, except)...).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return errEmailTaken
	}
	return nil
}

func (s *Store) Account(ctx context.Context, id string) (*control.Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = ?`, id))
	return a, notFound(err, "account")
}

func (s *Store) AccountCredentials(ctx context.Context, email control.EmailKey) (*control.Account, string, error) {
	var hash string
	where, args := emailWhere(email)
	a, err := scanAccount(s.db.QueryRowContext(ctx,
		`SELECT `+accountColumns+`, password_hash FROM accounts WHERE `+where+` AND closed_at IS NULL`, args...), &hash)
	if err != nil {
		return nil, "", notFound(err, "account")
	}
	return a, hash, nil
}

func (s *Store) Accounts(ctx context.Context) ([]control.Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []control.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

func (s *Store) SetAccountStatus(ctx context.Context, id, status string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE accounts SET status = ? WHERE id = ? AND closed_at IS NULL`, status, id))("account")
	})
}

// mustAffect turns an update that touched no row into ENOTFOUND.
func mustAffect(res sql.Result, err error) func(what string) error {
	return func(what string) error {
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return control.Errorf(control.ENOTFOUND, "%s not found", what)
		}
		return nil
	}
}

func (s *Store) CreateToken(ctx context.Context, t *control.Token, hash string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (id, account_id, kind, name, prefix, hash, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.AccountID, t.Kind, t.Name, t.Prefix, hash, ms(t.CreatedAt), msPtr(t.ExpiresAt))
		if err != nil && isForeignKeyViolation(err) {
			return control.Errorf(control.ENOTFOUND, "account not found")
		}
		return err
	})
}

const tokenColumns = `t.id, t.account_id, t.kind, t.name, t.prefix, t.created_at, t.expires_at, t.revoked_at`

func scanToken(row scanner, extra ...any) (*control.Token, error) {
	var t control.Token
	var created int64
	var expires, revoked sql.NullInt64
	dest := append([]any{&t.ID, &t.AccountID, &t.Kind, &t.Name, &t.Prefix, &created, &expires, &revoked}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromMs(created), timePtr(expires), timePtr(revoked)
	return &t, nil
}

func (s *Store) TokenAccount(ctx context.Context, hash string) (*control.Token, *control.Account, error) {
	var a control.Account
	var created int64
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+`,
			a.id, a.name, a.email, a.company, a.billing_address, a.phone, a.status, a.balance_micros, a.created_at
		FROM tokens t JOIN accounts a ON a.id = t.account_id
		WHERE t.hash = ? AND t.revoked_at IS NULL AND a.closed_at IS NULL`, hash),
		&a.ID, &a.Name, &a.Email, &a.Company, &a.BillingAddress, &a.Phone, &a.Status, &a.BalanceMicros, &created)
	if err != nil {
		return nil, nil, notFound(err, "token")
	}
	a.CreatedAt = fromMs(created)
	return t, &a, nil
}

func (s *Store) Tokens(ctx context.Context, accountID, kind string) ([]control.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens t
		WHERE t.account_id = ? AND t.kind = ? AND t.revoked_at IS NULL ORDER BY t.created_at DESC, t.id`, accountID, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []control.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

func (s *Store) RevokeToken(ctx context.Context, accountID, id, hash string, at time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ?
			WHERE account_id = ? AND revoked_at IS NULL AND (id = ? OR (? = '' AND hash = ?))`,
			ms(at), accountID, id, id, hash))("token")
	})
}
