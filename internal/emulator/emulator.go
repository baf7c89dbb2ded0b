package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Provider names as used in Rule.Provider and RecordedRequest.Provider.
const (
	ProviderOpenAI    = "openai"
	ProviderAnthropic = "anthropic"
	ProviderGemini    = "gemini"
)

// Rule changes how matching requests are answered. The zero value of each
// field means "behave normally".
type Rule struct {
	Model           string        // upstream model name without provider prefix, e.g. "gpt-4o-mini"; "" = any model
	Provider        string        // "openai", "anthropic", "gemini" or "" = any
	Status          int           // if nonzero: answer with this HTTP status and the provider's own error body (before any byte of a stream)
	Times           int           // how many requests the rule applies to; 0 = unlimited
	Latency         time.Duration // delay before the response headers
	ChunkDelay      time.Duration // delay between stream events
	FailAfterEvents int           // streaming only: abort the connection after this many SSE events
	CachedTokens    int           // cached prompt tokens to report (see the package comment)
	ReasoningTokens int           // reasoning tokens to report (see the package comment)
	Text            string        // if set, the assistant reply text instead of the default (and instead of tool calls)
}

// RecordedRequest is one request as the emulator received it, so tests can
// assert what the gateway sent upstream.
type RecordedRequest struct {
	Provider string      `json:"provider"`
	Path     string      `json:"path"`
	Model    string      `json:"model"`
	Stream   bool        `json:"stream"`
	Header   http.Header `json:"header"`
	Body     []byte      `json:"body"`
}

// Server is the emulator. Its zero value is not usable; call New.
type Server struct {
	mu       sync.Mutex
	nextID   int
	rules    []*activeRule // oldest first
	requests []RecordedRequest
	noRecord atomic.Bool
}

type activeRule struct {
	id        int
	rule      Rule
	remaining int // only meaningful when rule.Times > 0
}

// New returns an emulator with no rules and no recorded requests.
func New() *Server { return &Server{} }

// AddRule installs r and returns its id. Rules are checked newest first and
// the first match wins.
func (s *Server) AddRule(r Rule) (id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.rules = append(s.rules, &activeRule{id: s.nextID, rule: r, remaining: r.Times})
	return s.nextID
}

// ClearRules removes every rule.
func (s *Server) ClearRules() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
}

// Requests returns a copy of every request received so far, oldest first.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RecordedRequest, len(s.requests))
	copy(out, s.requests)
	return out
}

// SetRecording turns the recording of requests on (the default) or off. Load
// tests turn it off: the record keeps every request and would grow without
// bound.
func (s *Server) SetRecording(on bool) { s.noRecord.Store(!on) }

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// match finds the rule for a request and consumes one of its uses.
func (s *Server) match(provider, model string) Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.rules) - 1; i >= 0; i-- {
		ar := s.rules[i]
		if (ar.rule.Provider != "" && ar.rule.Provider != provider) || (ar.rule.Model != "" && ar.rule.Model != model) {
			continue
		}
		if ar.rule.Times > 0 {
			ar.remaining--
			if ar.remaining <= 0 {
				s.rules = append(s.rules[:i], s.rules[i+1:]...)
			}
		}
		return ar.rule
	}
	return Rule{}
}

func (s *Server) record(rr RecordedRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, rr)
}

// maxBody bounds what the emulator reads; real providers cap requests too.
const maxBody = 64 << 20

// ServeHTTP routes by path to the admin API or one of the three providers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_emulator/") {
		s.serveAdmin(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	ex := &exchange{srv: s, w: w, r: r, body: body}
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1/messages"):
		ex.provider = ProviderAnthropic
		ex.recordJSON()
		serveAnthropic(ex)
	case strings.HasPrefix(r.URL.Path, "/v1beta/") || (strings.HasPrefix(r.URL.Path, "/v1/models/") && strings.Contains(r.URL.Path, ":")):
		ex.provider = ProviderGemini
		serveGemini(ex)
	case strings.HasPrefix(r.URL.Path, "/v1/"):
		ex.provider = ProviderOpenAI
		ex.recordJSON()
		serveOpenAI(ex)
	default:
		http.NotFound(w, r)
	}
}

// exchange carries one provider request through auth, rules and the reply.
type exchange struct {
	srv      *Server
	w        http.ResponseWriter
	r        *http.Request
	body     []byte
	provider string
	rule     Rule
}

// recordJSON records a request whose model and stream flag are in its body.
func (ex *exchange) recordJSON() {
	if ex.srv.noRecord.Load() {
		return
	}
	var head struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	_ = json.Unmarshal(ex.body, &head) // malformed bodies are still recorded
	ex.record(head.Model, head.Stream)
}

func (ex *exchange) record(model string, stream bool) {
	if ex.srv.noRecord.Load() {
		return
	}
	ex.srv.record(RecordedRequest{
		Provider: ex.provider,
		Path:     ex.r.URL.Path,
		Model:    model,
		Stream:   stream,
		Header:   ex.r.Header.Clone(),
		Body:     bytes.Clone(ex.body),
	})
}

// applyRule matches the rule for model, waits out its latency and, if it
// injects a status, writes the provider's error. It reports whether the
// caller should go on answering.
func (ex *exchange) applyRule(model string, writeError func(status int, msg string)) bool {
	ex.rule = ex.srv.match(ex.provider, model)
	if !sleep(ex.r.Context(), ex.rule.Latency) {
		return false
	}
	if ex.rule.Status != 0 {
		if ex.rule.Status == http.StatusTooManyRequests || ex.rule.Status == http.StatusServiceUnavailable {
			if ex.provider != ProviderGemini {
				ex.w.Header().Set("Retry-After", "1")
			}
		}
		writeError(ex.rule.Status, fmt.Sprintf("Injected by the Switchyard emulator: HTTP %d.", ex.rule.Status))
		return false
	}
	return true
}

// sleep waits for d unless ctx ends first; it reports whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// adminRule is the wire form of Rule for the admin API.
type adminRule struct {
	Model           string `json:"model"`
	Provider        string `json:"provider"`
	Status          int    `json:"status"`
	Times           int    `json:"times"`
	Latency         string `json:"latency"`
	ChunkDelay      string `json:"chunk_delay"`
	FailAfterEvents int    `json:"fail_after_events"`
	CachedTokens    int    `json:"cached_tokens"`
	ReasoningTokens int    `json:"reasoning_tokens"`
	Text            string `json:"text"`
}

func (a adminRule) rule() (Rule, error) {
	r := Rule{
		Model: a.Model, Provider: a.Provider, Status: a.Status, Times: a.Times,
		FailAfterEvents: a.FailAfterEvents, CachedTokens: a.CachedTokens,
		ReasoningTokens: a.ReasoningTokens, Text: a.Text,
	}
	for _, d := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"latency", a.Latency, &r.Latency}, {"chunk_delay", a.ChunkDelay, &r.ChunkDelay}} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil {
			return Rule{}, fmt.Errorf("%s: %w", d.name, err)
		}
		*d.out = v
	}
	switch r.Provider {
	case "", ProviderOpenAI, ProviderAnthropic, ProviderGemini:
	default:
		return Rule{}, fmt.Errorf("provider: unknown %q", r.Provider)
	}
	if r.Status != 0 && (r.Status < 400 || r.Status > 599) {
		return Rule{}, fmt.Errorf("status: %d is not an error status", r.Status)
	}
	return r, nil
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_emulator/rules":
		switch r.Method {
		case http.MethodPost:
			var a adminRule
			dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&a); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			rule, err := a.rule()
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusCreated, map[string]int{"id": s.AddRule(rule)})
		case http.MethodDelete:
			s.ClearRules()
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", "POST, DELETE")
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	case "/_emulator/requests":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, s.Requests())
		case http.MethodDelete:
			s.ResetRequests()
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Allow", "GET, DELETE")
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	default:
		http.NotFound(w, r)
	}
}
