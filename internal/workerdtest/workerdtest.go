// Package workerdtest serves the Workers build of the edge (cmd/worker and
// worker/js/worker.mjs) in the real workerd runtime through `wrangler dev`,
// in front of a real control service and the provider emulator running
// natively on loopback.
//
// It needs the pinned wrangler from the repository's package-lock.json
// (`npm ci`, which `make test` runs); without it, Start fails the test.
package workerdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/repo"
	"github.com/switchyard-ai/switchyard/internal/syncbuf"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/internal/emulator"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/chat"
)

// Worker is a running Workers edge.
type Worker struct {
	// URL is the edge's root, without /v1.
	URL         string
	Control     *edgetest.Control
	Emulator    *emulator.Server
	EmulatorURL string
	// Tenant owns APIKey, which may use every model, with $100 of credit.
	Tenant *edgetest.Tenant
	APIKey string
	Key    control.APIKey

	logs *syncbuf.Buffer
	dir  string
	port int
	stop func()
}

// Options adjust the Worker under test.
type Options struct {
	// Models are added to the control service's catalog beside edgetest's.
	Models []worker.Model
	// Vars are added to (or replace) the Worker's env.
	Vars map[string]string
	// KV binds a local Workers KV namespace as SWITCHYARD_KV; it persists
	// across Restart.
	KV bool
}

// Root is the repository root.
func Root(t testing.TB) string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var buildOnce struct {
	sync.Once
	dir string
	err error
}

// Build compiles cmd/worker for js/wasm the way `make worker` does, once
// per test process, and returns the directory holding switchyard.wasm and
// wasm_exec.js.
func Build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "switchyard-worker-build-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.dir = dir
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "switchyard.wasm"), "./cmd/worker")
		cmd.Dir = Root(t)
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildOnce.err = fmt.Errorf("building cmd/worker: %v\n%s", err, out)
			return
		}
		goroot, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			buildOnce.err = err
			return
		}
		js, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"))
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.err = os.WriteFile(filepath.Join(dir, "wasm_exec.js"), js, 0o644)
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.dir
}

// Start runs control, the emulator and the Worker; all stop when the test
// ends.
func Start(t testing.TB, opts Options) *Worker {
	t.Helper()
	root := Root(t)
	if _, err := os.Stat(filepath.Join(root, "node_modules", ".bin", "wrangler")); err != nil {
		t.Fatalf("wrangler is not installed (%v): run `npm ci` in the repository root; `make test` does", err)
	}
	build := Build(t)

	w := &Worker{Emulator: emulator.New(), logs: &syncbuf.Buffer{}}
	emu := httptest.NewServer(w.Emulator)
	t.Cleanup(emu.Close)
	w.EmulatorURL = emu.URL
	w.Control = edgetest.StartControl(t)
	file, env := edgetest.File(emu.URL)
	ctx := context.Background()
	for _, m := range append(append([]worker.Model(nil), file.Models...), opts.Models...) {
		if _, err := w.Control.Service.PutModel(ctx, control.Model{ID: m.ID, Provider: m.Provider, Upstream: m.Upstream, Kind: m.Kind,
			ContextLength: m.ContextLength, InputPrice: m.InputPrice, OutputPrice: m.OutputPrice, CachedInputPrice: m.CachedInputPrice}); err != nil {
			t.Fatal(err)
		}
	}
	w.Tenant = w.Control.Signup(t, fmt.Sprintf("workers-%d@example.com", time.Now().UnixNano()))
	w.Tenant.Grant(t, 100_000_000)
	w.Key, w.APIKey = w.Tenant.CreateKey(t, control.KeyCreate{Name: "workers"})

	// The layout the shim expects, with the committed shim and wrangler.toml.
	dir := t.TempDir()
	copyFile(t, filepath.Join(root, "wrangler.toml"), filepath.Join(dir, "wrangler.toml"))
	if opts.KV {
		f, err := os.OpenFile(filepath.Join(dir, "wrangler.toml"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteString("\n[[kv_namespaces]]\nbinding = \"SWITCHYARD_KV\"\nid = \"workerdtest\"\n")
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, filepath.Join(root, "worker", "js", "worker.mjs"), filepath.Join(dir, "worker", "js", "worker.mjs"))
	copyFile(t, filepath.Join(build, "switchyard.wasm"), filepath.Join(dir, "build", "worker", "switchyard.wasm"))
	copyFile(t, filepath.Join(build, "wasm_exec.js"), filepath.Join(dir, "build", "worker", "wasm_exec.js"))

	cfg, err := json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"CONTROL_URL":            w.Control.URL,
		"EDGE_TOKEN":             edgetest.EdgeToken,
		"SWITCHYARD_CONFIG_JSON": string(cfg),
	}
	for k, v := range env {
		vars[k] = v
	}
	for k, v := range opts.Vars {
		vars[k] = v
	}
	writeDevVars(t, filepath.Join(dir, ".dev.vars"), vars)

	w.dir, w.port = dir, freePort(t)
	w.URL = fmt.Sprintf("http://127.0.0.1:%d", w.port)
	w.launch(t)
	t.Cleanup(func() {
		w.stop()
		if t.Failed() || os.Getenv("WORKERDTEST_LOGS") != "" {
			t.Logf("wrangler dev output:\n%s", w.logs.String())
		}
	})
	return w
}

// Restart stops wrangler dev and starts it again on the same port and
// state: a new isolate, with an empty memory, and the same KV.
func (w *Worker) Restart(t testing.TB) {
	t.Helper()
	w.stop()
	w.launch(t)
}

func (w *Worker) launch(t testing.TB) {
	t.Helper()
	wrangler := filepath.Join(Root(t), "node_modules", ".bin", "wrangler")
	dir := w.dir
	cmd := exec.Command(wrangler, "dev", "--config", filepath.Join(dir, "wrangler.toml"),
		"--ip", "127.0.0.1", "--port", fmt.Sprint(w.port), "--inspector-port", fmt.Sprint(freePort(t)),
		"--persist-to", filepath.Join(dir, "state"), "--show-interactive-dev-session=false", "--log-level", "log")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WRANGLER_SEND_METRICS=false", "CI=1", "NO_COLOR=1",
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "WRANGLER_LOG_PATH="+filepath.Join(dir, "logs"))
	cmd.Stdout, cmd.Stderr = w.logs, w.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	w.stop = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	w.waitReady(t, exited)
}

// waitReady polls /healthz, which also boots the Go instance.
func (w *Worker) waitReady(t testing.TB, exited chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("wrangler dev exited:\n%s", w.logs.String())
		default:
		}
		resp, err := http.Get(w.URL + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("workers edge answered /healthz with %d: %s\n%s", resp.StatusCode, body, w.logs.String())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers edge not ready after 120s:\n%s", w.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Logs returns what wrangler and the Worker printed.
func (w *Worker) Logs() string { return w.logs.String() }

// Usage returns the record the control service holds for a request id.
func (w *Worker) Usage(requestID string) (worker.UsageRecord, bool) {
	r, err := w.Control.Service.UsageRecord(context.Background(), w.Key.AccountID, requestID)
	if err != nil || r == nil {
		return worker.UsageRecord{}, false
	}
	return WorkerRecord(r), true
}

// WorkerRecord converts a stored usage record back to the gateway's form,
// for checks written against the gateway's records.
func WorkerRecord(r *control.UsageRecord) worker.UsageRecord {
	return worker.UsageRecord{
		RequestID: r.RequestID, KeyID: r.KeyID, AccountID: r.AccountID, StartedAt: r.StartedAt,
		Endpoint: r.Endpoint, Model: r.Model, ServedModel: r.ServedModel, Provider: r.Provider,
		Stream: r.Stream, Status: r.Status, ErrorType: r.ErrorType, FinishReason: r.FinishReason,
		Estimated: r.Estimated, CostMicros: r.EdgeCostMicros, Attempts: r.Attempts, Tags: r.Tags,
		Latency: time.Duration(r.LatencyMs) * time.Millisecond, TTFB: time.Duration(r.TTFBMs) * time.Millisecond,
		Tokens: chat.Tokens{Input: r.InputTokens, CachedInput: r.CachedInputTokens, CacheWrite: r.CacheWriteTokens,
			Output: r.OutputTokens, Reasoning: r.ReasoningTokens},
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeDevVars writes wrangler's .dev.vars: single-quoted values are taken
// literally.
func writeDevVars(t testing.TB, path string, vars map[string]string) {
	t.Helper()
	var b bytes.Buffer
	for k, v := range vars {
		if strings.ContainsAny(v, "'\n") {
			t.Fatalf("var %s cannot be written to .dev.vars literally", k)
		}
		fmt.Fprintf(&b, "%s='%s'\n", k, v)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
