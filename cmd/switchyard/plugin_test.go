package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/internal/wasmtest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

func TestPluginTest(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	req, _ := json.Marshal(host.SampleRequest())
	request := write("request.json", req)
	padded := host.SampleRequest()
	padded.Headers["x-sy-padding"] = strings.Repeat("x", 8192)
	bigReq, _ := json.Marshal(padded)
	big := write("big.json", bigReq)
	withBody := func(n int) string {
		r := host.SampleRequest()
		r.Body = abi.RawJSON(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("b", n) + `"}]}`)
		b, _ := json.Marshal(r)
		return write(fmt.Sprintf("body-%d.json", n), b)
	}
	bodyReq, hugeBodyReq := withBody(8192), withBody(abi.MaxRequestBytes)
	good := write("good.wasm", wasmtest.Decision(`{"action":"route","model":"openai/gpt-4o-mini"}`))
	// spins fails on requests of more than 4 KiB: those with a body.
	spins := write("spins.wasm", wasmtest.Module{Decision: `{"action":"route"}`, Route: wasmtest.Spin, Above: 4096}.Bytes())
	for _, c := range []struct {
		name string
		args []string
		out  []string // all must appear in stdout
		err  string   // "" for success
	}{
		{"file first", []string{good, "--request", request, "-n", "20"},
			[]string{`"model": "openai/gpt-4o-mini"`, "over 20 calls on the native edge", "pages (", "module:"}, ""},
		{"file last, workers", []string{"--request", request, "-n", "5", "--tenant", "acct_x", "--workers", good},
			[]string{"on the Workers edge (interpreter)", "cap 256"}, ""},
		{"refused module", []string{write("bad.wasm", wasmtest.Module{Decision: `{"action":"route"}`, ABIVersion: 7}.Bytes()), "--request", request},
			nil, "sy_abi_version returned 7"},
		{"bad decision", []string{write("bounce.wasm", wasmtest.Decision(`{"action":"bounce"}`)), "--request", request},
			nil, "the sample request failed"},
		{"fails on bigger requests only", []string{spins, "--request", big, "-n", "3"}, nil, "the call failed: plugin timeout"},
		{"body left out without --wants-body", []string{spins, "--request", bodyReq, "-n", "3"}, []string{"over 3 calls"}, ""},
		{"body passed with --wants-body", []string{spins, "--request", bodyReq, "-n", "3", "--wants-body"}, nil, "the call failed: plugin timeout"},
		{"body over the limit left out", []string{spins, "--request", hugeBodyReq, "-n", "3", "--wants-body"}, []string{"over 3 calls"}, ""},
		{"misspelt request field", []string{good, "--request", write("typo.json", []byte(`{"modle":"x"}`))},
			nil, `unknown field "modle"`},
		{"no request", []string{good}, nil, "want one PLUGIN.wasm"},
		{"two files", []string{good, good, "--request", request}, nil, "want one PLUGIN.wasm"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := pluginTest(context.Background(), c.args, &stdout, &stderr)
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("%v\n%s", err, stderr.String())
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want one containing %q", err, c.err)
			}
			for _, want := range c.out {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}
