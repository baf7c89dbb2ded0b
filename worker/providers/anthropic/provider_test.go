package anthropic

import (
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

func TestNewRequest(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		stream   bool
		wantName string
		wantURL  string
		wantHead [][2]string
	}{
		{
			name:     "defaults",
			opts:     Options{APIKey: "sk-ant-1"},
			wantName: "anthropic",
			wantURL:  "https://api.anthropic.com/v1/messages",
			wantHead: [][2]string{{"x-api-key", "sk-ant-1"}, {"anthropic-version", "2023-06-01"}, {"content-type", "application/json"}, {"accept", "application/json"}},
		},
		{
			name:     "custom host streaming",
			opts:     Options{Name: "claude-eu", BaseURL: "http://127.0.0.1:8080/", APIKey: "k", Version: "2024-01-01"},
			stream:   true,
			wantName: "claude-eu",
			wantURL:  "http://127.0.0.1:8080/v1/messages",
			wantHead: [][2]string{{"x-api-key", "k"}, {"anthropic-version", "2024-01-01"}, {"content-type", "application/json"}, {"accept", "text/event-stream"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(tt.opts)
			body := []byte(`{"model":"m"}`)
			r, err := p.NewRequest(chat.OpChat, "m", tt.stream, body)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name() != tt.wantName || r.Method != http.MethodPost || r.URL != tt.wantURL || string(r.Body) != string(body) {
				t.Errorf("got %s %s %s %s", p.Name(), r.Method, r.URL, r.Body)
			}
			if !reflect.DeepEqual(r.Header, tt.wantHead) {
				t.Errorf("headers = %q, want %q", r.Header, tt.wantHead)
			}
			if _, ok := p.Dialect().(Dialect); !ok {
				t.Errorf("dialect = %T", p.Dialect())
			}
		})
	}
}

// TestNewRequestKeepsHeadersApart guards the shared header slice: a stream
// and a non-stream request built one after the other must not share the
// accept header.
func TestNewRequestKeepsHeadersApart(t *testing.T) {
	p := New(Options{})
	a, _ := p.NewRequest(chat.OpChat, "m", true, nil)
	b, _ := p.NewRequest(chat.OpChat, "m", false, nil)
	if a.Header[3][1] != "text/event-stream" || b.Header[3][1] != "application/json" {
		t.Errorf("accept headers %q and %q", a.Header[3], b.Header[3])
	}
}

func TestNewRequestEmbeddings(t *testing.T) {
	_, err := New(Options{}).NewRequest(chat.OpEmbeddings, "m", false, nil)
	var e *chat.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Message != "anthropic offers no embeddings models" {
		t.Errorf("error = %v", err)
	}
}
