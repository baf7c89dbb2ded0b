package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
)

// spendAt is one usage record costing micros (the one-dollar model's input
// tokens are micro-dollars) started at at.
func spendAt(k control.APIKey, micros int64, at time.Time) edgeapi.UsageRecord {
	rec := record(fmt.Sprintf("req-%s-%d-%d", k.ID, at.UnixNano(), micros), k, at)
	rec.InputTokens, rec.OutputTokens = int(micros), 0
	return rec
}

func TestSpendAnomaly(t *testing.T) {
	tests := []struct {
		name        string
		autoSuspend bool
		// history is the hourly spend of the 7 days before the last hour.
		history   int64
		lastHour  int64
		flagged   bool
		suspended bool
	}{
		{"over the floor, auto-suspend on", true, 0, 6_000_000, true, true},
		{"over the floor, auto-suspend off (the default)", false, 0, 6_000_000, true, false},
		{"under the floor", true, 0, 4_000_000, false, false},
		{"within 10x its own history", true, 1_000_000, 9_000_000, false, false},
		{"over 10x its own history", true, 1_000_000, 11_000_000, true, true},
	}
	s := newServer(t, "", nil)
	ctx := context.Background()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			email := fmt.Sprintf("spender%d@example.com", i)
			c, a := signup(t, s, email)
			c.t = t
			if tc.autoSuspend {
				c.must(http.StatusOK, "PUT", "/api/v1/spend-guard", map[string]any{"auto_suspend": true})
			}
			k := createKey(t, c, map[string]any{"name": "prod"})
			now := s.clock.Now()
			var batch []edgeapi.UsageRecord
			if tc.history > 0 {
				for h := 1; h <= 7*24; h++ {
					batch = append(batch, spendAt(k.Key, tc.history, now.Add(-time.Duration(h)*time.Hour-30*time.Minute)))
				}
			}
			batch = append(batch, spendAt(k.Key, tc.lastHour, now.Add(-10*time.Minute)))
			res, err := s.svc.IngestUsage(ctx, "edge-test", batch)
			if err != nil || res.Accepted != len(batch) {
				t.Fatalf("ingest: %+v %v", res, err)
			}

			var g control.SpendGuard
			c.must(http.StatusOK, "GET", "/api/v1/spend-guard", nil).decode(t, &g)
			if (g.FlaggedAt != nil) != tc.flagged || g.AutoSuspend != tc.autoSuspend {
				t.Errorf("spend guard %+v", g)
			}
			var snap edgeapi.KeySnapshot
			s.edge(t).must(http.StatusOK, "GET", "/edge/v1/keys/"+control.HashSecret(k.Secret), nil).decode(t, &snap)
			wantStatus := edgeapi.KeyActive
			if tc.suspended {
				wantStatus = edgeapi.KeySuspended
			}
			if snap.Status != wantStatus {
				t.Errorf("key snapshot status %q, want %q", snap.Status, wantStatus)
			}
			mails, err := s.svc.OutboxEmails(ctx, "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			var sent int
			for _, m := range mails {
				if m.AccountID == a.ID && m.Kind == control.EmailAccountSuspended {
					sent++
					if m.To != email || !strings.Contains(m.Text, "suspended") {
						t.Errorf("email %+v", m)
					}
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.suspended]; sent != want {
				t.Errorf("%d suspension emails, want %d", sent, want)
			}
			if !tc.flagged {
				return
			}
			var flagged, suspended bool
			for _, e := range auditPage(t, c, "?limit=1000").Data {
				flagged = flagged || e.Action == control.ActionSpendFlagged && e.Actor == control.ActorSystem
				suspended = suspended || e.Action == control.ActionAccountSuspend && e.Actor == control.ActorSystem
			}
			if !flagged || suspended != tc.suspended {
				t.Errorf("audit: flagged %v suspended %v", flagged, suspended)
			}

			// Restoring reinstates the keys and clears the flag.
			if err := s.svc.RestoreAccount(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			s.edge(t).must(http.StatusOK, "GET", "/edge/v1/keys/"+control.HashSecret(k.Secret), nil).decode(t, &snap)
			var after control.SpendGuard
			c.must(http.StatusOK, "GET", "/api/v1/spend-guard", nil).decode(t, &after)
			if snap.Status != edgeapi.KeyActive || after.FlaggedAt != nil {
				t.Errorf("after restore: key %q, guard %+v", snap.Status, after)
			}
		})
	}
}

// TestAutoSuspendAtEdge: once the spend check suspends an account, an edge
// refuses its key no later than one snapshot TTL after it fetched the
// snapshot it serves; after a restore, within one TTL again it serves it.
func TestAutoSuspendAtEdge(t *testing.T) {
	env := edgetest.Start(t, edgetest.Options{Control: true})
	ctx := context.Background()
	tn := env.Control.Signup(t, "leaky@example.com")
	tn.Grant(t, 100_000_000)
	tn.Must(t, http.StatusOK, http.MethodPut, "/api/v1/spend-guard", map[string]any{"auto_suspend": true}, nil)
	k, secret := tn.CreateKey(t, control.KeyCreate{Name: "leaked"})
	call := func() (int, string) {
		t.Helper()
		status, _, body := env.Chat(t, secret)
		return status, string(body)
	}
	if status, body := call(); status != http.StatusOK {
		t.Fatalf("first call: %d %s", status, body)
	}
	res, err := env.Control.Service.IngestUsage(ctx, "edge-other", []edgeapi.UsageRecord{spendAt(k, 20_000_000, time.Now())})
	if err != nil || res.Accepted != 1 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	if a, err := env.Control.Service.Account(ctx, k.AccountID); err != nil || a.Status != control.AccountSuspended {
		t.Fatalf("account after the anomaly: %+v %v", a, err)
	}
	env.KeyClock.Advance(snapshotTTL + time.Second)
	if status, body := call(); status != http.StatusForbidden || !strings.Contains(body, "key_suspended") {
		t.Fatalf("a TTL after suspension: %d %s", status, body)
	}
	if err := env.Control.Service.RestoreAccount(ctx, k.AccountID); err != nil {
		t.Fatal(err)
	}
	env.KeyClock.Advance(snapshotTTL + time.Second)
	if status, body := call(); status != http.StatusOK {
		t.Fatalf("a TTL after restore: %d %s", status, body)
	}
}
