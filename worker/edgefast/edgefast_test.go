package edgefast_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/edgefast"
	"github.com/switchyard-ai/switchyard/worker/keyfile"
	"github.com/switchyard-ai/switchyard/worker/providers/anthropic"
	"github.com/switchyard-ai/switchyard/worker/providers/openai"
)

const key = "sk-sy-test-edgefast"

// edge is a gateway served by edgefast in front of a test upstream.
type edge struct {
	url   string
	mu    sync.Mutex
	usage []worker.UsageRecord
}

func (e *edge) record(r *worker.UsageRecord) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.usage = append(e.usage, *r)
}

// waitUsage returns the first usage record, waiting because a stream's
// record is written after its last byte.
func (e *edge) waitUsage(t *testing.T) worker.UsageRecord {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		e.mu.Lock()
		n := len(e.usage)
		e.mu.Unlock()
		if n > 0 {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.usage[0]
		}
	}
	t.Fatal("no usage record")
	return worker.UsageRecord{}
}

// startEdge serves a gateway whose OpenAI and Anthropic providers both live
// at upstream.
func startEdge(t *testing.T, upstream string, modify func(*worker.Config)) *edge {
	t.Helper()
	keys, err := keyfile.New([]keyfile.Entry{{ID: "key_test", AccountID: "acct_test", Secret: key}})
	if err != nil {
		t.Fatal(err)
	}
	e := &edge{}
	cfg := worker.Config{
		Providers: []chat.Provider{
			openai.New(openai.Options{BaseURL: upstream + "/v1", APIKey: "upstream-secret"}),
			anthropic.New(anthropic.Options{BaseURL: upstream, APIKey: "upstream-secret"}),
		},
		Models: []worker.Model{
			{ID: "openai/gpt-4o-mini", InputPrice: 150000, OutputPrice: 600000},
			{ID: "anthropic/claude-haiku-4-5", InputPrice: 1000000, OutputPrice: 5000000},
		},
		Keys:     keys,
		Usage:    worker.UsageSinkFunc(e.record),
		Upstream: edgefast.NewClient(),
		Logger:   slog.New(slog.DiscardHandler),
	}
	if modify != nil {
		modify(&cfg)
	}
	g, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.url = edgetest.ServeNative(t, g)
	return e
}

func chunk(content string) string {
	return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"` + content + `"},"finish_reason":null}]}` + "\n\n"
}

func postStream(t *testing.T, ctx context.Context, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions",
		strings.NewReader(`{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	return resp
}

// nextData returns the payload of the next SSE data line.
func nextData(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			return strings.TrimSpace(d)
		}
	}
}

func TestStreamDeliversEachEventAsItArrives(t *testing.T) {
	firstSeen := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, chunk("Hello"))
		w.(http.Flusher).Flush()
		select {
		case <-firstSeen:
		case <-time.After(5 * time.Second):
			t.Error("the client never got the first event while the upstream held back the second")
		}
		io.WriteString(w, chunk(" world"))
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer upstream.Close()
	e := startEdge(t, upstream.URL, nil)

	resp := postStream(t, context.Background(), e.url)
	if got := resp.Header.Get("Content-Type"); got != "text/event-stream" {
		t.Errorf("Content-Type = %q", got)
	}
	br := bufio.NewReader(resp.Body)
	if d := nextData(t, br); !strings.Contains(d, `"Hello"`) {
		t.Fatalf("first event %s", d)
	}
	close(firstSeen)
	if d := nextData(t, br); !strings.Contains(d, `" world"`) {
		t.Fatalf("second event %s", d)
	}
	if d := nextData(t, br); d != "[DONE]" {
		t.Fatalf("last event %s", d)
	}
	if rec := e.waitUsage(t); rec.Status != http.StatusOK {
		t.Errorf("recorded status %d", rec.Status)
	}
}

func TestTooLargeBodyIsAnsweredWithJSON(t *testing.T) {
	e := startEdge(t, "http://127.0.0.1:1", func(c *worker.Config) { c.MaxBodyBytes = 1024 })
	big := strings.Repeat("x", 4096)
	tests := []struct {
		name, path string
		anthropic  bool
	}{
		{"openai style", "/v1/chat/completions", false},
		{"anthropic style", "/v1/messages", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.url+tt.path,
				strings.NewReader(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"`+big+`"}]}`))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			var got struct {
				Type  string `json:"type"`
				Error struct {
					Type string `json:"type"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("body is not JSON: %q", b)
			}
			if got.Error.Type != "request_too_large" || (tt.anthropic && got.Type != "error") {
				t.Errorf("error body %s", b)
			}
		})
	}
}

func TestClientDisconnectMidStreamIsRecordedAndEndsTheUpstreamCall(t *testing.T) {
	upstreamGone := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(upstreamGone)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			if _, err := io.WriteString(w, chunk(fmt.Sprintf("word%d ", i))); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}))
	defer upstream.Close()
	e := startEdge(t, upstream.URL, nil)

	ctx, cancel := context.WithCancel(context.Background())
	resp := postStream(t, ctx, e.url)
	br := bufio.NewReader(resp.Body)
	for range 3 {
		nextData(t, br)
	}
	cancel()
	resp.Body.Close()

	rec := e.waitUsage(t)
	if rec.Status != worker.StatusClientClosed {
		t.Errorf("recorded status %d, want %d", rec.Status, worker.StatusClientClosed)
	}
	if !rec.Estimated || rec.Tokens.Output == 0 {
		t.Errorf("usage %+v: want an estimate of what was produced", rec.Tokens)
	}
	select {
	case <-upstreamGone:
	case <-time.After(5 * time.Second):
		t.Error("the gateway kept the upstream call open after the client left")
	}
}

// blockingUpstream answers with one streamed chunk (or, with noHeaders, with
// nothing) and then holds the connection until the test ends. The returned
// channel is closed when the client hangs up.
func blockingUpstream(t *testing.T, noHeaders bool) (*httptest.Server, <-chan struct{}) {
	hold, gone := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// net/http notices a hang-up only once the body is read.
		io.Copy(io.Discard, r.Body)
		if !noHeaders {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, chunk("first"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-hold:
		case <-r.Context().Done():
			close(gone)
		}
	}))
	t.Cleanup(func() {
		close(hold)
		srv.Close()
	})
	return srv, gone
}

func waitClosed(t *testing.T, gone <-chan struct{}) {
	t.Helper()
	select {
	case <-gone:
	case <-time.After(time.Second):
		t.Error("the upstream connection stayed open after the cancel")
	}
}

func upstreamRequest(url string) *chat.HTTPRequest {
	return &chat.HTTPRequest{Method: http.MethodPost, URL: url + "/v1/chat/completions",
		Header: [][2]string{{"Content-Type", "application/json"}}, Body: []byte(`{"stream":true}`)}
}

// cancelSoon cancels ctx after a short while and returns when it did.
func cancelSoon(cancel context.CancelFunc) <-chan time.Time {
	at := make(chan time.Time, 1)
	time.AfterFunc(20*time.Millisecond, func() {
		at <- time.Now()
		cancel()
	})
	return at
}

func TestClientCancelUnblocksBodyRead(t *testing.T) {
	srv, gone := blockingUpstream(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := edgefast.NewClient().Do(ctx, upstreamRequest(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if d := nextData(t, br); !strings.Contains(d, "first") {
		t.Fatalf("first event %s", d)
	}
	cancelled := cancelSoon(cancel)
	_, err = io.ReadAll(br)
	returned := time.Now()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("read error = %v, want context.Canceled", err)
	}
	if d := returned.Sub(<-cancelled); d > 100*time.Millisecond {
		t.Errorf("the blocked read returned %v after the cancel, want under 100ms", d)
	}
	waitClosed(t, gone)
}

func TestClientCancelWhileWaitingForHeaders(t *testing.T) {
	srv, gone := blockingUpstream(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelled := cancelSoon(cancel)
	_, err := edgefast.NewClient().Do(ctx, upstreamRequest(srv.URL))
	returned := time.Now()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Do error = %v, want context.Canceled", err)
	}
	if d := returned.Sub(<-cancelled); d > 100*time.Millisecond {
		t.Errorf("Do returned %v after the cancel, want under 100ms", d)
	}
	waitClosed(t, gone)
}

// TestClientPoolsConnections runs concurrent calls, streamed and not, and
// checks that bodies read to their end give their connection back.
func TestClientPoolsConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, word := range []string{"a", "b", "c"} {
				io.WriteString(w, chunk(word))
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	c := edgefast.NewClient()
	const workers, perWorker = 32, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				url := srv.URL + "/x"
				if (w+i)%2 == 0 {
					url += "?stream"
				}
				resp, err := c.Do(context.Background(), &chat.HTTPRequest{Method: http.MethodPost, URL: url, Body: []byte("{}")})
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.Status != http.StatusOK || len(b) == 0 {
					t.Errorf("status %d, %d bytes, err %v", resp.Status, len(b), err)
					return
				}
				if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
					t.Error("read after Close succeeded")
				}
			}
		})
	}
	wg.Wait()
	if n := conns.Load(); n > workers {
		t.Errorf("%d connections for %d concurrent callers: bodies read to the end did not return theirs", n, workers)
	}
}

func TestClientReturnsHeadersAndStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") != "sent" {
			t.Errorf("request header X-Test = %q", r.Header.Get("X-Test"))
		}
		w.Header().Set("Retry-After", "3")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"slow down"}}`)
	}))
	defer srv.Close()
	resp, err := edgefast.NewClient().Do(context.Background(), &chat.HTTPRequest{
		Method: http.MethodPost, URL: srv.URL + "/v1/chat/completions",
		Header: [][2]string{{"X-Test", "sent"}}, Body: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Status != http.StatusTooManyRequests || !strings.Contains(string(b), "slow down") {
		t.Errorf("status %d body %q", resp.Status, b)
	}
	if got := resp.Header.Get("retry-after"); got != "3" {
		t.Errorf("Retry-After = %q", got)
	}
	if got := resp.Header.Values("X-Multi"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("X-Multi = %q", got)
	}
}
