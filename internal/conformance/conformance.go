// Package conformance drives a running Switchyard edge with the official
// OpenAI and Anthropic Go SDKs, the way clients use it, and checks what the
// SDKs hand back: text, finish and stop reasons, tool calls, token usage,
// errors, fallbacks and broken streams, through every provider behind the
// edge. It needs only a base URL and an API key, so one suite runs against
// the native edge in process and against the Workers build under wrangler
// dev.
//
// The edge's upstreams must be the provider emulator (internal/emulator), and
// its catalog the one internal/edgetest builds plus Models: the suite asserts
// the replies and token counts the emulator documents, and injects faults with
// emulator rules keyed by the models Models reserves, so that a rule never
// reaches a test running beside it.
//
// Every OpenAI-route body, stream chunk and error the edge returns is also
// checked against OpenAI's published OpenAPI description (internal/openapispec).
package conformance

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/emulator"
	"github.com/switchyard-ai/switchyard/worker"
)

// Target is a running edge under test.
type Target struct {
	// BaseURL is the edge's root, without /v1. Required.
	BaseURL string
	// APIKey is a key that may use every model of the catalog. Required.
	APIKey string
	// Faults installs rules in the emulator behind the edge. Required.
	Faults Faults
	// Usage returns the usage record the edge wrote for a request id. nil
	// means the target cannot show its records: the checks against them are
	// skipped, and the suite logs that it skipped them.
	Usage func(requestID string) (worker.UsageRecord, bool)
}

// Faults installs emulator rules. *emulator.Server implements it in process;
// EmulatorAdmin does over the emulator's HTTP admin API.
type Faults interface {
	// AddRule installs r and returns its id, or 0 if it could not.
	AddRule(r emulator.Rule) int
	// ClearRules removes every rule.
	ClearRules()
}

var _ Faults = (*emulator.Server)(nil)

// provider is one upstream behind the edge, as the suite addresses it.
type provider struct {
	name     string // the catalog's provider prefix
	emulator string // the emulator's name for it, used in rules
	model    string // the catalog chat model the matrix uses
}

// upstream is the model name the emulator sees, which its replies quote.
func (p provider) upstream() string { return strings.TrimPrefix(p.model, p.name+"/") }

var providers = []provider{
	{name: "openai", emulator: emulator.ProviderOpenAI, model: "openai/gpt-4o-mini"},
	{name: "anthropic", emulator: emulator.ProviderAnthropic, model: "anthropic/claude-haiku-4-5"},
	{name: "google", emulator: emulator.ProviderGemini, model: "google/gemini-2.5-flash"},
}

// fault names a reserved model per provider; each carries one rule.
type fault string

const (
	faultUnavailable fault = "unavailable" // 503 on every attempt
	faultMidStream   fault = "midstream"   // streams break after a few events
	faultHangUp      fault = "hangup"      // long, slow streams for clients that hang up
	faultCached      fault = "cached"      // usage with cached and reasoning tokens
)

var faults = []fault{faultUnavailable, faultMidStream, faultHangUp, faultCached}

// Token counts the faultCached rule adds, and the events after which
// faultMidStream breaks.
const (
	cachedTokens    = 7
	reasoningTokens = 4
	breakAfter      = 5
)

// faultModel is the catalog id reserved for f at p.
func (p provider) faultModel(f fault) string { return p.name + "/conformance-" + string(f) }

func (p provider) rule(f fault) emulator.Rule {
	r := emulator.Rule{Provider: p.emulator, Model: "conformance-" + string(f)}
	switch f {
	case faultUnavailable:
		r.Status = 503
	case faultMidStream:
		r.FailAfterEvents = breakAfter
	case faultHangUp:
		r.ChunkDelay = 15 * time.Millisecond
		r.Text = strings.Repeat("streaming on and on ", 100)
	case faultCached:
		r.CachedTokens, r.ReasoningTokens = cachedTokens, reasoningTokens
	}
	return r
}

// Models returns the catalog entries the suite reserves for its fault rules,
// one per provider and fault. A target's catalog must hold them besides
// edgetest's; they are priced so that cost accounting is exercised too.
func Models() []worker.Model {
	var out []worker.Model
	for _, p := range providers {
		for _, f := range faults {
			out = append(out, worker.Model{ID: p.faultModel(f), InputPrice: 1_000_000, OutputPrice: 2_000_000})
		}
	}
	return out
}

// suite is one run against one target.
type suite struct {
	tg Target
}

// Run runs the whole suite against tg as parallel subtests of t.
//
// # Notes
//
// Run clears the emulator's rules when it starts and when t ends, so two
// runs must not share one emulator at the same time.
func Run(t *testing.T, tg Target) {
	t.Helper()
	if tg.BaseURL == "" || tg.APIKey == "" || tg.Faults == nil {
		t.Fatal("conformance: Target needs BaseURL, APIKey and Faults")
	}
	tg.BaseURL = strings.TrimRight(tg.BaseURL, "/")
	tg.Faults.ClearRules()
	t.Cleanup(tg.Faults.ClearRules)
	for _, p := range providers {
		for _, f := range faults {
			if tg.Faults.AddRule(p.rule(f)) == 0 {
				t.Fatalf("conformance: the emulator refused the %s rule for %s", f, p.name)
			}
		}
	}
	if tg.Usage == nil {
		t.Log("conformance: the target shows no usage records; every check against them is skipped")
	}
	s := &suite{tg: tg}
	for _, group := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"text", s.testText},
		{"conversation", s.testConversation},
		{"image", s.testImage},
		{"tools", s.testTools},
		{"max_tokens", s.testMaxTokens},
		{"cached_usage", s.testCachedUsage},
		{"response_format", s.testResponseFormat},
		{"errors", s.testErrors},
		{"fallbacks", s.testFallbacks},
		{"stream_breaks", s.testStreamBreaks},
		{"client_hangs_up", s.testHangUp},
		{"embeddings", s.testEmbeddings},
		{"models", s.testModels},
	} {
		t.Run(group.name, func(t *testing.T) {
			t.Parallel()
			group.run(t)
		})
	}
}

// record waits briefly for the usage record of id, since a stream's record
// is written after its last byte. It reports false when the target shows no
// records, and fails t when the record never comes.
func (s *suite) record(t *testing.T, id string) (worker.UsageRecord, bool) {
	t.Helper()
	if s.tg.Usage == nil {
		return worker.UsageRecord{}, false
	}
	if id == "" {
		t.Error("the response carried no X-Request-Id")
		return worker.UsageRecord{}, false
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if rec, ok := s.tg.Usage(id); ok {
			return rec, true
		}
		if time.Now().After(deadline) {
			t.Errorf("no usage record for request %s", id)
			return worker.UsageRecord{}, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// secrets are the provider keys edgetest gives the gateway; no client may
// ever see them.
var secrets = []string{"emulator-openai-secret", "emulator-anthropic-secret", "emulator-gemini-secret"}

func checkNoSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Errorf("%s leaks the provider secret %q: %s", what, secret, s)
		}
	}
}

// The emulator's documented reply and token rules (see internal/emulator).

// echo is the emulator's default reply to lastUser from model upstream.
func echo(upstream, lastUser string, images int) string {
	text := "Hello from " + upstream + "."
	words := strings.Fields(lastUser)
	if len(words) > 8 {
		words = words[:8]
	}
	if len(words) > 0 {
		text += " You said: " + strings.Join(words, " ")
	}
	switch {
	case images == 1:
		text += " I see 1 image."
	case images > 1:
		text += fmt.Sprintf(" I see %d images.", images)
	}
	return text
}

// promptTokens counts messages of plain text: 3 each plus a token per four
// bytes.
func promptTokens(messages ...string) int {
	n := 0
	for _, m := range messages {
		n += 3 + (len(m)+3)/4
	}
	return n
}

// imageTokens is what each image adds to its message.
const imageTokens = 85

// firstWords is text cut after n words, as a token limit cuts it.
func firstWords(text string, n int) string {
	words := strings.Fields(text)
	return strings.Join(words[:min(n, len(words))], " ")
}

func wordCount(s string) int { return len(strings.Fields(s)) }
