package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/internal/loadgen"
)

// routingPlugin is a module the plugin scenario runs for a key of its own.
type routingPlugin struct {
	label, path string
}

// The plugin scenario's request names its model by an alias that only the
// aliases example knows, so every answer of 200 shows the plugin ran; the
// requests without a plugin name the model the alias stands for.
const (
	pluginAlias = "cheap"
	aliasTarget = "openai/gpt-4o-mini"
)

// runPlugins measures routing plugins' share of the gateway's latency. A
// control service (a child process, as in production) holds an account
// with a key per plugin and one without; an edge wired to it serves them
// all, and one phase takes turns between the emulator directly, the key
// without a plugin and each plugin's key, so the figures come from the
// same run and the same edge process. The plugins run with fail=closed: a
// failing call is a 503 and counts as an error, never as a fast answer.
func runPlugins(ctx context.Context, bin, tmp string, env []string, emuURL string, phase loadgen.Phase, levels []int, plugins []routingPlugin) error {
	edgeToken := "sy-edge-bench-" + rand.Text()
	control, err := startProcess(ctx, bin, env, "control", "-listen", "127.0.0.1:0",
		"-data-dir", filepath.Join(tmp, "control"), "-edge-tokens", edgeToken,
		"-signup-credit-micros", "1000000000000") // $1M: the run must not run out
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	defer control.stop()
	acct, err := signup(ctx, "http://"+control.addr)
	if err != nil {
		return err
	}
	_, plainKey, err := acct.createKey(ctx, "no plugin")
	if err != nil {
		return err
	}
	keys := make([]string, len(plugins))
	for i, p := range plugins {
		module, err := os.ReadFile(p.path)
		if err != nil {
			return fmt.Errorf("%w (make plugins builds the examples)", err)
		}
		id, secret, err := acct.createKey(ctx, p.label)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.Base(p.path), ".wasm")
		if err := acct.installPlugin(ctx, name, module, id); err != nil {
			return fmt.Errorf("%s: %w", p.path, err)
		}
		keys[i] = secret
	}

	edge, err := startProcess(ctx, bin, env, "edge", "-listen", "127.0.0.1:0",
		"-control-url", "http://"+control.addr, "-edge-token", edgeToken,
		"-usage-spill", filepath.Join(tmp, "edge", "usage-spill.jsonl"),
		"-plugin-cache", filepath.Join(tmp, "edge", "plugin-cache"))
	if err != nil {
		return fmt.Errorf("edge with control: %w", err)
	}
	defer edge.stop()
	edgeURL := "http://" + edge.addr + "/v1/chat/completions"

	reqs := []loadgen.Request{
		openAIRequest(emuURL+"/v1/chat/completions", upstreamKey, "gpt-4o-mini", false),
		openAIRequest(edgeURL, plainKey, aliasTarget, false),
	}
	names := []string{"direct to the emulator", "gateway, no plugin"}
	for i, p := range plugins {
		reqs = append(reqs, openAIRequest(edgeURL, keys[i], pluginAlias, false))
		names = append(names, "gateway, "+p.label)
	}
	// The first request of a plugin's key waits for the edge to fetch and
	// compile the module (a second or two for a Go plugin); the warm-up
	// absorbs it, but one such request must succeed before it starts.
	for i, r := range reqs[2:] {
		if err := firstSuccess(ctx, r, 30*time.Second); err != nil {
			return fmt.Errorf("%s: %w", names[i+2], err)
		}
	}

	fmt.Printf("\nRouting plugins: OpenAI chat, JSON, through an edge whose keys come from a control service. The plugin keys send model %q, an alias only the plugin resolves (to %s), with fail=closed.\n\n", pluginAlias, aliasTarget)
	fmt.Println("| target | c | p50 | p99 | added p50 | added p99 | plugin's share p50 | req/s | errors |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, c := range levels {
		p := phase
		p.Concurrency = c
		res, err := loadgen.Run(ctx, loadgen.NewClient(c), p, reqs...)
		if err != nil {
			return fmt.Errorf("plugins, c=%d: %w", c, err)
		}
		direct, plain := res[0].Latency, res[1].Latency
		for i, r := range res {
			added, addedP99, share := "", "", ""
			if i > 0 {
				added, addedP99 = signedUS(r.Latency.P50-direct.P50), signedUS(r.Latency.P99-direct.P99)
			}
			if i > 1 {
				share = signedUS(r.Latency.P50 - plain.P50)
			}
			fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %.0f | %d |\n",
				names[i], c, us(r.Latency.P50), us(r.Latency.P99), added, addedP99, share, r.RPS(), r.Errors)
			if r.Errors > 0 {
				fmt.Fprintf(os.Stderr, "%s, c=%d: %d errors; first: %s\n", names[i], c, r.Errors, r.FirstError)
			}
		}
	}
	return nil
}

// firstSuccess sends r until it is answered with 200, for at most wait.
func firstSuccess(ctx context.Context, r loadgen.Request, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
		if err != nil {
			return err
		}
		for _, kv := range r.Header {
			req.Header.Set(kv[0], kv[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("status %d: %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no success within %s; last answer: %s", wait, last)
}

// account is a signed-in session on the control service's customer API.
type account struct {
	base string
	http *http.Client
	// csrf is the session's CSRF token, which sign-up answers with and
	// every later call sends back.
	csrf string
}

func signup(ctx context.Context, base string) (*account, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	a := &account{base: base, http: &http.Client{Jar: jar, Timeout: time.Minute}}
	err = a.call(ctx, "/api/v1/signup", map[string]string{
		"name": "Load Generator", "email": "loadgen@example.com", "company": "Switchyard",
		"billing_address": "1 Bench Street", "password": "a password for this run only " + rand.Text(),
	}, nil)
	return a, err
}

// createKey returns a new API key's id and secret.
func (a *account) createKey(ctx context.Context, name string) (id, secret string, err error) {
	var out struct {
		Key struct {
			ID string `json:"id"`
		} `json:"key"`
		Secret string `json:"secret"`
	}
	err = a.call(ctx, "/api/v1/keys", map[string]any{"name": name}, &out)
	return out.Key.ID, out.Secret, err
}

// installPlugin uploads module with fail=closed and runs it for keyID.
func (a *account) installPlugin(ctx context.Context, name string, module []byte, keyID string) error {
	var out struct {
		Plugin struct {
			ID string `json:"id"`
		} `json:"plugin"`
	}
	q := url.Values{"name": {name}, "fail": {"closed"}}
	if err := a.call(ctx, "/api/v1/plugins?"+q.Encode(), module, &out); err != nil {
		return err
	}
	return a.call(ctx, "/api/v1/plugins/"+url.PathEscape(out.Plugin.ID)+"/activate?"+url.Values{"key": {keyID}}.Encode(), nil, nil)
}

// call POSTs body (a module as application/wasm, anything else as JSON,
// nil as nothing) and decodes a 2xx answer into out unless it is nil.
func (a *account) call(ctx context.Context, path string, body, out any) error {
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, contentType = bytes.NewReader(b), "application/wasm"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd, contentType = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, rd)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if a.csrf != "" {
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if t := resp.Header.Get("X-CSRF-Token"); t != "" {
		a.csrf = t
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("control %s: status %d: %.300s", path, resp.StatusCode, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}
