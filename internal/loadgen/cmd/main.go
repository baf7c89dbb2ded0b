// Command cmd measures the native edge against the provider emulator and
// prints markdown tables for BENCHMARKS.md. The emulator and the edge run
// as separate processes, as they would in production, and every comparison
// is made in the same run: each scenario is sent directly to the emulator
// and then through the edge, so the difference is what the gateway adds.
// The last table adds routing plugins (build/plugins, from make plugins),
// through an edge with a control service, beside the same edge without.
//
//	go run ./internal/loadgen/cmd -edge-bin bin/switchyard
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/switchyard-ai/switchyard/internal/loadgen"
)

func main() {
	bin := flag.String("edge-bin", "bin/switchyard", "the switchyard binary (make build)")
	requests := flag.Int("requests", 20000, "measured requests per phase and target, at most")
	duration := flag.Duration("duration", 5*time.Second, "measured time per phase and target, at most")
	warmup := flag.Int("warmup", 500, "unmeasured requests per target before each phase")
	rounds := flag.Int("rounds", 5, "rounds per phase, taking turns between direct and gateway")
	conc := flag.Int("concurrency", 32, "the high concurrency level (the low one is 1)")
	pluginAS := flag.String("plugin-as", "build/plugins/aliases-as.wasm", "AssemblyScript routing plugin for the plugin scenario (make plugins); empty skips it")
	pluginGo := flag.String("plugin-go", "build/plugins/aliases.wasm", "Go routing plugin for the plugin scenario (make plugins); empty skips it")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	phase := loadgen.Phase{Warmup: *warmup, Requests: *requests, Duration: *duration, Rounds: *rounds}
	var plugins []routingPlugin
	for _, p := range []routingPlugin{{"AssemblyScript plugin", *pluginAS}, {"Go plugin", *pluginGo}} {
		if p.path == "" {
			continue
		}
		if _, err := os.Stat(p.path); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: skipping the %s: %v (make plugins builds it)\n", p.label, err)
			continue
		}
		p.label += " (" + filepath.Base(p.path) + ")"
		plugins = append(plugins, p)
	}
	if err := run(ctx, *bin, phase, *conc, plugins); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// Secrets for this run only; the emulator accepts any non-empty key.
const upstreamKey = "emulator-bench"

// scenario is one kind of call, sent directly to the emulator and through
// the edge.
type scenario struct {
	name            string
	direct, gateway loadgen.Request
	// concurrency lists the levels to measure.
	concurrency []int
}

func run(ctx context.Context, bin string, phase loadgen.Phase, highConc int, plugins []routingPlugin) error {
	tmp, err := os.MkdirTemp("", "switchyard-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	emu, err := startProcess(ctx, bin, os.Environ(), "emulator", "-listen", "127.0.0.1:0", "-record=false")
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	defer emu.stop()
	emuURL := "http://" + emu.addr

	gatewayKey := "sk-sy-bench-" + rand.Text()
	keyFile := filepath.Join(tmp, "keys.json")
	keys, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"id": "key_bench", "account_id": "acct_bench", "secret": gatewayKey}}})
	if err := os.WriteFile(keyFile, keys, 0o600); err != nil {
		return err
	}
	env := append(os.Environ(),
		"OPENAI_BASE_URL="+emuURL+"/v1", "OPENAI_API_KEY="+upstreamKey,
		"ANTHROPIC_BASE_URL="+emuURL, "ANTHROPIC_API_KEY="+upstreamKey,
		"GEMINI_BASE_URL="+emuURL, "GEMINI_API_KEY="+upstreamKey,
		"SWITCHYARD_CONFIG=", "SWITCHYARD_USAGE_LOG=",
	)
	edge, err := startProcess(ctx, bin, env, "edge", "-listen", "127.0.0.1:0", "-keys", keyFile)
	if err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	defer edge.stop()
	edgeURL := "http://" + edge.addr

	levels := []int{1, highConc}
	scenarios := []scenario{
		{
			name:        "OpenAI chat → openai/gpt-4o-mini (pass-through), JSON",
			direct:      openAIRequest(emuURL+"/v1/chat/completions", upstreamKey, "gpt-4o-mini", false),
			gateway:     openAIRequest(edgeURL+"/v1/chat/completions", gatewayKey, "openai/gpt-4o-mini", false),
			concurrency: levels,
		},
		{
			name:        "OpenAI chat → openai/gpt-4o-mini (pass-through), SSE: time to first byte",
			direct:      openAIRequest(emuURL+"/v1/chat/completions", upstreamKey, "gpt-4o-mini", true),
			gateway:     openAIRequest(edgeURL+"/v1/chat/completions", gatewayKey, "openai/gpt-4o-mini", true),
			concurrency: []int{1},
		},
		{
			name:        "Anthropic messages → anthropic/claude-haiku-4-5 (pass-through), JSON",
			direct:      anthropicRequest(emuURL+"/v1/messages", upstreamKey, "claude-haiku-4-5"),
			gateway:     anthropicRequest(edgeURL+"/v1/messages", gatewayKey, "anthropic/claude-haiku-4-5"),
			concurrency: levels,
		},
		{
			name:        "OpenAI chat → anthropic/claude-haiku-4-5 (translated), JSON; direct is the Anthropic call",
			direct:      anthropicRequest(emuURL+"/v1/messages", upstreamKey, "claude-haiku-4-5"),
			gateway:     openAIRequest(edgeURL+"/v1/chat/completions", gatewayKey, "anthropic/claude-haiku-4-5", false),
			concurrency: levels,
		},
	}

	fmt.Printf("Machine: %d CPUs, %s, %s/%s, loadgen built with %s\n", runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Printf("Phases: per target %d warm-up requests, then at most %d requests or %s in %d rounds taking turns with the other target; request body %d bytes\n\n",
		phase.Warmup, phase.Requests, phase.Duration, phase.Rounds, len(scenarios[0].gateway.Body))
	fmt.Println("| scenario | c | direct p50 | direct p99 | gateway p50 | gateway p99 | added p50 | direct req/s | gateway req/s | gateway/direct |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	var verdict struct {
		addedP50 time.Duration
		share    float64
	}
	for i, sc := range scenarios {
		for _, c := range sc.concurrency {
			p := phase
			p.Concurrency = c
			res, err := loadgen.Run(ctx, loadgen.NewClient(c), p, sc.direct, sc.gateway)
			if err != nil {
				return fmt.Errorf("%s, c=%d: %w", sc.name, c, err)
			}
			direct, gw := res[0], res[1]
			if direct.Errors+gw.Errors > 0 {
				fmt.Fprintf(os.Stderr, "%s, c=%d: %d direct and %d gateway errors; first: %s %s\n",
					sc.name, c, direct.Errors, gw.Errors, direct.FirstError, gw.FirstError)
			}
			d, g := direct.Latency, gw.Latency
			if sc.direct.Stream {
				d, g = direct.TTFB, gw.TTFB
			}
			share := gw.RPS() / direct.RPS()
			fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %.0f | %.0f | %.0f%% |\n",
				sc.name, c, us(d.P50), us(d.P99), us(g.P50), us(g.P99), signedUS(g.P50-d.P50),
				direct.RPS(), gw.RPS(), share*100)
			if i == 0 && c == 1 {
				verdict.addedP50 = g.P50 - d.P50
			}
			if i == 0 && c == highConc {
				verdict.share = share
			}
		}
	}
	hwm, rss, err := memory(edge.cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("\nEdge process memory after the run: peak RSS (VmHWM) %.1f MB, current RSS %.1f MB\n\n", mb(hwm), mb(rss))
	fmt.Println("Targets (OpenAI pass-through, JSON):")
	fmt.Printf("- added p50 at c=1 under 150 µs: %s (%s)\n", met(verdict.addedP50 < 150*time.Microsecond), signedUS(verdict.addedP50))
	fmt.Printf("- throughput at c=%d at least 50%% of direct: %s (%.0f%%)\n", highConc, met(verdict.share >= 0.5), verdict.share*100)
	fmt.Printf("- edge peak RSS under 64 MB: %s (%.1f MB)\n", met(hwm < 64<<20), mb(hwm))
	if len(plugins) == 0 {
		return nil
	}
	return runPlugins(ctx, bin, tmp, env, emuURL, phase, levels, plugins)
}

// padded fills a chat request to about 1 KB, the size the edge's
// targets are stated for.
func padded(prefix, suffix string) []byte {
	const size = 1024
	text := strings.Repeat("lorem ipsum ", max(size-len(prefix)-len(suffix), 0)/12)
	return []byte(prefix + text + suffix)
}

func openAIRequest(url, key, model string, stream bool) loadgen.Request {
	prefix := `{"model":"` + model + `","max_tokens":64,"temperature":0.2,"stream":` + fmt.Sprint(stream) +
		`,"messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"`
	return loadgen.Request{
		URL:    url,
		Header: [][2]string{{"Content-Type", "application/json"}, {"Authorization", "Bearer " + key}},
		Body:   padded(prefix, `"}]}`),
		Stream: stream,
	}
}

func anthropicRequest(url, key, model string) loadgen.Request {
	prefix := `{"model":"` + model + `","max_tokens":64,"temperature":0.2,"system":"You are a concise assistant.","messages":[{"role":"user","content":"`
	return loadgen.Request{
		URL: url,
		Header: [][2]string{{"Content-Type", "application/json"}, {"X-Api-Key", key},
			{"Anthropic-Version", "2023-06-01"}},
		Body: padded(prefix, `"}]}`),
	}
}

// process is a child process serving on the address it logged.
type process struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

var listenAddr = regexp.MustCompile(`listening.* addr=(\S+)`)

// startProcess runs bin with args and waits until it logs the address it
// listens on. Its log is read to the end so that it never blocks on a full
// pipe; the last lines are kept for an error message.
func startProcess(ctx context.Context, bin string, env []string, args ...string) (*process, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	addrc := make(chan string, 1)
	var tail []string
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			tail = append(tail, sc.Text())
			if m := listenAddr.FindStringSubmatch(sc.Text()); m != nil {
				addrc <- m[1]
				break
			}
		}
		// The edge logs a line per request; discarding them unread keeps
		// the generator's share of the CPU small.
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
	}()
	select {
	case p.addr = <-addrc:
	case <-p.done:
		return nil, fmt.Errorf("%s %s exited before listening: %s", bin, args[0], strings.Join(tail, "\n"))
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s %s did not report a listening address", bin, args[0])
	}
	return p, waitHealthy("http://" + p.addr)
}

// waitHealthy waits until something answers HTTP at url.
func waitHealthy(url string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop asks the process to shut down gracefully and kills it if it won't.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// memory reads a process's peak and current resident set size in bytes.
func memory(pid int) (hwm, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			hwm = kb << 10
		}
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			rss = kb << 10
		}
	}
	if hwm == 0 {
		return 0, 0, errors.New("no VmHWM in /proc status")
	}
	return hwm, rss, nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return "unknown CPU"
}

func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }

func signedUS(d time.Duration) string { return fmt.Sprintf("%+d µs", d.Microseconds()) }

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
