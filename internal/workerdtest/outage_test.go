package workerdtest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/workerdtest"
)

// TestControlOutage: while the control service is down, the Workers edge
// keeps serving known keys and running their plugins (a new isolate finds
// both in KV), keeps the usage it could not deliver in KV, and delivers it
// once control is back; a batch control refuses with 401 (an edge token
// rotated too early) is kept and delivered the same way.
func TestControlOutage(t *testing.T) {
	w := workerdtest.Start(t, workerdtest.Options{KV: true, Vars: map[string]string{"SWITCHYARD_USAGE_RESEND_SECONDS": "1"}})
	if status, body, _ := chat(t, w, w.APIKey, "openai/gpt-4o-mini"); status != http.StatusOK {
		t.Fatalf("before the outage: %d %s", status, body)
	}
	k, routed := w.Tenant.CreateKey(t, control.KeyCreate{Name: "routed"})
	p := w.Tenant.UploadPlugin(t, "name=aliases-as&fail=closed", examplePlugin(t, "aliases-as.wasm"))
	w.Tenant.ActivatePlugin(t, p.ID, k.ID)
	if status, body, _ := chat(t, w, routed, "cheap"); status != http.StatusOK {
		t.Fatalf("plugin before the outage: %d %s", status, body)
	}

	w.Control.Stop()
	w.Restart(t) // a new isolate: its memory holds no key
	status, body, id := chat(t, w, w.APIKey, "openai/gpt-4o-mini")
	if status != http.StatusOK {
		t.Fatalf("a key known from KV during the outage: %d %s", status, body)
	}
	if status, body, _ := chat(t, w, routed, "cheap"); status != http.StatusOK {
		t.Fatalf("a plugin known from KV during the outage: %d %s", status, body)
	}
	if status, body, _ := chat(t, w, "sk-sy-never-seen-before", "openai/gpt-4o-mini"); status != http.StatusServiceUnavailable || !strings.Contains(body, "cannot be checked") {
		t.Errorf("an unknown key during the outage: %d %s, want 503", status, body)
	}
	// The usage report gives up after about five seconds and goes to KV.
	waitFor(t, 15*time.Second, "the undelivered usage batch kept in KV", func() bool {
		return strings.Contains(w.Logs(), "usage batch kept in KV")
	})
	if _, ok := w.Usage(id); ok {
		t.Fatal("control is down, yet it holds the record")
	}

	w.Control.Restart(t)
	time.Sleep(1100 * time.Millisecond) // the resend interval
	if status, body, _ := chat(t, w, w.APIKey, "openai/gpt-4o-mini"); status != http.StatusOK {
		t.Fatalf("after the outage: %d %s", status, body)
	}
	waitFor(t, 10*time.Second, "the kept record delivered after the outage", func() bool {
		_, ok := w.Usage(id)
		return ok
	})

	// Control refuses the edge's token for usage (rotated too early):
	// the record is kept, not dropped, and delivered once it is accepted.
	kept := strings.Count(w.Logs(), "usage batch kept in KV")
	w.Control.RefuseUsage(http.StatusUnauthorized)
	status, body, id = chat(t, w, w.APIKey, "openai/gpt-4o-mini")
	if status != http.StatusOK {
		t.Fatalf("while usage is refused: %d %s", status, body)
	}
	waitFor(t, 15*time.Second, "the refused usage batch kept in KV", func() bool {
		return strings.Count(w.Logs(), "usage batch kept in KV") > kept
	})
	w.Control.RefuseUsage(0)
	time.Sleep(1100 * time.Millisecond) // the resend interval
	if status, body, _ := chat(t, w, w.APIKey, "openai/gpt-4o-mini"); status != http.StatusOK {
		t.Fatalf("after usage is accepted again: %d %s", status, body)
	}
	waitFor(t, 10*time.Second, "the record refused with 401 delivered later", func() bool {
		_, ok := w.Usage(id)
		return ok
	})
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
