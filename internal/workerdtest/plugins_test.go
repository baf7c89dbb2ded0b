package workerdtest_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/internal/workerdtest"
)

// chat sends one chat request with key and returns the status, the body
// and the request id.
func chat(t *testing.T, w *workerdtest.Worker, key, model string) (int, string, string) {
	t.Helper()
	status, id, body := edgetest.PostChat(t, w.URL, key, model)
	return status, string(body), id
}

func examplePlugin(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(workerdtest.Root(t), "build", "plugins", name))
	if err != nil {
		t.Fatalf("%v: run `make plugins` first (make test does)", err)
	}
	return b
}

// usageTags waits for the usage record of id at the control service.
func usageTags(t *testing.T, w *workerdtest.Worker, id string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if rec, ok := w.Usage(id); ok {
			return rec.Tags
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no usage record for %s at the control service", id)
	return nil
}

// TestPlugins runs tenants' routing plugins inside workerd: a small
// AssemblyScript plugin routes; a Go-built plugin, over the Workers size
// cap, fails under the tenant's own policy.
func TestPlugins(t *testing.T) {
	w := workerdtest.Start(t, workerdtest.Options{})

	t.Run("assemblyscript plugin routes", func(t *testing.T) {
		k, secret := w.Tenant.CreateKey(t, control.KeyCreate{Name: "aliases"})
		p := w.Tenant.UploadPlugin(t, "name=aliases-as", examplePlugin(t, "aliases-as.wasm"))
		w.Tenant.ActivatePlugin(t, p.ID, k.ID)
		status, body, id := chat(t, w, secret, "cheap")
		if status != http.StatusOK {
			t.Fatalf("alias through the plugin: %d %s", status, body)
		}
		var resp struct{ Model string }
		_ = json.Unmarshal([]byte(body), &resp)
		if resp.Model != "gpt-4o-mini" {
			t.Errorf("alias cheap answered by %q, want gpt-4o-mini", resp.Model)
		}
		if tags := usageTags(t, w, id); tags["alias"] != "cheap" {
			t.Errorf("usage tags %v, want alias=cheap", tags)
		}
		if status, body, _ := chat(t, w, secret, "no-such-alias"); status != http.StatusNotFound {
			t.Errorf("an unknown name through the plugin: %d %s, want 404", status, body)
		}
	})

	// The native edge runs this 2 MB Go plugin; the Workers edge refuses
	// modules over 1 MiB, and the tenant's fail policy decides.
	goPlugin := examplePlugin(t, "aliases.wasm")
	for _, tt := range []struct {
		fail       string
		wantStatus int
	}{{"open", http.StatusOK}, {"closed", http.StatusServiceUnavailable}} {
		t.Run("go plugin over the size cap fails "+tt.fail, func(t *testing.T) {
			k, secret := w.Tenant.CreateKey(t, control.KeyCreate{Name: "big-" + tt.fail})
			p := w.Tenant.UploadPlugin(t, "name=big-"+tt.fail+"&fail="+tt.fail, goPlugin)
			w.Tenant.ActivatePlugin(t, p.ID, k.ID)
			status, body, id := chat(t, w, secret, "openai/gpt-4o-mini")
			if status != tt.wantStatus {
				t.Fatalf("fail %s: %d %s, want %d", tt.fail, status, body, tt.wantStatus)
			}
			if tt.fail == "open" {
				if tags := usageTags(t, w, id); tags["plugin_error"] == "" {
					t.Errorf("usage tags %v, want plugin_error", tags)
				}
			}
		})
	}
}
