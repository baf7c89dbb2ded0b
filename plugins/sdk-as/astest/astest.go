// Package astest builds AssemblyScript plugins for Go tests and loads them
// into plugins/host, so tests run the module bytes `make plugins-as` ships,
// built with the flags in plugins/sdk-as/asconfig.json.
package astest

import (
	"context"
	"fmt"
	"github.com/switchyard-ai/switchyard/internal/repo"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/plugins/host"
)

type build struct {
	once sync.Once
	wasm []byte
	skip string
	err  error
}

var builds sync.Map // build key → *build

// once runs f once per key per test binary and applies its outcome to tb.
func once(tb testing.TB, key string, f func() ([]byte, error)) []byte {
	tb.Helper()
	v, _ := builds.LoadOrStore(key, &build{})
	b := v.(*build)
	b.once.Do(func() {
		if b.skip = missingTools(); b.skip == "" {
			b.wasm, b.err = f()
		}
	})
	if b.skip != "" {
		if os.Getenv("CI") != "" {
			// Under CI a missing toolchain must fail, not let the
			// AssemblyScript tests pass by not running.
			tb.Fatal(b.skip)
		}
		tb.Skip(b.skip)
	}
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.wasm
}

func missingTools() string {
	for _, tool := range []string{"make", "node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "AssemblyScript plugins need " + tool + ", which is not installed"
		}
	}
	return ""
}

// Example returns build/plugins/<name>-as.wasm, the example in
// plugins/examples/<name>/as, after bringing it up to date with make
// (which runs npm ci when node_modules is missing or stale).
func Example(tb testing.TB, name string) []byte {
	tb.Helper()
	return once(tb, "example "+name, func() ([]byte, error) {
		target := filepath.Join("build", "plugins", name+"-as.wasm")
		root, err := runMake(target)
		if err != nil {
			return nil, err
		}
		return os.ReadFile(filepath.Join(root, target))
	})
}

// Compile builds the AssemblyScript entry file at path (relative to the
// test's package) with the SDK's compiler configuration.
func Compile(tb testing.TB, path string) []byte {
	tb.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		tb.Fatal(err)
	}
	return once(tb, "file "+abs, func() ([]byte, error) {
		root, err := runMake("node_modules/.installed")
		if err != nil {
			return nil, err
		}
		tmp, err := os.MkdirTemp("", "astest")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		out := filepath.Join(tmp, "plugin.wasm")
		cmd := exec.Command(filepath.Join(root, "node_modules", ".bin", "asc"), abs,
			"--config", filepath.Join(root, "plugins", "sdk-as", "asconfig.json"), "-o", out)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("asc %s: %v\n%s", path, err, b)
		}
		return os.ReadFile(out)
	})
}

// runMake makes target in the module root and returns the root. Test
// binaries of several packages run at once; the lock keeps two of them from
// running npm ci or writing one module at the same time.
func runMake(target string) (root string, err error) {
	root, err = repo.Root()
	if err != nil {
		return "", err
	}
	unlock, err := lock(filepath.Join(root, "build", ".astest.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	cmd := exec.Command("make", "--no-print-directory", target)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make %s: %v\n%s", target, err, out)
	}
	return root, nil
}

// Config is the Host configuration for tests and benchmarks: the edge's
// defaults but for a call deadline of a second, because a loaded machine
// (or -race) can stall a call past the edge's 10ms without the plugin being
// at fault. The deadline's machinery costs the same whatever its length.
var Config = host.Config{CallTimeout: time.Second}

// Load loads wasm into a new Host with cfg that closes when the test ends.
func Load(tb testing.TB, wasm []byte, cfg host.Config) *host.Plugin {
	tb.Helper()
	h, err := host.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close(context.Background()) })
	p, err := h.Load(context.Background(), wasm)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
