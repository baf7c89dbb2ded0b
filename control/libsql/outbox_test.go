package libsql_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
)

func outboxEmail(id, key string, at time.Time) *control.OutboxEmail {
	return &control.OutboxEmail{ID: id, Status: control.OutboxQueued, NextAttemptAt: at, CreatedAt: at,
		Email: control.Email{AccountID: "acct_1", To: "ada@example.com", Kind: control.EmailLowBalance,
			Subject: "Low", Text: "Low.\n", DedupeKey: key}}
}

// TestOutboxLeases walks one email through the store's states: claimed
// once while leased, re-claimed after the lease, given up on when its
// lease runs out after the last attempt; and a stale claim changes nothing.
func TestOutboxLeases(t *testing.T) {
	st := controltest.OpenStore(t, controltest.DBPath(t))
	ctx := context.Background()
	t0 := controltest.Epoch
	for i, want := range []bool{true, false} {
		ok, err := st.EnqueueEmail(ctx, outboxEmail(fmt.Sprintf("mail_%d", i), "k1", t0))
		if err != nil || ok != want {
			t.Fatalf("enqueue %d: %v, %v; want %v", i, ok, err, want)
		}
	}
	claim := func(name string, now time.Time, want int) []control.OutboxEmail {
		t.Helper()
		got, err := st.ClaimEmails(ctx, name, now, now.Add(time.Minute), 10, 2)
		if err != nil || len(got) != want {
			t.Fatalf("claim %s at %v: %d emails, %v; want %d", name, now.Sub(t0), len(got), err, want)
		}
		return got
	}
	if got := claim("c1", t0, 1); got[0].ID != "mail_0" || got[0].Attempts != 1 || got[0].Status != control.OutboxSending {
		t.Fatalf("claimed %+v", got[0])
	}
	claim("c2", t0.Add(59*time.Second), 0)
	claim("c3", t0.Add(time.Minute), 1)
	// c1's late report is ignored: c3 holds the email now.
	if err := st.FinishEmail(ctx, "mail_0", "c1", control.EmailOutcome{Status: control.OutboxSent, At: t0}); err != nil {
		t.Fatal(err)
	}
	box, err := st.OutboxEmails(ctx, control.OutboxSending, 10)
	if err != nil || len(box) != 1 || box[0].Attempts != 2 {
		t.Fatalf("after a stale finish: %+v, %v", box, err)
	}
	// c3 dies too; its lease runs out after the last of 2 attempts.
	claim("c4", t0.Add(2*time.Minute), 0)
	box, err = st.OutboxEmails(ctx, control.OutboxFailed, 10)
	if err != nil || len(box) != 1 || box[0].LastError != "lease_expired" || box[0].SentAt != nil {
		t.Fatalf("failed list: %+v, %v", box, err)
	}
}
