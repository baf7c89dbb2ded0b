package canarytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/internal/emulator"
)

// exchange is one request through the edge; echo says the emulator
// repeats the prompt's first words in the answer, so the answer must hold
// the canary.
type exchange struct {
	path, body string
	echo       bool
}

// TestContentCanary sends a string made for this run in every place a
// client puts content (system and user messages, tool descriptions, the
// end-user field, embedding inputs), over chat completions, messages and
// embeddings, streaming and not, to each provider the emulator stands in
// for, plus a failing request and a stream cut midway. The emulator echoes
// the prompt, so the canary is in the answers too. Afterwards the string
// must be in no byte of the control database (file, -wal, -shm), no edge
// or control log line, no /metrics output, no usage record (the edge's and
// the control service's), and none of the account's own views: export,
// usage CSV, usage, ledger and audit log.
func TestContentCanary(t *testing.T) {
	for _, a := range []struct {
		name   string
		native bool
	}{{"net/http", false}, {"fasthttp", true}} {
		t.Run(a.name, func(t *testing.T) { testContentCanary(t, a.native) })
	}
}

func testContentCanary(t *testing.T, native bool) {
	canary := newCanary(t)
	env := edgetest.Start(t, edgetest.Options{Native: native, Control: true})
	env.Emulator.AddRule(emulator.Rule{Model: "flaky-model", Status: 400})
	env.Emulator.AddRule(emulator.Rule{Model: "claude-sonnet-4-5", FailAfterEvents: 2})
	tenant := env.Control.Signup(t, "canary@example.com")
	tenant.Grant(t, 100_000_000)
	_, secret := tenant.CreateKey(t, control.KeyCreate{Name: "canary run"})

	prompt := canary + " please repeat this"
	tool := `{"type":"function","function":{"name":"lookup","description":"` + canary +
		`","parameters":{"type":"object","properties":{"q":{"type":"string","description":"` + canary + `"}}}}}`
	var exchanges []exchange
	for _, model := range []string{"openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"} {
		for _, stream := range []string{"false", "true"} {
			exchanges = append(exchanges,
				exchange{"/v1/chat/completions", `{"model":"` + model + `","stream":` + stream + `,"user":"` + canary +
					`","messages":[{"role":"system","content":"` + canary + `"},{"role":"user","content":"` + prompt + `"}]}`, true},
				exchange{"/v1/messages", `{"model":"` + model + `","stream":` + stream + `,"max_tokens":50,"system":"` + canary +
					`","messages":[{"role":"user","content":"` + prompt + `"}]}`, true},
				exchange{"/v1/chat/completions", `{"model":"` + model + `","stream":` + stream +
					`,"messages":[{"role":"user","content":"` + prompt + `"}],"tools":[` + tool + `]}`, false},
			)
		}
	}
	exchanges = append(exchanges,
		exchange{"/v1/embeddings", `{"model":"openai/text-embedding-3-small","input":"` + canary + `"}`, false},
		exchange{"/v1/embeddings", `{"model":"google/gemini-embedding-001","input":["` + canary + `"]}`, false},
		exchange{"/v1/chat/completions", `{"model":"openai/flaky-model","messages":[{"role":"user","content":"` + prompt + `"}]}`, false},
		exchange{"/v1/messages", `{"model":"anthropic/claude-sonnet-4-5","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"` + prompt + `"}]}`, false},
	)
	for _, x := range exchanges {
		status, answer := call(t, env.BaseURL+x.path, secret, x.body)
		if x.echo && (status != http.StatusOK || !strings.Contains(answer, canary)) {
			t.Errorf("%s %s: status %d, and the canary is not in the answer, so this test could not see it flow:\n%s",
				x.path, x.body, status, answer)
		}
	}

	records := waitForUsage(t, env, tenant.Account.ID, len(exchanges))
	places := map[string]string{
		"edge logs":              env.Logs(),
		"control logs":           env.Control.Logs(),
		"edge usage records":     mustJSON(t, env.Usage()),
		"control usage records":  records,
		"edge /metrics":          get(t, env.BaseURL+"/metrics", http.StatusOK),
		"control /metrics":       get(t, env.Control.URL+"/metrics", http.StatusOK, "Bearer "+edgetest.MetricsToken),
		"account export":         accountView(t, tenant, "/api/v1/account/export"),
		"account usage CSV":      accountView(t, tenant, "/api/v1/account/export/usage.csv"),
		"account usage by model": accountView(t, tenant, "/api/v1/usage?group_by=model"),
		"account usage by key":   accountView(t, tenant, "/api/v1/usage?group_by=key"),
		"account ledger":         accountView(t, tenant, "/api/v1/ledger"),
		"account audit log":      accountView(t, tenant, "/api/v1/audit"),
		"account keys":           accountView(t, tenant, "/api/v1/keys"),
		"control database files": databaseBytes(t, env.Control.DBPath),
		"edge usage spill files": spillBytes(t),
	}
	if !strings.Contains(places["account export"], tenant.Account.ID) {
		t.Errorf("the export does not name its account, so it was not read: %.300s", places["account export"])
	}
	for name, text := range places {
		if strings.Contains(text, canary) {
			t.Errorf("the canary is in the %s", name)
		}
		if strings.Contains(text, secret) {
			t.Errorf("the API key's secret is in the %s", name)
		}
	}
}

// newCanary makes a string no code, fixture or earlier run holds.
func newCanary(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "canary" + hex.EncodeToString(b)
}

func call(t *testing.T, url, key, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body) // a cut stream ends in an error, with what came before it
	return resp.StatusCode, string(b)
}

// get reads url; a want of 0 takes any status (a route that may not
// exist is still looked in).
// get fetches url, with an Authorization header when auth is given.
func get(t *testing.T, url string, want int, auth ...string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range auth {
		req.Header.Set("Authorization", a)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if want != 0 && resp.StatusCode != want {
		t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func accountView(t *testing.T, tn *edgetest.Tenant, path string) string {
	t.Helper()
	return string(tn.Must(t, http.StatusOK, http.MethodGet, path, nil, nil))
}

// waitForUsage waits until the edge has written a usage record for every
// exchange and the control service has ingested each of them, and returns
// the control service's records, as the owner reads them, as JSON.
func waitForUsage(t *testing.T, env *edgetest.Env, accountID string, n int) string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		edge := env.Usage()
		var stored []*control.UsageRecord
		for _, r := range edge {
			if rec, err := env.Control.Service.UsageRecord(ctx, accountID, r.RequestID); err == nil {
				stored = append(stored, rec)
			}
		}
		if len(edge) >= n && len(stored) == len(edge) {
			return mustJSON(t, stored)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d exchanges, %d edge usage records, %d of them in the control service", n, len(edge), len(stored))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// databaseBytes reads the control database as it lies on disk: the main
// file and, in WAL mode, the log and its index, where recent pages live.
func databaseBytes(t *testing.T, path string) string {
	t.Helper()
	var all bytes.Buffer
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all.Write(b)
	}
	if all.Len() == 0 {
		t.Fatalf("no database bytes at %s", filepath.Base(path))
	}
	return all.String()
}

// spillBytes reads every usage spill file the edges of this test left in
// their temporary directories: a sink spills what control did not take.
func spillBytes(t *testing.T) string {
	t.Helper()
	var all bytes.Buffer
	filepath.WalkDir(filepath.Dir(t.TempDir()), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".spill") {
			b, _ := os.ReadFile(path)
			all.Write(b)
		}
		return nil
	})
	return all.String()
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
