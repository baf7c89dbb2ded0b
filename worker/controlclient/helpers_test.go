package controlclient_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/edgehttp"
)

// quiet discards a client's log lines; tests assert on outcomes.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gatedUpstream holds each call to control until the test lets it go, so
// a test can act while a request is in flight. Calls still honour their
// context, as a real client does.
type gatedUpstream struct {
	next    worker.Upstream
	entered chan struct{}
	release chan struct{}
	calls   atomic.Int64
}

func newGatedUpstream() *gatedUpstream {
	return &gatedUpstream{next: edgehttp.NewClient(), entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (u *gatedUpstream) Do(ctx context.Context, r *chat.HTTPRequest) (*worker.UpstreamResponse, error) {
	u.calls.Add(1)
	u.entered <- struct{}{}
	select {
	case <-u.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return u.next.Do(ctx, r)
}

// slowUpstream delays every call to control.
type slowUpstream struct {
	next  worker.Upstream
	delay time.Duration
}

func (u slowUpstream) Do(ctx context.Context, r *chat.HTTPRequest) (*worker.UpstreamResponse, error) {
	time.Sleep(u.delay)
	return u.next.Do(ctx, r)
}

// tenantWithKey signs a tenant up with credit and one plain key.
func tenantWithKey(t testing.TB, ctl *edgetest.Control) (*edgetest.Tenant, control.APIKey, string) {
	t.Helper()
	tn := ctl.Signup(t, fmt.Sprintf("t%d@example.com", time.Now().UnixNano()))
	tn.Grant(t, 100_000_000)
	k, secret := tn.CreateKey(t, control.KeyCreate{Name: "test"})
	return tn, k, secret
}

// usageRecords makes n records of successful calls by key, with request
// ids prefix-0, prefix-1, …
func usageRecords(k control.APIKey, prefix string, n int) []worker.UsageRecord {
	out := make([]worker.UsageRecord, n)
	for i := range out {
		out[i] = worker.UsageRecord{
			RequestID: fmt.Sprintf("%s-%d", prefix, i), KeyID: k.ID, AccountID: k.AccountID,
			StartedAt: time.Now(), Endpoint: "chat.completions", Model: "openai/gpt-4o-mini",
			ServedModel: "openai/gpt-4o-mini", Provider: "openai", Status: 200, FinishReason: "stop",
			Tokens: chat.Tokens{Input: 1000, Output: 200}, Latency: 300 * time.Millisecond, Attempts: 1,
		}
	}
	return out
}

// stored counts the account's usage records at control.
func stored(t testing.TB, ctl *edgetest.Control, accountID string) int64 {
	t.Helper()
	rep, err := ctl.Service.Usage(context.Background(), control.UsageQuery{AccountID: accountID, GroupBy: control.GroupByModel})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Total.Requests
}

// storedIDs reports which of recs control holds, by request id.
func storedIDs(t testing.TB, ctl *edgetest.Control, recs []worker.UsageRecord) (found, missing []string) {
	t.Helper()
	for _, r := range recs {
		_, err := ctl.Service.UsageRecord(context.Background(), r.AccountID, r.RequestID)
		switch {
		case err == nil:
			found = append(found, r.RequestID)
		case control.ErrorCode(err) == control.ENOTFOUND:
			missing = append(missing, r.RequestID)
		default:
			t.Fatal(err)
		}
	}
	return found, missing
}
