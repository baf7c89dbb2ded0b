package emulator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newEmulator(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	em := New()
	ts := httptest.NewServer(em)
	t.Cleanup(ts.Close)
	return em, ts
}

var (
	openaiAuth    = map[string]string{"Authorization": "Bearer test-key"}
	anthropicAuth = map[string]string{"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
	geminiAuth    = map[string]string{"x-goog-api-key": "test-key"}
)

// do sends a raw request and returns the response with its whole body. A
// body cut short by an aborted stream is returned with the read error.
func do(t *testing.T, method, url string, headers map[string]string, body string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// post is do for requests whose body must arrive whole.
func post(t *testing.T, url string, headers map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	resp, b, err := do(t, http.MethodPost, url, headers, body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, b
}

type rawEvent struct {
	name string
	data string
}

// parseSSE splits an event stream into events, accepting LF and CRLF.
func parseSSE(t *testing.T, body []byte) []rawEvent {
	t.Helper()
	text := strings.ReplaceAll(string(body), "\r\n", "\n")
	var events []rawEvent
	for _, block := range strings.Split(text, "\n\n") {
		if strings.TrimSpace(block) == "" {
			continue
		}
		var ev rawEvent
		for _, line := range strings.Split(block, "\n") {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				ev.name = value
			case "data":
				ev.data = value
			default:
				t.Fatalf("unexpected SSE line %q", line)
			}
		}
		events = append(events, ev)
	}
	return events
}

func ceil4(s string) int { return (len(s) + 3) / 4 }
