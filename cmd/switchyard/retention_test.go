package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

func TestRetentionFlags(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    control.RetentionConfig
		wantErr bool
	}{
		{"the policy's periods by default", nil, nil, control.RetentionConfig{Usage: 90 * 24 * time.Hour,
			ClosedAccounts: 365 * 24 * time.Hour, Payments: 2557 * 24 * time.Hour, Audit: 365 * 24 * time.Hour,
			Emails: 30 * 24 * time.Hour, Interval: time.Hour}, false},
		{"from the environment", map[string]string{"SWITCHYARD_RETENTION_USAGE": "30d", "SWITCHYARD_RETENTION_INTERVAL": "0"},
			nil, control.RetentionConfig{Usage: 30 * 24 * time.Hour, ClosedAccounts: 365 * 24 * time.Hour,
				Payments: 2557 * 24 * time.Hour, Audit: 365 * 24 * time.Hour, Emails: 30 * 24 * time.Hour}, false},
		{"flags win", map[string]string{"SWITCHYARD_RETENTION_AUDIT": "10d"},
			[]string{"-retention-audit", "36h", "-retention-emails", "7d", "-retention-interval", "15m"},
			control.RetentionConfig{Usage: 90 * 24 * time.Hour, ClosedAccounts: 365 * 24 * time.Hour,
				Payments: 2557 * 24 * time.Hour, Audit: 36 * time.Hour, Emails: 7 * 24 * time.Hour, Interval: 15 * time.Minute}, false},
		{"malformed environment", map[string]string{"SWITCHYARD_RETENTION_PAYMENTS": "7y"}, nil, control.RetentionConfig{}, true},
		{"malformed flag", nil, []string{"-retention-usage", "-3d"}, control.RetentionConfig{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"SWITCHYARD_RETENTION_USAGE", "SWITCHYARD_RETENTION_CLOSED_ACCOUNTS",
				"SWITCHYARD_RETENTION_PAYMENTS", "SWITCHYARD_RETENTION_AUDIT", "SWITCHYARD_RETENTION_EMAILS",
				"SWITCHYARD_RETENTION_INTERVAL"} {
				t.Setenv(k, tt.env[k])
			}
			fs := flag.NewFlagSet("control", flag.ContinueOnError)
			var f retentionFlags
			err := f.register(fs, true)
			if err == nil {
				err = fs.Parse(tt.args)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && f.cfg != tt.want {
				t.Errorf("config = %+v, want %+v", f.cfg, tt.want)
			}
		})
	}
}

// TestAdminRetentionRun plants a usage record received 100 days ago and a
// payment created 8 years ago, then runs the admin command on the wall
// clock, first with periods that keep both, then with the defaults.
func TestAdminRetentionRun(t *testing.T) {
	t.Setenv("SWITCHYARD_ENCRYPTION_KEYS", "")
	dir := t.TempDir()
	path := filepath.Join(dir, "switchyard.db")
	ctx := context.Background()
	clock := controltest.NewClock(time.Now().Add(-100 * 24 * time.Hour))
	st := controltest.OpenStore(t, path)
	svc := controltest.NewService(t, st, clock)
	a, err := svc.CreateAccount(ctx, control.AccountCreate{Name: "Ada", Email: "ada@example.com",
		BillingAddress: "1 Test Street", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	k, _, err := svc.CreateKey(ctx, a.ID, control.KeyCreate{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.IngestUsage(ctx, "edge-1", []edgeapi.UsageRecord{{RequestID: "req-1", KeyID: k.ID,
		AccountID: a.ID, StartedAt: clock.Now(), Endpoint: "chat.completions", Model: controltest.OneDollarModel,
		Status: 200, InputTokens: 10}}); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	st.Close()
	db, err := sql.Open("libsql", "file:"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().AddDate(-8, 0, 0).UnixMilli()
	if _, err := db.Exec(`INSERT INTO payments (account_id, kind, status, amount_cents, currency, created_at, updated_at)
		VALUES (?, 'checkout', 'succeeded', 500, 'usd', ?, ?)`, a.ID, old, old); err != nil {
		t.Fatal(err)
	}
	db.Close()

	run := func(args ...string) control.RetentionReport {
		t.Helper()
		var out bytes.Buffer
		if err := runAdminRetention(ctx, append([]string{"run", "-data-dir", dir}, args...), &out); err != nil {
			t.Fatal(err)
		}
		var rep control.RetentionReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("output %s: %v", out.Bytes(), err)
		}
		return rep
	}
	if rep := run("-retention-usage", "101d", "-retention-payments", "3000d"); rep.Skipped || rep.Deleted != (control.RetentionDeleted{}) {
		t.Errorf("with 101 days: %+v", rep)
	}
	rep := run()
	if rep.Skipped || rep.Deleted.UsageRecords != 1 || rep.Deleted.Payments != 1 {
		t.Errorf("with the defaults: %+v", rep)
	}
	if want := rep.StartedAt.Add(-control.DefaultUsageRetention); !rep.Cutoffs.Usage.Equal(want) {
		t.Errorf("usage cutoff %v, want %v", rep.Cutoffs.Usage, want)
	}
	books := controltest.Audit(t, path)
	if books.UsageRows != 0 || books.Balances[a.ID] != -10 {
		t.Errorf("books after the run: %+v", books)
	}
	if err := runAdminRetention(ctx, []string{"sweep"}, &bytes.Buffer{}); err == nil {
		t.Error("an unknown retention subcommand was accepted")
	}
}
