package workerdtest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/wasmtest"
	"github.com/switchyard-ai/switchyard/internal/workerdtest"
)

// reply is one chat request's outcome.
type reply struct {
	status int
	body   string
	id     string
	took   time.Duration
	err    error
}

// client gives up on a request long after any plugin should have stopped,
// so that a hung isolate fails the test instead of hanging it.
var client = &http.Client{Timeout: 30 * time.Second}

// send is chat without t, for goroutines: one chat request with key,
// with extra headers.
func send(w *workerdtest.Worker, key string, header map[string]string) reply {
	req, err := http.NewRequest(http.MethodPost, w.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`))
	if err != nil {
		return reply{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return reply{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, body: string(b), id: resp.Header.Get("X-Request-Id"), took: time.Since(start), err: err}
}

// TestSpinningPlugin: a tenant's plugin that answers the upload check but
// spins forever on requests carrying x-sy-spin. The Workers edge runs
// plugins on one thread that nothing preempts, so only the host's fuel
// stops it; the tenant's fail policy then applies as for a timeout, and
// another tenant's requests, sent meanwhile, are served.
func TestSpinningPlugin(t *testing.T) {
	w := workerdtest.Start(t, workerdtest.Options{})
	other := w.Control.Signup(t, fmt.Sprintf("bystander-%d@example.com", time.Now().UnixNano()))
	other.Grant(t, 100_000_000)
	_, otherKey := other.CreateKey(t, control.KeyCreate{Name: "bystander"})
	// The bystander's key is known to the isolate before the spinning
	// starts: a first lookup needs the isolate's one thread, which a
	// spinning plugin holds until its fuel runs out, and on a loaded
	// machine three spins in a row outlast the lookup's 5 s timeout.
	if r := send(w, otherKey, nil); r.err != nil || r.status != http.StatusOK {
		t.Fatalf("bystander before the spinning: %d %s %v", r.status, r.body, r.err)
	}
	spinner := wasmtest.Module{Decision: `{"action":"route"}`, Route: wasmtest.Spin, Containing: "x-sy-spin"}.Bytes()
	spin := map[string]string{"x-sy-spin": "1"}

	for _, tt := range []struct {
		fail       string
		wantStatus int
	}{{"open", http.StatusOK}, {"closed", http.StatusServiceUnavailable}} {
		t.Run("fail "+tt.fail, func(t *testing.T) {
			k, secret := w.Tenant.CreateKey(t, control.KeyCreate{Name: "spin-" + tt.fail})
			p := w.Tenant.UploadPlugin(t, "name=spin-"+tt.fail+"&fail="+tt.fail, spinner)
			w.Tenant.ActivatePlugin(t, p.ID, k.ID)
			if r := send(w, secret, nil); r.err != nil || r.status != http.StatusOK {
				t.Fatalf("a request without the header: %d %s %v", r.status, r.body, r.err)
			}

			const spinners = 3
			spun := make([]reply, spinners)
			var wg sync.WaitGroup
			for i := range spun {
				wg.Go(func() { spun[i] = send(w, secret, spin) })
			}
			for i := range 5 {
				if r := send(w, otherKey, nil); r.err != nil || r.status != http.StatusOK {
					t.Errorf("another tenant's request %d while the plugin spins: %d %s %v", i, r.status, r.body, r.err)
				}
			}
			wg.Wait()
			for i, r := range spun {
				if r.err != nil || r.status != tt.wantStatus {
					t.Fatalf("spinning request %d: %d %s %v, want %d", i, r.status, r.body, r.err, tt.wantStatus)
				}
				t.Logf("spinning request %d answered %d in %v", i, r.status, r.took)
				switch tt.fail {
				case "open":
					if tags := usageTags(t, w, r.id); tags["plugin_error"] == "" {
						t.Errorf("usage tags %v, want plugin_error", tags)
					}
				case "closed":
					if !strings.Contains(r.body, "plugin_failed") {
						t.Errorf("body %s, want the plugin_failed code", r.body)
					}
				}
			}
			if r := send(w, secret, nil); r.err != nil || r.status != http.StatusOK {
				t.Errorf("a request without the header after the spinning ones: %d %s %v", r.status, r.body, r.err)
			}
		})
	}
}
