package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
)

// TestCanary plants marker strings in every free-text field the service
// accepts and in content-like fields an edge must never send, then looks
// for them where they must not be. Metadata (names, models, tags) is
// stored and shown to its owner, but never logged and never shown to
// another account; content is never stored at all.
func TestCanary(t *testing.T) {
	const meta = "canary7f3a9c"     // free-text metadata
	const content = "contentq81zz4" // request/response content
	s := newServer(t, "", nil)

	browser := s.client(t)
	var a control.Account
	browser.must(http.StatusCreated, "POST", "/api/v1/signup", map[string]string{
		"name": "Name " + meta, "email": meta + "@example.com", "company": "Co " + meta,
		"billing_address": "Street " + meta + "\nTown", "phone": "+1 555 0100", "password": "pw " + meta,
	}).decode(t, &a)
	s.client(t).must(http.StatusUnauthorized, "POST", "/api/v1/login",
		map[string]string{"email": meta + "@example.com", "password": "wrong " + meta})
	s.client(t).must(http.StatusBadRequest, "POST", "/api/v1/signup", map[string]string{
		"name": meta, "email": "not an email " + meta, "billing_address": meta, "password": meta + meta})
	browser.must(http.StatusBadRequest, "POST", "/api/v1/keys", map[string]any{"name": meta, meta: true})
	browser.must(http.StatusCreated, "POST", "/api/v1/tokens", map[string]string{"name": "token " + meta})
	k := createKey(t, browser, map[string]any{"name": "key " + meta, "allowed_models": []string{meta + "/model"}})

	rec := record("req_canary", k.Key, s.clock.Now())
	rec.Model, rec.ServedModel, rec.Provider = meta+"/model", meta+"/served", meta
	rec.ErrorType, rec.FinishReason, rec.Tags = "err_"+meta, "fin_"+meta, map[string]string{meta: "tag " + meta}
	raw, _ := json.Marshal(rec)
	var withContent map[string]any
	json.Unmarshal(raw, &withContent)
	withContent["messages"] = []map[string]string{{"role": "user", "content": content + " prompt"}}
	withContent["prompt"] = content
	withContent["response"] = map[string]any{"choices": []map[string]any{{"message": map[string]string{"content": content}}}}
	withContent["output_text"] = content
	batch := map[string]any{"edge_id": "edge-canary", "records": []any{withContent,
		map[string]any{"request_id": "req_bad_" + meta, "prompt": content, "input_tokens": "many"}}}
	s.edge(t).must(http.StatusOK, "POST", "/edge/v1/usage", batch)

	r := browser.must(http.StatusOK, "GET", "/api/v1/usage/req_canary", nil)
	if !strings.Contains(string(r.body), meta) {
		t.Fatalf("the owner does not see their own record's metadata: %s", r.body)
	}
	other, _ := signup(t, s, "other@example.com")
	for _, path := range []string{"/api/v1/usage/req_canary", "/api/v1/usage?group_by=model", "/api/v1/usage?group_by=key",
		"/api/v1/keys", "/api/v1/account", "/api/v1/tokens", "/api/v1/ledger"} {
		if r := other.do("GET", path, nil); bytes.Contains(r.body, []byte(meta)) || bytes.Contains(r.body, []byte(content)) {
			t.Errorf("another account's %s shows a canary: %s", path, r.body)
		}
	}
	for _, path := range []string{"/api/v1/usage/req_canary", "/api/v1/usage?group_by=model"} {
		if r := browser.do("GET", path, nil); bytes.Contains(r.body, []byte(content)) {
			t.Errorf("%s shows content: %s", path, r.body)
		}
	}

	// Internal errors are logged; they must carry no client data either.
	s.store.Close()
	browser.do("POST", "/api/v1/keys", map[string]any{"name": "late " + meta})
	s.edge(t).do("POST", "/edge/v1/usage", batch)
	if !strings.Contains(s.logs.String(), "request failed") {
		t.Fatalf("provoked internal errors were not logged: %q", s.logs.String())
	}
	if logs := strings.ToLower(s.logs.String()); strings.Contains(logs, meta) || strings.Contains(logs, content) {
		t.Errorf("logs hold a canary:\n%s", logs)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		data, err := os.ReadFile(s.path + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(content)) {
			t.Errorf("%s holds request content", filepath.Base(s.path+suffix))
		}
	}
}
