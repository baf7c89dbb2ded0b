package control

import (
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

func TestPasswordHash(t *testing.T) {
	p := PasswordParams{Time: 1, MemoryKiB: 64, Threads: 1}
	enc := hashPassword(p, "correct horse battery")
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("encoding = %q", enc)
	}
	if enc == hashPassword(p, "correct horse battery") {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
	tests := []struct {
		name     string
		encoded  string
		password string
		ok       bool
		wantErr  bool
	}{
		{"right password", enc, "correct horse battery", true, false},
		{"wrong password", enc, "correct horse battery!", false, false},
		{"empty password", enc, "", false, false},
		{"other params verify with their own", hashPassword(PasswordParams{Time: 2, MemoryKiB: 128, Threads: 2}, "pw123456"), "pw123456", true, false},
		{"not argon2id", "$2a$10$abcdefghijklmnopqrstuv", "x", false, true},
		{"bad salt", "$argon2id$v=19$m=64,t=1,p=1$!!!$AAAA", "x", false, true},
		{"wrong version", strings.Replace(enc, "v=19", "v=16", 1), "correct horse battery", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := verifyPassword(tt.encoded, tt.password)
			if ok != tt.ok || (err != nil) != tt.wantErr {
				t.Fatalf("verify = %v, %v; want %v, error %v", ok, err, tt.ok, tt.wantErr)
			}
		})
	}
}

func TestRandomBase62(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for i := 0; i < 2000; i++ {
		s := randomBase62(40)
		if len(s) != 40 {
			t.Fatalf("len = %d", len(s))
		}
		if seen[s] {
			t.Fatal("repeated secret")
		}
		seen[s] = true
		for _, r := range s {
			if !strings.ContainsRune(base62, r) {
				t.Fatalf("character %q outside base62", r)
			}
			counts[r]++
		}
	}
	// 80,000 draws over 62 symbols: about 1290 each. A biased sampler
	// (plain modulo of a byte) would skew the first 8 symbols by ~25%.
	for r, n := range counts {
		if n < 1100 || n > 1500 {
			t.Errorf("symbol %q drawn %d times; want about 1290", r, n)
		}
	}
}

func TestModelCost(t *testing.T) {
	mini := Model{InputPrice: 150_000, OutputPrice: 600_000, CachedInputPrice: 75_000}
	noCache := Model{InputPrice: 2_000_000, OutputPrice: 8_000_000}
	tests := []struct {
		name  string
		model Model
		t     Tokens
		want  int64
	}{
		{"nothing is free", mini, Tokens{}, 0},
		{"input only", mini, Tokens{Input: 1_000_000}, 150_000},
		{"output only", mini, Tokens{Output: 1_000_000}, 600_000},
		{"cached at cached price", mini, Tokens{CachedInput: 1_000_000}, 75_000},
		{"cached at input price when none", noCache, Tokens{CachedInput: 1_000_000}, 2_000_000},
		{"cache writes at input price", mini, Tokens{CacheWrite: 1_000_000}, 150_000},
		// 800*0.15 + 200*0.075 + 300*0.6 = 120 + 15 + 180 = 315 micro-dollars.
		{"typical request", mini, Tokens{Input: 800, CachedInput: 200, Output: 300}, 315},
		// 1 token at $0.15/M is 0.15 micro-dollars: rounded up to 1.
		{"fractions round up", mini, Tokens{Input: 1}, 1},
		{"largest request does not overflow", Model{InputPrice: maxPrice, OutputPrice: maxPrice},
			Tokens{Input: maxTokens, CachedInput: maxTokens, CacheWrite: maxTokens, Output: maxTokens}, 4 * maxTokens * 10_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.model.Cost(tt.t); got != tt.want {
				t.Fatalf("Cost = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCheckUsageRecord(t *testing.T) {
	now := time.Date(2026, 3, 16, 12, 0, 0, 0, time.UTC)
	good := func() edgeapi.UsageRecord {
		return edgeapi.UsageRecord{RequestID: "req_1", KeyID: "key_1", AccountID: "acct_1", StartedAt: now.Add(-time.Second),
			Endpoint: "chat.completions", Model: "openai/gpt-4o-mini", Status: 200, InputTokens: 10, OutputTokens: 5,
			Tags: map[string]string{"team": "search"}}
	}
	tests := []struct {
		name   string
		mutate func(r *edgeapi.UsageRecord)
		reason string
	}{
		{"valid", func(r *edgeapi.UsageRecord) {}, ""},
		{"valid failed request without model", func(r *edgeapi.UsageRecord) { r.Model, r.Status = "", 401 }, ""},
		{"no request id", func(r *edgeapi.UsageRecord) { r.RequestID = "" }, "request_id is required"},
		{"long request id", func(r *edgeapi.UsageRecord) { r.RequestID = strings.Repeat("r", 129) }, "request_id is longer than 128 bytes"},
		{"request id with space", func(r *edgeapi.UsageRecord) { r.RequestID = "req 1" }, "request_id must be printable ASCII without spaces"},
		{"no key", func(r *edgeapi.UsageRecord) { r.KeyID = "" }, "key_id is required"},
		{"no account", func(r *edgeapi.UsageRecord) { r.AccountID = "" }, "account_id is required"},
		{"no start", func(r *edgeapi.UsageRecord) { r.StartedAt = time.Time{} }, "started_at is required"},
		{"start in the future", func(r *edgeapi.UsageRecord) { r.StartedAt = now.Add(2 * time.Hour) }, "started_at is in the future"},
		{"slightly fast edge clock", func(r *edgeapi.UsageRecord) { r.StartedAt = now.Add(time.Minute) }, ""},
		{"ancient start", func(r *edgeapi.UsageRecord) { r.StartedAt = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) }, "started_at is out of range"},
		{"unknown endpoint", func(r *edgeapi.UsageRecord) { r.Endpoint = "completions" }, "endpoint is unknown"},
		{"model with newline", func(r *edgeapi.UsageRecord) { r.Model = "gpt\n4" }, "model must be printable ASCII without spaces"},
		{"long served model", func(r *edgeapi.UsageRecord) { r.ServedModel = strings.Repeat("m", 129) }, "served_model is longer than 128 bytes"},
		{"status zero", func(r *edgeapi.UsageRecord) { r.Status = 0 }, "status is not an HTTP status"},
		{"negative input", func(r *edgeapi.UsageRecord) { r.InputTokens = -1 }, "input_tokens is out of range"},
		{"huge output", func(r *edgeapi.UsageRecord) { r.OutputTokens = maxTokens + 1 }, "output_tokens is out of range"},
		{"negative latency", func(r *edgeapi.UsageRecord) { r.LatencyMs = -1 }, "latency_ms is out of range"},
		{"negative ttfb", func(r *edgeapi.UsageRecord) { r.TTFBMs = -5 }, "ttfb_ms is out of range"},
		{"too many attempts", func(r *edgeapi.UsageRecord) { r.Attempts = 101 }, "attempts is out of range"},
		{"negative edge cost", func(r *edgeapi.UsageRecord) { r.EdgeCostMicros = -1 }, "edge_cost_micros is out of range"},
		{"too many tags", func(r *edgeapi.UsageRecord) {
			r.Tags = map[string]string{}
			for i := 0; i < 17; i++ {
				r.Tags[strings.Repeat("k", i+1)] = "v"
			}
		}, "more than 16 tags"},
		{"long tag value", func(r *edgeapi.UsageRecord) { r.Tags = map[string]string{"k": strings.Repeat("v", 257)} }, "tag value is longer than 256 bytes"},
		{"tag value with control", func(r *edgeapi.UsageRecord) { r.Tags = map[string]string{"k": "a\x00b"} }, "tag value contains control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.mutate(&r)
			err := checkUsageRecord(&r, now)
			got := ""
			if err != nil {
				got = ErrorMessage(err)
			}
			if got != tt.reason {
				t.Fatalf("reason = %q, want %q", got, tt.reason)
			}
		})
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code string
		msg  string
	}{
		{"nil", nil, "", ""},
		{"domain", Errorf(ENOTFOUND, "key not found"), ENOTFOUND, "key not found"},
		{"wrapped domain", wrap(Errorf(ECONFLICT, "taken")), ECONFLICT, "taken"},
		{"other errors are internal and say nothing", errString("disk I/O error at /var/lib"), EINTERNAL, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := ErrorMessage(tt.err); got != tt.msg {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.msg)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

type wrapped struct{ err error }

func (w wrapped) Error() string { return "context: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func wrap(err error) error { return wrapped{err} }
