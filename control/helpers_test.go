package control_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

func mustAccount(tb testing.TB, svc *control.Service, email string, credit int64) *control.Account {
	tb.Helper()
	ctx := context.Background()
	a, err := svc.CreateAccount(ctx, control.AccountCreate{Name: "Test", Email: email, BillingAddress: "1 Test Street",
		Password: "correct horse battery"})
	if err != nil {
		tb.Fatalf("create account: %v", err)
	}
	if credit != 0 {
		if _, err := svc.GrantCredits(ctx, a.ID, credit, "test credit", ""); err != nil {
			tb.Fatalf("grant: %v", err)
		}
	}
	return a
}

// usageRecord is a typical chat request's metadata: 1000 prompt tokens of
// which 200 cached, 300 output, on openai/gpt-4o-mini.
func usageRecord(id string, k *control.APIKey, at time.Time) edgeapi.UsageRecord {
	return edgeapi.UsageRecord{
		RequestID: id, KeyID: k.ID, AccountID: k.AccountID, StartedAt: at, Endpoint: "chat.completions",
		Model: "openai/gpt-4o-mini", ServedModel: "openai/gpt-4o-mini", Provider: "openai", Status: 200,
		FinishReason: "stop", InputTokens: 800, CachedInputTokens: 200, OutputTokens: 300, LatencyMs: 850, TTFBMs: 120,
		Attempts: 1,
	}
}
