package control_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
)

func TestAudit(t *testing.T) {
	clock := controltest.NewClock(controltest.Epoch)
	svc := controltest.NewService(t, controltest.OpenStore(t, controltest.DBPath(t)), clock)
	a := mustAccount(t, svc, "audit@example.com", 0)
	base := context.Background()
	fromAPI := control.WithClient(base, "203.0.113.7", strings.Repeat("Mozilla/5.0 ", 100))
	tests := []struct {
		name string
		ctx  context.Context
		in   control.AuditEntry
		want control.AuditEntry
	}{
		{"defaults from the request", fromAPI, control.AuditEntry{AccountID: a.ID, Action: "account.export"},
			control.AuditEntry{AccountID: a.ID, Action: "account.export", Actor: control.ActorAccount,
				ClientIP: "203.0.113.7", UserAgent: strings.Repeat("Mozilla/5.0 ", 100)[:200], Result: control.AuditOK}},
		{"an operator", control.WithActor(base, control.ActorOperator),
			control.AuditEntry{AccountID: a.ID, Action: "account.delete", Result: control.AuditFailed},
			control.AuditEntry{AccountID: a.ID, Action: "account.delete", Actor: control.ActorOperator,
				Result: control.AuditFailed}},
		{"the entry's own actor wins", control.WithActor(fromAPI, control.ActorOperator),
			control.AuditEntry{AccountID: a.ID, Action: "retention.run", Actor: control.ActorSystem},
			control.AuditEntry{AccountID: a.ID, Action: "retention.run", Actor: control.ActorSystem,
				ClientIP: "203.0.113.7", UserAgent: strings.Repeat("Mozilla/5.0 ", 100)[:200], Result: control.AuditOK}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := svc.Audit(tc.ctx, tc.in); err != nil {
				t.Fatal(err)
			}
			page, err := svc.AuditLog(base, a.ID, "", 1)
			if err != nil || len(page.Data) != 1 {
				t.Fatalf("%+v %v", page, err)
			}
			got := page.Data[0]
			if got.ID == 0 || !got.At.Equal(clock.Now()) {
				t.Errorf("id %d at %v", got.ID, got.At)
			}
			got.ID, got.At = 0, tc.want.At
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if err := svc.Audit(base, control.AuditEntry{AccountID: a.ID}); control.ErrorCode(err) != control.EINVALID {
		t.Errorf("no action: %v", err)
	}
	if _, err := svc.AuditLog(base, a.ID, "x", 0); control.ErrorCode(err) != control.EINVALID {
		t.Errorf("bad cursor: %v", err)
	}
}
