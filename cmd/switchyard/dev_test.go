package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDevPrintsAWorkingCurlLine runs `switchyard dev` in-process and does
// what a new user does: copy the printed request and expect an answer, and
// then find its cost in the control service's usage.
func TestDevPrintsAWorkingCurlLine(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("OPENAI_API_KEY", "")
	t.Setenv("ANTHROPIC_API_KEY", "")
	t.Setenv("GEMINI_API_KEY", "")
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- dev(ctx,
			edgeFlags{listen: "127.0.0.1:0", spill: dir + "/spill.jsonl"},
			storeFlags{dataDir: dir},
			"127.0.0.1:0", &out)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev returned %v", err)
		}
	})

	var printed string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if printed = out.String(); strings.Contains(printed, "Try it:") {
			break
		}
	}
	url := regexp.MustCompile(`curl -s (\S+)`).FindStringSubmatch(printed)
	auth := regexp.MustCompile(`-H "(Authorization: Bearer \S+)"`).FindStringSubmatch(printed)
	body := regexp.MustCompile(`-d '([^']+)'`).FindStringSubmatch(printed)
	control := regexp.MustCompile(`Control API:\s+(\S+)`).FindStringSubmatch(printed)
	if url == nil || auth == nil || body == nil || control == nil {
		t.Fatalf("dev did not print a usable request:\n%s", printed)
	}
	req, _ := http.NewRequest(http.MethodPost, url[1], strings.NewReader(body[1]))
	name, value, _ := strings.Cut(auth[1], ": ")
	req.Header.Set(name, value)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Hello from gpt-4o-mini") {
		t.Fatalf("the printed request got %d %s", resp.StatusCode, b)
	}
	if !strings.Contains(printed, "demo@switchyard.local") {
		t.Errorf("the demo account is not named:\n%s", printed)
	}
	// The request's metadata and cost reach the control service within the
	// usage sink's flush interval; the demo account can read them.
	pw := regexp.MustCompile(`password (\S+)`).FindStringSubmatch(printed)
	if pw == nil {
		t.Fatalf("no demo password printed:\n%s", printed)
	}
	jar := &cookieClient{}
	if status := jar.do(t, http.MethodPost, control[1]+"/login", `{"email":"demo@switchyard.local","password":"`+pw[1]+`"}`, nil); status != 200 {
		t.Fatalf("demo login: %d", status)
	}
	var rec struct {
		ServedModel string `json:"served_model"`
		CostMicros  int64  `json:"cost_micros"`
		OutputTok   int    `json:"output_tokens"`
	}
	id := resp.Header.Get("X-Request-Id")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if jar.do(t, http.MethodGet, control[1]+"/usage/"+id, "", &rec) == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s never reached the control service's usage", id)
		}
	}
	if rec.ServedModel != "openai/gpt-4o-mini" || rec.CostMicros <= 0 || rec.OutputTok == 0 {
		t.Errorf("usage record %+v", rec)
	}
}

// cookieClient keeps the session cookie between calls.
type cookieClient struct{ cookies []*http.Cookie }

func (c *cookieClient) do(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if cs := resp.Cookies(); len(cs) > 0 {
		c.cookies = cs
	}
	if out != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}
