package controlclient_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/worker"
)

// The tests below run a customer's whole path: sign up and get a key from
// the control service's JSON API, call the edge with the official OpenAI
// SDK, and read the call back from the usage API. Only the providers are
// stood in for, by the emulator.

func sdk(env *edgetest.Env, key string) openai.Client {
	return openai.NewClient(option.WithBaseURL(env.BaseURL+"/v1/"), option.WithAPIKey(key),
		// A retry would hide what the edge answered first.
		option.WithMaxRetries(0))
}

func hello(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello to the ledger")},
	}
}

// apiError unwraps the SDK's error for an HTTP error answer.
func apiError(t *testing.T, err error, status int) *openai.Error {
	t.Helper()
	var e *openai.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an API error with status %d", err, status)
	}
	if e.StatusCode != status {
		t.Fatalf("status %d (%s: %s), want %d", e.StatusCode, e.Code, e.Message, status)
	}
	return e
}

// usageRecord waits for the edge's record of requestID to reach control
// and reads it through GET /api/v1/usage/{request_id}.
func usageRecord(t *testing.T, tn *edgetest.Tenant, requestID string) control.UsageRecord {
	t.Helper()
	var rec control.UsageRecord
	waitFor(t, "usage record "+requestID, func() bool {
		status, _ := tn.Do(t, http.MethodGet, "/api/v1/usage/"+requestID, nil, &rec)
		return status == http.StatusOK
	})
	return rec
}

func catalogCost(t *testing.T, svc *control.Service, model string, tokens control.Tokens) int64 {
	t.Helper()
	cat, err := svc.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := cat.Find(model)
	if m == nil {
		t.Fatalf("%s is not in control's catalog", model)
	}
	return m.Cost(tokens)
}

func TestEndToEnd(t *testing.T) {
	for _, native := range []bool{false, true} {
		t.Run(map[bool]string{false: "net/http", true: "fasthttp"}[native], func(t *testing.T) {
			testEndToEnd(t, native)
		})
	}
}

func testEndToEnd(t *testing.T, native bool) {
	env := edgetest.Start(t, edgetest.Options{Control: true, Native: native})
	ctx := context.Background()
	tn := env.Control.Signup(t, "grace@example.com")
	tn.Grant(t, 5_000_000)
	before := tn.Balance(t)
	key, secret := tn.CreateKey(t, control.KeyCreate{Name: "sdk"})
	client := sdk(env, secret)

	const model = "openai/gpt-4o-mini"
	var raw *http.Response
	resp, err := client.Chat.Completions.New(ctx, hello(model), option.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	id := raw.Header.Get("X-Request-Id")
	rec := usageRecord(t, tn, id)
	want := edgeapi.UsageRecord{
		RequestID: id, KeyID: key.ID, AccountID: tn.Account.ID, StartedAt: rec.StartedAt,
		Endpoint: "chat.completions", Model: model, ServedModel: model, Provider: "openai", Status: 200,
		FinishReason: "stop", InputTokens: int(resp.Usage.PromptTokens), OutputTokens: int(resp.Usage.CompletionTokens),
		LatencyMs: rec.LatencyMs, TTFBMs: rec.TTFBMs, Attempts: 1, EdgeCostMicros: rec.EdgeCostMicros,
	}
	if !equalRecords(rec.UsageRecord, want) {
		t.Fatalf("stored record\n%+v\nwant\n%+v", rec.UsageRecord, want)
	}
	if rec.StartedAt.IsZero() || time.Since(rec.StartedAt) > time.Minute || rec.EdgeID != "edgetest" {
		t.Errorf("started_at %v, edge_id %q", rec.StartedAt, rec.EdgeID)
	}
	cost := catalogCost(t, env.Control.Service, model, control.Tokens{Input: resp.Usage.PromptTokens, Output: resp.Usage.CompletionTokens})
	if cost <= 0 || rec.CostMicros != cost || rec.PricedBy != control.PricedByCatalog {
		t.Errorf("cost %d priced by %s, want the catalog's %d", rec.CostMicros, rec.PricedBy, cost)
	}
	if rec.EdgeCostMicros != cost {
		t.Errorf("the edge priced the call at %d, control at %d: their catalogs disagree", rec.EdgeCostMicros, cost)
	}
	if spent := before - tn.Balance(t); spent != cost {
		t.Errorf("balance fell by %d, want %d", spent, cost)
	}

	var rep control.UsageReport
	tn.Must(t, http.StatusOK, http.MethodGet, "/api/v1/usage?group_by=model", nil, &rep)
	wantRow := control.UsageAggregate{Group: model, Requests: 1, InputTokens: resp.Usage.PromptTokens,
		OutputTokens: resp.Usage.CompletionTokens, CostMicros: cost}
	if len(rep.Data) != 1 || rep.Data[0] != wantRow || rep.Total.CostMicros != cost {
		t.Errorf("usage by model = %+v, want one row %+v", rep, wantRow)
	}

	// A streamed call is billed for the counts its last event reported.
	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         model,
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Now stream it, one word at a time")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}, option.WithResponseInto(&raw))
	var usage openai.CompletionUsage
	for stream.Next() {
		if u := stream.Current().Usage; u.TotalTokens > 0 {
			usage = u
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	srec := usageRecord(t, tn, raw.Header.Get("X-Request-Id"))
	if !srec.Stream || srec.InputTokens != int(usage.PromptTokens) || srec.OutputTokens != int(usage.CompletionTokens) || srec.Estimated {
		t.Errorf("streamed record %+v, want the stream's usage %+v", srec.UsageRecord, usage)
	}
	scost := catalogCost(t, env.Control.Service, model, control.Tokens{Input: usage.PromptTokens, Output: usage.CompletionTokens})
	if srec.CostMicros != scost {
		t.Errorf("streamed cost %d, want %d", srec.CostMicros, scost)
	}
	if spent := before - tn.Balance(t); spent != cost+scost {
		t.Errorf("balance fell by %d, want %d", spent, cost+scost)
	}
}

// equalRecords compares records whose StartedAt came through JSON.
func equalRecords(a, b edgeapi.UsageRecord) bool {
	if !a.StartedAt.Equal(b.StartedAt) {
		return false
	}
	a.StartedAt, b.StartedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func TestEndToEndRefusals(t *testing.T) {
	env := edgetest.Start(t, edgetest.Options{Control: true})
	ctx := context.Background()
	tn := env.Control.Signup(t, "refused@example.com")
	tn.Grant(t, 5_000_000)

	t.Run("requests per minute", func(t *testing.T) {
		_, secret := tn.CreateKey(t, control.KeyCreate{Name: "one per minute", Limits: edgeapi.Limits{RequestsPerMinute: 1}})
		client := sdk(env, secret)
		if _, err := client.Chat.Completions.New(ctx, hello("openai/gpt-4o-mini")); err != nil {
			t.Fatal(err)
		}
		_, err := client.Chat.Completions.New(ctx, hello("openai/gpt-4o-mini"))
		e := apiError(t, err, http.StatusTooManyRequests)
		if e.Code != "rate_limit_exceeded" || e.Type != "rate_limit_error" {
			t.Errorf("code %q type %q", e.Code, e.Type)
		}
		secs, err := strconv.Atoi(e.Response.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 60 {
			t.Errorf("Retry-After %q, want 1..60 seconds", e.Response.Header.Get("Retry-After"))
		}
	})

	t.Run("allowed models", func(t *testing.T) {
		_, secret := tn.CreateKey(t, control.KeyCreate{Name: "mini only", AllowedModels: []string{"openai/gpt-4o-mini"}})
		client := sdk(env, secret)
		if _, err := client.Chat.Completions.New(ctx, hello("openai/gpt-4o-mini")); err != nil {
			t.Fatal(err)
		}
		_, err := client.Chat.Completions.New(ctx, hello("anthropic/claude-haiku-4-5"))
		if e := apiError(t, err, http.StatusForbidden); e.Type != "permission_error" {
			t.Errorf("type %q, want permission_error", e.Type)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		key, secret := tn.CreateKey(t, control.KeyCreate{Name: "to revoke"})
		client := sdk(env, secret)
		if _, err := client.Chat.Completions.New(ctx, hello("openai/gpt-4o-mini")); err != nil {
			t.Fatal(err)
		}
		tn.Must(t, http.StatusOK, http.MethodPost, "/api/v1/keys/"+key.ID+"/revoke", nil, nil)
		env.KeyClock.Advance(31 * time.Second)
		_, err := client.Chat.Completions.New(ctx, hello("openai/gpt-4o-mini"))
		if e := apiError(t, err, http.StatusUnauthorized); e.Code != "key_revoked" {
			t.Errorf("code %q, want key_revoked", e.Code)
		}
	})
}

func TestEndToEndBalanceExhausted(t *testing.T) {
	env := edgetest.Start(t, edgetest.Options{Control: true, Modify: func(c *worker.Config) {
		c.TopUpURL = "https://switchyard.example/billing"
	}})
	ctx := context.Background()
	tn := env.Control.Signup(t, "thrifty@example.com")
	tn.Grant(t, 3) // less than any call costs
	_, secret := tn.CreateKey(t, control.KeyCreate{Name: "last call"})
	client := sdk(env, secret)

	var raw *http.Response
	if _, err := client.Chat.Completions.New(ctx, hello("openai/gpt-4o-mini"), option.WithResponseInto(&raw)); err != nil {
		t.Fatal(err)
	}
	usageRecord(t, tn, raw.Header.Get("X-Request-Id"))
	if b := tn.Balance(t); b >= 0 {
		t.Fatalf("balance %d after a call dearer than the credit", b)
	}
	// The edge acts on the balance its snapshot showed until the TTL runs
	// out; then it refuses.
	env.KeyClock.Advance(31 * time.Second)
	_, err := client.Chat.Completions.New(ctx, hello("openai/gpt-4o-mini"))
	e := apiError(t, err, http.StatusPaymentRequired)
	if e.Code != "insufficient_credits" || !strings.Contains(e.Message, "credit balance is exhausted") ||
		!strings.Contains(e.Message, "https://switchyard.example/billing") {
		t.Errorf("code %q message %q", e.Code, e.Message)
	}

	tn.Grant(t, 1_000_000)
	env.KeyClock.Advance(31 * time.Second)
	if _, err := client.Chat.Completions.New(ctx, hello("openai/gpt-4o-mini")); err != nil {
		t.Fatalf("after a top-up: %v", err)
	}
}

// TestEndToEndControlOutage: while control is down, keys the edge has seen
// keep working, new ones get 503, and the usage of the calls served meanwhile
// reaches control once it is back.
func TestEndToEndControlOutage(t *testing.T) {
	env := edgetest.Start(t, edgetest.Options{Control: true, Native: true})
	ctx := context.Background()
	tn := env.Control.Signup(t, "outage@example.com")
	tn.Grant(t, 5_000_000)
	_, secret := tn.CreateKey(t, control.KeyCreate{Name: "seen"})
	_, unseen := tn.CreateKey(t, control.KeyCreate{Name: "unseen"})
	client := sdk(env, secret)
	if _, err := client.Chat.Completions.New(ctx, hello("openai/gpt-4o-mini")); err != nil {
		t.Fatal(err)
	}

	env.Control.Stop()
	env.KeyClock.Advance(5 * time.Minute) // past the TTL: only a stale snapshot is left
	var ids []string
	for range 3 {
		var raw *http.Response
		if _, err := client.Chat.Completions.New(ctx, hello("openai/gpt-4o-mini"), option.WithResponseInto(&raw)); err != nil {
			t.Fatalf("a cached key while control is down: %v", err)
		}
		ids = append(ids, raw.Header.Get("X-Request-Id"))
	}
	newcomer := sdk(env, unseen)
	_, err := newcomer.Chat.Completions.New(ctx, hello("openai/gpt-4o-mini"))
	e := apiError(t, err, http.StatusServiceUnavailable)
	if e.Response.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}

	env.Control.Restart(t)
	for _, id := range ids {
		usageRecord(t, tn, id)
	}
	if _, err := newcomer.Chat.Completions.New(ctx, hello("openai/gpt-4o-mini")); err != nil {
		t.Fatalf("the new key once control is back: %v", err)
	}
}
