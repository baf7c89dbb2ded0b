// Package plugintest builds Go routing plugins for tests and runs them in
// plugins/host the way the edge does, so example plugins, host tests and
// benchmarks share one way to do it.
package plugintest

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

// Tenant is the tenant Run routes as.
const Tenant = "acct_test"

type build struct {
	once sync.Once
	wasm []byte
	err  error
}

var builds sync.Map // absolute package directory → *build

// Build compiles the Go plugin in dir (relative to the test's package) with
// the flags `make plugins` uses. Each directory is built once per test
// binary: a wasm link takes seconds.
func Build(tb testing.TB, dir string) []byte {
	tb.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	v, _ := builds.LoadOrStore(abs, &build{})
	b := v.(*build)
	b.once.Do(func() { b.wasm, b.err = goBuild(abs) })
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.wasm
}

func goBuild(dir string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "plugintest")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	file := filepath.Join(tmp, "plugin.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", file, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building plugin %s: %v\n%s", dir, err, out)
	}
	return os.ReadFile(file)
}

// NewHost starts a Host that closes when the test ends. Without a CacheDir
// it uses CacheDir().
func NewHost(tb testing.TB, cfg host.Config) *host.Host {
	tb.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = CacheDir()
	}
	h, err := host.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// Load builds the plugin in dir and loads it into a new Host with cfg.
// Without a CallTimeout it allows a second per call: these tests check
// decisions, and a busy machine running -race can pause a call past the
// edge's 10 ms. Speed is measured by benchmarks.
func Load(tb testing.TB, dir string, cfg host.Config) *host.Plugin {
	tb.Helper()
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = time.Second
	}
	p, err := NewHost(tb, cfg).Load(context.Background(), Build(tb, dir))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Request is host.SampleRequest after edit, for table rows that differ
// from the sample in a field or two.
func Request(edit func(r *abi.RouteRequest)) *abi.RouteRequest {
	r := host.SampleRequest()
	if edit != nil {
		edit(r)
	}
	return r
}

// Case is one row of a plugin's table test.
type Case struct {
	Name string
	Req  *abi.RouteRequest
	Want *abi.RouteDecision
}

// Run routes each case through p as Tenant, in order (counters carry over
// from row to row), and compares the decisions.
func Run(t *testing.T, p *host.Plugin, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			got, err := p.Route(context.Background(), Tenant, c.Req)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.Want) {
				t.Errorf("decision\n got %s\nwant %s", jsonText(got), jsonText(c.Want))
			}
		})
	}
}

// cacheMaxAge is how long an entry of the shared compilation cache may
// stay unrewritten. Each change to a plugin adds entries, so old ones go.
const cacheMaxAge = 7 * 24 * time.Hour

// CacheDir is a compilation cache shared by every test on the machine:
// compiling a Go plugin takes a second, and half a minute under -race,
// where wazero's compiler is instrumented too.
var CacheDir = sync.OnceValue(func() string {
	dir := filepath.Join(os.TempDir(), "switchyard-plugintest-wazero")
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil && time.Since(info.ModTime()) > cacheMaxAge {
				os.Remove(path)
			}
		}
		return nil
	})
	return dir
})

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
