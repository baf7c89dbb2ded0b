// Package golden runs table tests whose rows are files: each input under
// testdata/<dir> is transformed and compared with its .golden twin. Run the
// tests with -update to rewrite the golden files after a deliberate change.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// Run runs one subtest per testdata/dir/*inExt file, comparing run's output
// with <name>.golden<outExt>. It fails when the directory has no inputs, so
// a moved folder cannot make the test pass vacuously.
func Run(t *testing.T, dir, inExt, outExt string, run func(t *testing.T, in []byte) []byte) {
	t.Helper()
	inputs, err := filepath.Glob(filepath.Join("testdata", dir, "*"+inExt))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range inputs {
		if strings.Contains(filepath.Base(in), ".golden") {
			continue
		}
		n++
		name := strings.TrimSuffix(filepath.Base(in), inExt)
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := run(t, src)
			path := strings.TrimSuffix(in, inExt) + ".golden" + outExt
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from its golden file\n--- got\n%s\n--- want\n%s", in, got, want)
			}
		})
	}
	if n == 0 {
		t.Fatalf("no inputs in testdata/%s", dir)
	}
}
