// Package repo locates the repository from tests and test helpers: its
// root, and the pinned tools `make tools` installs into bin/tools.
package repo

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Root is the directory of go.mod at or above the working directory (a
// test's working directory is its package's).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Tool returns the path of a tool `make tools` installs: the file named by
// the environment variable env when set, else bin/tools/name under the
// root. It fails tb, saying what to run, when the tool is missing: tests
// that need a real server never skip.
func Tool(tb testing.TB, name, env string) string {
	tb.Helper()
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("%s=%s: %v (point it at %s, or unset it and run `make tools`)", env, p, err, name)
		}
		return p
	}
	root, err := Root()
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	p := filepath.Join(root, "bin", "tools", name)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("%s is not installed at %s: run `make tools` (or set %s)", name, p, env)
	}
	return p
}
