package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/switchyard-ai/switchyard/internal/emulator"
)

// EmulatorAdmin is Faults for an emulator in another process, driven over
// its HTTP admin API (POST and DELETE /_emulator/rules). The zero value is
// not usable: URL is required.
type EmulatorAdmin struct {
	// URL is the emulator's root.
	URL string
	// Client carries the calls; nil means http.DefaultClient.
	Client *http.Client

	mu  sync.Mutex
	err error
}

var _ Faults = (*EmulatorAdmin)(nil)

// AddRule posts r and returns the id the emulator gave it; on failure it
// returns 0 and Err says why.
func (a *EmulatorAdmin) AddRule(r emulator.Rule) int {
	body, _ := json.Marshal(adminRule(r))
	resp, err := a.do(http.MethodPost, body)
	if err != nil {
		a.fail(err)
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var created struct {
		ID int `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &created) != nil || created.ID == 0 {
		a.fail(fmt.Errorf("POST /_emulator/rules: status %d: %s", resp.StatusCode, b))
		return 0
	}
	return created.ID
}

// ClearRules deletes every rule; a failure is kept for Err.
func (a *EmulatorAdmin) ClearRules() {
	resp, err := a.do(http.MethodDelete, nil)
	if err != nil {
		a.fail(err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		a.fail(fmt.Errorf("DELETE /_emulator/rules: status %d", resp.StatusCode))
	}
}

// Err returns the first failure of AddRule or ClearRules, if any.
func (a *EmulatorAdmin) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *EmulatorAdmin) fail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = err
	}
}

func (a *EmulatorAdmin) do(method string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(method, strings.TrimRight(a.URL, "/")+"/_emulator/rules", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := a.Client
	if c == nil {
		c = http.DefaultClient
	}
	return c.Do(req)
}

// adminRule is the admin API's wire form of a rule: snake_case keys and Go
// duration strings, zero values left out.
func adminRule(r emulator.Rule) map[string]any {
	m := map[string]any{}
	set := func(k string, v any, zero bool) {
		if !zero {
			m[k] = v
		}
	}
	set("model", r.Model, r.Model == "")
	set("provider", r.Provider, r.Provider == "")
	set("status", r.Status, r.Status == 0)
	set("times", r.Times, r.Times == 0)
	set("latency", r.Latency.String(), r.Latency == 0)
	set("chunk_delay", r.ChunkDelay.String(), r.ChunkDelay == 0)
	set("fail_after_events", r.FailAfterEvents, r.FailAfterEvents == 0)
	set("cached_tokens", r.CachedTokens, r.CachedTokens == 0)
	set("reasoning_tokens", r.ReasoningTokens, r.ReasoningTokens == 0)
	set("text", r.Text, r.Text == "")
	return m
}
