package libsql_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
)

// TestAuditAppendOnly: the log refuses updates, whoever asks.
func TestAuditAppendOnly(t *testing.T) {
	path := controltest.DBPath(t)
	st := controltest.OpenStore(t, path)
	ctx := context.Background()
	e := &control.AuditEntry{At: time.Now(), AccountID: "acct_x", Actor: control.ActorAccount, Action: "key.create",
		Result: control.AuditOK}
	if err := st.AppendAudit(ctx, e); err != nil || e.ID == 0 {
		t.Fatalf("append: %v (id %d)", err, e.ID)
	}
	db := rawDB(t, path)
	_, err := db.ExecContext(ctx, `UPDATE audit_log SET result = 'denied' WHERE id = ?`, e.ID)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("update: %v", err)
	}
}
