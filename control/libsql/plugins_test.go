package libsql_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
)

// TestPluginMigration opens a database written by the first schema, where
// an account had one active plugin and one inactive, and checks that both
// survive as versions of a plugin named "default", the active one still
// running for the account's keys.
func TestPluginMigration(t *testing.T) {
	path := controltest.DBPath(t)
	first, err := os.ReadFile(filepath.Join("migrations", "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	for _, stmt := range []string{
		string(first),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)`,
		`INSERT INTO accounts (id, name, email, password_hash, created_at) VALUES ('acct_1', 'A', 'a@example.com', 'x', 0)`,
		`INSERT INTO api_keys (id, account_id, name, prefix, hash, created_at) VALUES ('key_1', 'acct_1', 'k', 'sk', '` + control.HashSecret("secret") + `', 0)`,
		`INSERT INTO plugins (id, account_id, hash, module, active, created_at) VALUES ('plg_old', 'acct_1', 'h1', x'0061736d', 0, 1000)`,
		`INSERT INTO plugins (id, account_id, hash, module, active, created_at) VALUES ('plg_new', 'acct_1', 'h2', x'0061736d01', 1, 2000)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%.60s: %v", stmt, err)
		}
	}
	db.Close()

	st := controltest.OpenStore(t, path)
	ctx := context.Background()
	ps, err := st.Plugins(ctx, "acct_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].ID != "plg_new" || ps[0].Version != 2 || !ps[0].Active || ps[0].Size != 5 ||
		ps[1].ID != "plg_old" || ps[1].Version != 1 || ps[1].Active || ps[0].Name != "default" || ps[0].Fail != "open" {
		t.Fatalf("migrated plugins = %+v", ps)
	}
	ks, err := st.KeyState(ctx, control.HashSecret("secret"), "2026-03")
	if err != nil || ks.PluginHash != "h2" || ks.PluginFail != "open" {
		t.Fatalf("key state = %+v, %v", ks, err)
	}
	if m, err := st.PluginModule(ctx, "h1"); err != nil || string(m) != "\x00asm" {
		t.Fatalf("old module = %q, %v", m, err)
	}
}
