package workerdtest_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/workerdtest"
)

// BenchmarkWorkers measures, in one run, warm request latency through
// `wrangler dev`: a trivial JS worker (workerd's floor), the Switchyard
// Worker for a chat completion (JSON), the time to the first byte of a
// stream, and the same request routed by a small AssemblyScript plugin; a
// direct call to the emulator is the upstream baseline. b.N is the number
// of requests per case: run it with -benchtime 300x.
func BenchmarkWorkers(b *testing.B) {
	w := workerdtest.Start(b, workerdtest.Options{})
	floor := startTrivialWorker(b, w.EmulatorURL+"/v1/chat/completions")
	k, pluginKey := w.Tenant.CreateKey(b, control.KeyCreate{Name: "bench-plugin"})
	p := w.Tenant.UploadPlugin(b, "name=aliases-as", examplePluginB(b, "aliases-as.wasm"))
	w.Tenant.ActivatePlugin(b, p.ID, k.ID)

	body := func(model string, stream bool) string {
		return fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"hello"}]}`, model, stream)
	}
	cases := []struct {
		name, url, key, body string
		ttfb                 bool
	}{
		{"direct-upstream", w.EmulatorURL + "/v1/chat/completions", "emulator-openai-secret", body("gpt-4o-mini", false), false},
		{"js-floor", floor + "/", "", "", false},
		{"js-proxy-floor", floor + "/proxy", "", body("gpt-4o-mini", false), false},
		{"worker-healthz", w.URL + "/healthz", "", "", false},
		{"worker-models", w.URL + "/v1/models", w.APIKey, "", false},
		{"worker-json", w.URL + "/v1/chat/completions", w.APIKey, body("openai/gpt-4o-mini", false), false},
		{"worker-stream-ttfb", w.URL + "/v1/chat/completions", w.APIKey, body("openai/gpt-4o-mini", true), true},
		{"worker-json-plugin", w.URL + "/v1/chat/completions", pluginKey, body("cheap", false), false},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			do := func() time.Duration {
				method, rd := http.MethodGet, io.Reader(nil)
				if c.body != "" {
					method, rd = http.MethodPost, strings.NewReader(c.body)
				}
				req, _ := http.NewRequest(method, c.url, rd)
				req.Header.Set("Content-Type", "application/json")
				if c.key != "" {
					req.Header.Set("Authorization", "Bearer "+c.key)
				}
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var d time.Duration
				if c.ttfb {
					_, err = bufio.NewReader(resp.Body).ReadByte()
					d = time.Since(start)
					_, _ = io.Copy(io.Discard, resp.Body)
				} else {
					_, err = io.Copy(io.Discard, resp.Body)
					d = time.Since(start)
				}
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d %v", c.name, resp.StatusCode, err)
				}
				return d
			}
			for range 20 { // warm: key cache, plugin compiled, connections
				do()
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				lat = append(lat, do())
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

func examplePluginB(b *testing.B, name string) []byte {
	m, err := os.ReadFile(filepath.Join(workerdtest.Root(b), "build", "plugins", name))
	if err != nil {
		b.Fatalf("%v: run `make plugins` first", err)
	}
	return m
}

// startTrivialWorker serves a JS worker that answers "ok" with the same
// wrangler and flags, for workerd's own latency floor.
func startTrivialWorker(b *testing.B, upstream string) string {
	dir := b.TempDir()
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	// "/" answers at once; "/proxy" passes a POST on to the emulator, which
	// is what a minimal JS proxy costs.
	must(os.WriteFile(filepath.Join(dir, "index.mjs"), []byte(`export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname !== "/proxy") return new Response("ok");
    const res = await fetch(env.UPSTREAM, { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer emulator-openai-secret" }, body: await request.arrayBuffer() });
    return new Response(res.body, { status: res.status, headers: res.headers });
  },
};
`), 0o644))
	must(os.WriteFile(filepath.Join(dir, "wrangler.toml"), []byte("name = \"floor\"\nmain = \"index.mjs\"\ncompatibility_date = \"2026-04-20\"\n[vars]\nUPSTREAM = \""+upstream+"\"\n"), 0o644))
	ln := freeAddr(b)
	cmd := exec.Command(filepath.Join(workerdtest.Root(b), "node_modules", ".bin", "wrangler"), "dev", "--config", filepath.Join(dir, "wrangler.toml"),
		"--ip", "127.0.0.1", "--port", ln, "--inspector-port", freeAddr(b), "--persist-to", filepath.Join(dir, "state"), "--show-interactive-dev-session=false")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WRANGLER_SEND_METRICS=false", "CI=1", "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(cmd.Start())
	b.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	url := "http://127.0.0.1:" + ln
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			b.Fatal("trivial worker did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddr(b *testing.B) string {
	ln, err := (&net.ListenConfig{}).Listen(b.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}
