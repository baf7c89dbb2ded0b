package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/control/libsql"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/syncbuf"
)

const edgeToken = "edge-secret-token-for-tests"

type server struct {
	*httptest.Server
	path  string
	store *libsql.Store
	clock *controltest.Clock
	svc   *control.Service
	logs  *syncbuf.Buffer
}

// newServer serves a fresh database file, or the one at path when given
// (a second replica).
func newServer(t testing.TB, path string, clock *controltest.Clock) *server {
	t.Helper()
	if path == "" {
		path = controltest.DBPath(t)
	}
	if clock == nil {
		clock = controltest.NewClock(controltest.Epoch)
	}
	st := controltest.OpenStore(t, path)
	svc := controltest.NewService(t, st, clock)
	logs := &syncbuf.Buffer{}
	h := httpapi.New(svc, httpapi.Config{
		EdgeTokens:   []string{"", "old-rotated-token", edgeToken},
		MetricsToken: metricsToken,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &server{Server: ts, path: path, store: st, clock: clock, svc: svc, logs: logs}
}

// client is a browser-like client with a cookie jar, or a script's when
// token is set.
type client struct {
	t     testing.TB
	base  string
	http  *http.Client
	token string
}

func (s *server) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: s.URL, http: &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &httpapi.CSRFTransport{}}}
}

func (s *server) edge(t testing.TB) *client {
	return &client{t: t, base: s.URL, http: &http.Client{Timeout: 30 * time.Second}, token: edgeToken}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorCode returns the code of an error body, "" if there is none.
func (r *response) errorCode() string {
	var e edgeapi.Error
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// do sends body (JSON-encoded unless it is a string) and returns the
// response.
func (c *client) do(method, path string, body any, header ...string) *response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}
}

// must sends a request and fails the test unless the status is want.
func (c *client) must(want int, method, path string, body any, header ...string) *response {
	c.t.Helper()
	r := c.do(method, path, body, header...)
	if r.status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

func signup(t testing.TB, s *server, email string) (*client, *control.Account) {
	t.Helper()
	c := s.client(t)
	var a control.Account
	c.must(http.StatusCreated, "POST", "/api/v1/signup", map[string]string{
		"name": "Grace Hopper", "email": email, "company": "Navy", "billing_address": "1 Harbor Rd",
		"password": "correct horse battery",
	}).decode(t, &a)
	return c, &a
}

type createdKey struct {
	Key    control.APIKey `json:"key"`
	Secret string         `json:"secret"`
}

func createKey(t testing.TB, c *client, body map[string]any) createdKey {
	t.Helper()
	var k createdKey
	c.must(http.StatusCreated, "POST", "/api/v1/keys", body).decode(t, &k)
	return k
}

func record(id string, k control.APIKey, at time.Time) edgeapi.UsageRecord {
	return edgeapi.UsageRecord{
		RequestID: id, KeyID: k.ID, AccountID: k.AccountID, StartedAt: at, Endpoint: "chat.completions",
		Model: controltest.OneDollarModel, ServedModel: controltest.OneDollarModel, Provider: "test", Status: 200,
		FinishReason: "stop", InputTokens: 100, OutputTokens: 20, LatencyMs: 640, TTFBMs: 95, Attempts: 1,
	}
}
