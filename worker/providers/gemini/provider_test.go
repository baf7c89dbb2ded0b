package gemini

import (
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

func TestNewRequest(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		op      chat.Op
		model   string
		stream  bool
		wantURL string
	}{
		{"chat", Options{APIKey: "k"}, chat.OpChat, "gemini-2.5-flash", false,
			"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"},
		{"stream", Options{APIKey: "k"}, chat.OpChat, "gemini-2.5-flash", true,
			"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
		{"embeddings ignore stream", Options{APIKey: "k"}, chat.OpEmbeddings, "models/gemini-embedding-001", true,
			"https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:batchEmbedContents"},
		{"custom host and version", Options{APIKey: "k", BaseURL: "http://127.0.0.1:8080/", APIVersion: "v1"}, chat.OpChat, "gemini-2.0-flash", false,
			"http://127.0.0.1:8080/v1/models/gemini-2.0-flash:generateContent"},
		{"model cannot escape the path", Options{APIKey: "k"}, chat.OpChat, "../files?key=x#", false,
			"https://generativelanguage.googleapis.com/v1beta/models/..%2Ffiles%3Fkey=x%23:generateContent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := New(tt.opts).NewRequest(tt.op, tt.model, tt.stream, []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if req.Method != "POST" || req.URL != tt.wantURL || string(req.Body) != `{}` {
				t.Errorf("got %s %s %s, want POST %s {}", req.Method, req.URL, req.Body, tt.wantURL)
			}
			if strings.Contains(req.URL, "key=k") {
				t.Error("the API key is in the URL")
			}
			headers := map[string]string{}
			for _, h := range req.Header {
				headers[strings.ToLower(h[0])] = h[1]
			}
			if headers["x-goog-api-key"] != "k" || headers["content-type"] != "application/json" {
				t.Errorf("headers = %v", req.Header)
			}
		})
	}
}

func TestNewRequestWithoutKeySendsNoKeyHeader(t *testing.T) {
	req, err := New(Options{}).NewRequest(chat.OpChat, "gemini-2.5-flash", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range req.Header {
		if strings.EqualFold(h[0], "x-goog-api-key") {
			t.Errorf("key header %q sent without a key", h[1])
		}
	}
}

func TestNewRequestErrors(t *testing.T) {
	p := New(Options{APIKey: "k"})
	if _, err := p.NewRequest(chat.OpChat, "", false, nil); err == nil {
		t.Error("empty model accepted")
	}
	if _, err := p.NewRequest(chat.Op(99), "gemini-2.5-flash", false, nil); err == nil {
		t.Error("unknown operation accepted")
	}
}

func TestProviderDefaults(t *testing.T) {
	if got := New(Options{}).Name(); got != "google" {
		t.Errorf("default name %q", got)
	}
	if got := New(Options{Name: "gemini-eu"}).Name(); got != "gemini-eu" {
		t.Errorf("name %q", got)
	}
	if _, ok := New(Options{}).Dialect().(chat.Embedder); !ok {
		t.Error("the dialect does not offer embeddings")
	}
}
