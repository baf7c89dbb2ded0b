package main

import (
	"context"
	"os"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
)

// TestAdminSuspendRestore runs the operator commands against a database
// directory and checks the account's status and the audit log.
func TestAdminSuspendRestore(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	stdout := os.Stdout
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	os.Stdout = devnull
	t.Cleanup(func() { os.Stdout = stdout; devnull.Close() })

	run := func(args ...string) error { return runAdmin(ctx, append(args, "-data-dir", dir)) }
	if err := run("create-account", "-email", "ops@example.com", "-name", "Ops", "-password", "long enough password",
		"-address", "1 Road"); err != nil {
		t.Fatal(err)
	}
	sf := storeFlags{dataDir: dir}
	svc, st, err := sf.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := svc.AccountByEmail(ctx, "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := runAdmin(ctx, []string{"suspend", a.ID, "-data-dir", dir}); err == nil {
		t.Error("suspend without -reason succeeded")
	}
	status := func() string {
		t.Helper()
		got, err := svc.Account(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Status
	}
	if err := runAdmin(ctx, []string{"suspend", a.ID, "-reason", "chargeback", "-data-dir", dir}); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != control.AccountSuspended {
		t.Fatalf("after suspend: %s", s)
	}
	if err := runAdmin(ctx, []string{"restore", a.ID, "-data-dir", dir}); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != control.AccountActive {
		t.Fatalf("after restore: %s", s)
	}
	if err := runAdmin(ctx, []string{"audit", "-data-dir", dir}); err != nil {
		t.Fatal(err)
	}

	page, err := svc.AuditLog(ctx, a.ID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range page.Data {
		if e.Actor != control.ActorOperator {
			t.Errorf("entry %+v: actor is not the operator", e)
		}
		actions = append(actions, e.Action)
	}
	want := []string{control.ActionAccountRestore, control.ActionAccountSuspend}
	if len(actions) != len(want) || actions[0] != want[0] || actions[1] != want[1] {
		t.Errorf("the account's entries: %v, want %v", actions, want)
	}
	all, err := svc.AuditLog(ctx, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range all.Data {
		seen[e.Action] = true
	}
	for _, a := range []string{"admin.create-account", "admin.audit"} {
		if !seen[a] {
			t.Errorf("no %s entry in %v", a, all.Data)
		}
	}
}
