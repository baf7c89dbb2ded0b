// Package libsql stores the control service's data in libSQL: an embedded
// SQLite file by default, or a remote Turso / sqld database. Every
// connection goes through github.com/tursodatabase/libsql-client-go; for
// file: URLs that client hands the file to the pure-Go SQLite driver
// (modernc.org/sqlite) this package registers, so no cgo is needed.
package libsql

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	libsqlclient "github.com/tursodatabase/libsql-client-go/libsql"
	_ "modernc.org/sqlite" // registers "sqlite", which libsql-client-go uses for file: URLs

	"github.com/switchyard-ai/switchyard/control"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tunes Open. The zero value is usable; each field's default is
// stated beside it.
type Options struct {
	// AuthToken authenticates to a remote database (libsql://, https://,
	// wss://). Ignored for file: URLs. Default none.
	AuthToken string
	// BusyTimeout is how long a file database waits for another process's
	// write lock before giving up. Default 10s.
	BusyTimeout time.Duration
	// MaxOpenConns bounds the connection pool. Default 8.
	MaxOpenConns int
	// SynchronousNormal lets a file database skip the fsync at each commit.
	// A crashed process still loses nothing; a power cut may lose the last
	// commits, including usage batches already acknowledged to an edge.
	// Default false (synchronous=FULL).
	SynchronousNormal bool
}

// Store is a control.Store over libSQL. Its methods are safe for concurrent
// use, also by several processes sharing one database file.
type Store struct {
	db *sql.DB
	// writeSem queues this process's writers to a file database. SQLite
	// admits one writer at a time anyway; queueing them here in order is
	// cheaper and fairer than letting them spin in SQLite's busy handler,
	// which is left to arbitrate between processes only.
	writeSem chan struct{}
}

var _ control.Store = (*Store)(nil)

// FileURL is the embedded default: the file switchyard.db under dataDir.
func FileURL(dataDir string) string {
	abs, err := filepath.Abs(filepath.Join(dataDir, "switchyard.db"))
	if err != nil {
		abs = filepath.Join(dataDir, "switchyard.db")
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

// Open connects to the database at dbURL and applies any migrations it
// lacks. For a file: URL it creates the file's directory if needed, puts
// the file in WAL mode, and configures each connection with a busy timeout,
// foreign keys, synchronous=FULL and immediate write transactions
// (parameters already in the URL win).
//
// # Errors
//
// Open fails when the URL is malformed, the database cannot be reached, or
// a migration fails; a failed migration changes nothing.
func Open(ctx context.Context, dbURL string, opts Options) (*Store, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, fmt.Errorf("libsql: database URL: %w", err)
	}
	isFile := u.Scheme == "file"
	var clientOpts []libsqlclient.Option
	if isFile {
		if dbURL, err = fileDSN(u, opts); err != nil {
			return nil, err
		}
	} else if opts.AuthToken != "" {
		clientOpts = append(clientOpts, libsqlclient.WithAuthToken(opts.AuthToken))
	}
	connector, err := libsqlclient.NewConnector(dbURL, clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("libsql: %w", err)
	}
	db := sql.OpenDB(connector)
	n := opts.MaxOpenConns
	if n <= 0 {
		n = 8
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	s := &Store{db: db}
	if isFile {
		s.writeSem = make(chan struct{}, 1)
		err = s.prepareFile(ctx, dbURL, opts)
	} else {
		err = db.PingContext(ctx)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("libsql: connect: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// fileDSN adds the connection settings a shared file database needs.
// _txlock=immediate makes every transaction take the write lock at BEGIN:
// a deferred transaction that reads and then writes can find another
// process has written in between, and SQLite then fails it with
// SQLITE_BUSY at once instead of waiting.
func fileDSN(u *url.URL, opts Options) (string, error) {
	if u.Opaque == "" && u.Host != "" {
		return "", fmt.Errorf("libsql: file URL %q has a host; use file:/path or file:///path", u.String())
	}
	path := u.Path
	if path == "" {
		path = u.Opaque
	}
	if dir := filepath.Dir(filepath.FromSlash(path)); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("libsql: data directory: %w", err)
		}
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 10 * time.Second
	}
	sync := "FULL"
	if opts.SynchronousNormal {
		sync = "NORMAL"
	}
	q := u.Query()
	pragmas := map[string]string{
		"busy_timeout": strconv.FormatInt(busy.Milliseconds(), 10),
		"foreign_keys": "1",
		"synchronous":  sync,
		// Deleted and overwritten rows are zeroed, not left in free
		// space, so erased personal data leaves the file.
		"secure_delete": "1",
	}
	have := map[string]bool{}
	for _, p := range q["_pragma"] {
		name, _, _ := strings.Cut(p, "(")
		have[strings.ToLower(strings.TrimSpace(name))] = true
	}
	names := make([]string, 0, len(pragmas))
	for name := range pragmas {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !have[name] {
			q.Add("_pragma", name+"("+pragmas[name]+")")
		}
	}
	if q.Get("_txlock") == "" {
		q.Set("_txlock", "immediate")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// prepareFile connects to a file database and switches it to WAL, once:
// the mode is stored in the file, so later connections (of any process)
// inherit it. A URL that sets journal_mode itself keeps its choice.
//
// Both steps can meet SQLITE_BUSY while another process creates the file
// or changes its mode; SQLite reports that without consulting the busy
// timeout, so they are retried here for as long as the timeout.
func (s *Store) prepareFile(ctx context.Context, dsn string, opts Options) error {
	if err := retryLocked(ctx, opts.BusyTimeout, func() error { return s.db.PingContext(ctx) }); err != nil {
		return err
	}
	u, _ := url.Parse(dsn)
	for _, p := range u.Query()["_pragma"] {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(p)), "journal_mode") {
			return nil
		}
	}
	return retryLocked(ctx, opts.BusyTimeout, func() error {
		var mode string
		if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
			return err
		}
		if !strings.EqualFold(mode, "wal") {
			return fmt.Errorf("journal mode is %s, not wal", mode)
		}
		return nil
	})
}

// retryLocked runs fn until it does not fail with "database is locked", for
// up to limit (default 10s).
func retryLocked(ctx context.Context, limit time.Duration, fn func() error) error {
	if limit <= 0 {
		limit = 10 * time.Second
	}
	deadline := time.Now().Add(limit)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		err := fn()
		if err == nil || !strings.Contains(err.Error(), "database is locked") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close closes the database. It is safe to call on a Store that failed to
// open and more than once.
func (s *Store) Close() error {
	if s == nil || s.db == nil {
		return nil
	}
	return s.db.Close()
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// write runs fn in one write transaction, committed when fn returns nil.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.writeSem != nil {
		select {
		case s.writeSem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-s.writeSem }()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("libsql: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("libsql: commit: %w", err)
	}
	return nil
}

// migrate applies each embedded migration the database lacks, each in its
// own write transaction. Two processes starting at once serialise on the
// write lock, and the second finds the work done.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("libsql: migration %s: name must start with a number and _", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				version, base, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("libsql: migration %s: %w", base, err)
		}
	}
	return nil
}

// Helpers shared by the store's files.

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMs(v int64) time.Time { return time.UnixMilli(v).UTC() }

func msPtr(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMs(v.Int64)
	return &t
}

// notFound turns sql.ErrNoRows into a control ENOTFOUND error.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return control.Errorf(control.ENOTFOUND, "%s not found", what)
	}
	return err
}

// isUniqueViolation recognises a UNIQUE constraint failure by message,
// which is the one form both the embedded driver and remote servers share.
func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// placeholders returns "?,?,…" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

func isForeignKeyViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}
