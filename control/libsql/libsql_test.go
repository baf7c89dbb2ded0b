package libsql_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/libsql"
)

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("libsql", "file:"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestConcurrentOpen starts several stores on one new file at once, as
// replicas booting together would: every one must open, and each migration
// must be applied exactly once.
func TestConcurrentOpen(t *testing.T) {
	path := controltest.DBPath(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st, err := libsql.Open(context.Background(), "file:"+filepath.ToSlash(path), libsql.Options{})
			if err != nil {
				errs[i] = err
				return
			}
			svc := control.NewService(st, control.Config{})
			errs[i] = svc.Start(context.Background())
			st.Close()
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
	}
	db := rawDB(t, path)
	var migrations, distinct, version, models int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&migrations, &distinct); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("migrations/*.sql")
	if migrations != len(files) || distinct != len(files) {
		t.Fatalf("%d migration rows (%d distinct) for %d files", migrations, distinct, len(files))
	}
	if err := db.QueryRow(`SELECT version, (SELECT count(*) FROM models) FROM catalog_state`).Scan(&version, &models); err != nil {
		t.Fatal(err)
	}
	if version != 1 || models != len(control.DefaultCatalog()) {
		t.Fatalf("catalog version %d with %d models: seeded more than once?", version, models)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q, %v", mode, err)
	}

	// Reopening applies nothing new.
	controltest.OpenStore(t, path)
	var again int
	db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&again)
	if again != migrations {
		t.Fatalf("reopening added migrations: %d -> %d", migrations, again)
	}
}

func TestLedgerIsAppendOnly(t *testing.T) {
	path := controltest.DBPath(t)
	st := controltest.OpenStore(t, path)
	svc := controltest.NewService(t, st, controltest.NewClock(controltest.Epoch))
	a, err := svc.CreateAccount(context.Background(), control.AccountCreate{Name: "A", Email: "a@example.com",
		BillingAddress: "x", Password: "password1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GrantCredits(context.Background(), a.ID, 5, "", ""); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	for _, stmt := range []string{
		`UPDATE ledger_entries SET amount_micros = 1000000`,
		`DELETE FROM ledger_entries`,
	} {
		_, err := db.Exec(stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", stmt, err)
		}
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{"file URL from a data directory", libsql.FileURL(filepath.Join(dir, "nested", "data")), ""},
		{"plain file: path", "file:" + filepath.ToSlash(filepath.Join(dir, "plain.db")), ""},
		{"URL with its own pragmas", "file:" + filepath.ToSlash(filepath.Join(dir, "own.db")) + "?_pragma=busy_timeout(1)", ""},
		{"file URL with a host", "file://host/db.sqlite", "has a host"},
		{"unknown scheme", "postgres://localhost/db", "unsupported URL scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := libsql.Open(context.Background(), tt.url, libsql.Options{})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Ping(context.Background()); err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			if err := st.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
		})
	}
	if got := libsql.FileURL("/var/lib/switchyard"); got != "file:///var/lib/switchyard/switchyard.db" {
		t.Fatalf("FileURL = %q", got)
	}
}
