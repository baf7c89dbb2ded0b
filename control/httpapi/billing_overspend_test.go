package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/worker"
)

// snapshotTTL is controlclient.ResolverOptions.TTL's default, which
// edgetest's Resolver uses.
const snapshotTTL = 30 * time.Second

// TestOverspendBound states and checks the overspend bound (control's
// RATIONALE.md, "Overspend"): once control has recorded a balance at or
// below zero, an edge refuses the account's keys with 402 no later than
// one snapshot TTL after the snapshot it is serving was fetched, so within
// one TTL of the exhaustion; and the overspend is at most what that edge
// admitted in that window (the request that crossed zero included).
//
// Time at the edge's key cache is edgetest's KeyClock, moved by hand in
// steps; usage reaches control on the wall clock (the edge's sink flushes
// every 20 ms) and each step waits for it.
func TestOverspendBound(t *testing.T) {
	const topUp = "https://switchyard.example/billing"
	env := edgetest.Start(t, edgetest.Options{Control: true, Modify: func(c *worker.Config) { c.TopUpURL = topUp }})
	ctx := context.Background()
	tn := env.Control.Signup(t, "overspend@example.com")
	tn.Grant(t, 1_000_000)
	_, secret := tn.CreateKey(t, control.KeyCreate{Name: "spender"})

	call := func() (int, string, []byte) {
		t.Helper()
		return env.Chat(t, secret)
	}
	cost := func(requestID string) int64 {
		t.Helper()
		var rec control.UsageRecord
		deadline := time.Now().Add(10 * time.Second)
		for {
			status, _ := tn.Do(t, http.MethodGet, "/api/v1/usage/"+requestID, nil, &rec)
			if status == http.StatusOK {
				return rec.CostMicros
			}
			if time.Now().After(deadline) {
				t.Fatalf("usage of %s never reached control", requestID)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// The first call fetches the snapshot the edge then serves for a
	// TTL, and tells what a call costs. Leave credit for two and a half
	// more, so the balance crosses zero early in the snapshot's life,
	// which is the worst case.
	fetchedAt := env.KeyClock.Now()
	status, id, body := call()
	if status != http.StatusOK {
		t.Fatalf("first call: %d %s", status, body)
	}
	unit := cost(id)
	if unit <= 0 {
		t.Fatalf("a call costs %d", unit)
	}
	tn.Grant(t, -(tn.Balance(t) - unit*5/2))

	const step = 2 * time.Second
	var exhaustedAt, refusedAt time.Time
	var afterExhaustion, crossing int64
	for range 2 * int(snapshotTTL/step) {
		env.KeyClock.Advance(step)
		status, id, body = call()
		if status == http.StatusPaymentRequired {
			refusedAt = env.KeyClock.Now()
			break
		}
		if status != http.StatusOK {
			t.Fatalf("call: %d %s", status, body)
		}
		c := cost(id)
		if !exhaustedAt.IsZero() {
			afterExhaustion += c
		} else if tn.Balance(t) <= 0 {
			exhaustedAt, crossing = env.KeyClock.Now(), c
		}
	}
	if exhaustedAt.IsZero() || refusedAt.IsZero() {
		t.Fatalf("exhausted at %v, refused at %v", exhaustedAt, refusedAt)
	}

	// The refusal: 402, a clear message, the top-up link; the snapshot
	// control serves says exhausted.
	var e struct {
		Error struct{ Message, Code string }
	}
	json.Unmarshal(body, &e)
	if e.Error.Code != "insufficient_credits" || !strings.Contains(e.Error.Message, "credit balance is exhausted") ||
		!strings.Contains(e.Error.Message, topUp) {
		t.Errorf("402 body %s", body)
	}
	h := sha256.Sum256([]byte(secret))
	snap, err := env.Control.Service.KeySnapshot(ctx, hex.EncodeToString(h[:]))
	if err != nil || snap.Balance != edgeapi.BalanceExhausted {
		t.Errorf("snapshot %+v %v", snap, err)
	}

	// The bound on time: refused at the first call once the snapshot
	// fetched before the exhaustion has lived a TTL.
	if refusedAt.Sub(fetchedAt) > snapshotTTL+step || refusedAt.Sub(exhaustedAt) > snapshotTTL {
		t.Errorf("exhausted %v and refused %v after the fetch: beyond one TTL (%v)",
			exhaustedAt.Sub(fetchedAt), refusedAt.Sub(fetchedAt), snapshotTTL)
	}
	// The bound on money: what was admitted in the window.
	overspend := -tn.Balance(t)
	t.Logf("a call costs %d µ$; exhausted %v after the fetch, refused %v after the exhaustion; overspend %d µ$ (%d calls after zero)",
		unit, exhaustedAt.Sub(fetchedAt), refusedAt.Sub(exhaustedAt), overspend, afterExhaustion/unit)
	if overspend <= 0 || overspend > crossing+afterExhaustion {
		t.Errorf("overspend %d, admitted in the window %d", overspend, crossing+afterExhaustion)
	}
	if status, _, _ := call(); status != http.StatusPaymentRequired {
		t.Errorf("after the refusal: %d", status)
	}
	controltest.Audit(t, env.Control.DBPath)
}
