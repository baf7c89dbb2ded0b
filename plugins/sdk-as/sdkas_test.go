package sdkas_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
	"github.com/switchyard-ai/switchyard/plugins/sdk"
	"github.com/switchyard-ai/switchyard/plugins/sdk-as/astest"
)

// The Go SDK is the reference reader of a RouteRequest: both SDKs must see
// the same fields in the same JSON. goEcho is testdata/echo in Go.
func init() { sdk.Handle(goEcho) }

func goEcho(req *abi.RouteRequest) *abi.RouteDecision {
	out := []string{
		"abi=" + strconv.Itoa(req.ABI),
		"request_id=" + req.RequestID,
		"tenant=" + req.Tenant,
		"key_id=" + req.KeyID,
		"endpoint=" + req.Endpoint,
		"model=" + req.Model,
		"stream=" + strconv.FormatBool(req.Stream),
		"edge.location=" + req.Edge.Location,
		"edge.country=" + req.Edge.Country,
		"estimated_input_tokens=" + strconv.Itoa(req.EstimatedInputTokens),
		"body=" + string(req.Body),
	}
	for i, m := range req.Models {
		out = append(out, fmt.Sprintf("models[%d]=%s", i, m))
	}
	for k, v := range req.Headers {
		out = append(out, "headers["+k+"]="+v)
	}
	for i, c := range req.Candidates {
		found := "-"
		for _, e := range req.Catalog {
			if e.Model == c.Model {
				found = e.Provider
				break
			}
		}
		out = append(out, fmt.Sprintf("in_catalog[%d]=%s", i, found))
	}
	for name, list := range map[string][]abi.Candidate{"candidates": req.Candidates, "catalog": req.Catalog} {
		for i, c := range list {
			out = append(out, fmt.Sprintf("%s[%d]=%s|%s|%d|%d|%d|%t|%d", name, i,
				c.Model, c.Provider, c.InputPrice, c.OutputPrice, c.ContextLength, c.Healthy, c.LatencyMs))
		}
	}
	return &abi.RouteDecision{Action: abi.ActionRoute, Fallbacks: out}
}

// goRead is what the Go SDK makes of in: the sorted echo, or ok false when
// it refuses the request.
func goRead(in []byte) (fields []string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	var d abi.RouteDecision
	if err := json.Unmarshal(sdk.RouteJSON(in), &d); err != nil {
		panic(err)
	}
	slices.Sort(d.Fallbacks)
	return d.Fallbacks, true
}

// rawPlugin runs a module through the calling convention of ABI.md on
// bytes the test chooses, which plugins/host (taking an abi.RouteRequest)
// cannot: whitespace, field order, unknown fields, escapes.
type rawPlugin struct {
	rt                 wazero.Runtime
	mod                api.Module
	alloc, route, free api.Function
	logs               []string
}

func newRawPlugin(tb testing.TB, wasm []byte) *rawPlugin {
	tb.Helper()
	p, err := startRawPlugin(wasm)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.close)
	return p
}

// compiled keeps compiled modules across rawPlugins: the fuzz test starts
// a new one after every trap.
var compiled = wazero.NewCompilationCache()

func startRawPlugin(wasm []byte) (*rawPlugin, error) {
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithCompilationCache(compiled)
	p := &rawPlugin{rt: wazero.NewRuntimeWithConfig(ctx, cfg)}
	_, err := p.rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, level, ptr, n uint32) {
		b, _ := m.Memory().Read(ptr, n)
		p.logs = append(p.logs, string(b))
	}).Export(abi.ImportLog).
		NewFunctionBuilder().WithFunc(func() int64 { return 0 }).Export(abi.ImportNowMs).
		NewFunctionBuilder().WithFunc(func(uint32, uint32, int64, int32) int64 { return 0 }).Export(abi.ImportCounterAdd).
		Instantiate(ctx)
	if err == nil {
		p.mod, err = p.rt.Instantiate(ctx, wasm)
	}
	if err != nil {
		p.close()
		return nil, err
	}
	p.alloc = p.mod.ExportedFunction(abi.ExportAlloc)
	p.route = p.mod.ExportedFunction(abi.ExportRoute)
	p.free = p.mod.ExportedFunction(abi.ExportFree)
	return p, nil
}

func (p *rawPlugin) close() { p.rt.Close(context.Background()) }

// call routes in and returns the decision's JSON. After an error the
// module has trapped and must not be called again.
func (p *rawPlugin) call(in []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := p.alloc.Call(ctx, uint64(len(in)))
	if err != nil {
		return nil, err
	}
	inPtr := r[0]
	if !p.mod.Memory().Write(uint32(inPtr), in) {
		return nil, errors.New("sy_alloc gave a buffer outside memory")
	}
	r, err = p.route.Call(ctx, inPtr, uint64(len(in)))
	if err != nil {
		return nil, err
	}
	outPtr, outLen := uint32(r[0]>>32), uint32(r[0])
	out, ok := p.mod.Memory().Read(outPtr, outLen)
	if !ok {
		return nil, errors.New("decision outside memory")
	}
	out = slices.Clone(out)
	for _, buf := range [][2]uint64{{inPtr, uint64(len(in))}, {uint64(outPtr), uint64(outLen)}} {
		if _, err := p.free.Call(ctx, buf[0], buf[1]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (p *rawPlugin) pages() uint32 { return p.mod.Memory().Size() / 65536 }

// asRead is what the AssemblyScript SDK makes of in, like goRead.
func asRead(p *rawPlugin, in []byte) ([]string, error) {
	out, err := p.call(in)
	if err != nil {
		return nil, err
	}
	var d abi.RouteDecision
	if err := json.Unmarshal(out, &d); err != nil {
		return nil, fmt.Errorf("decision %q: %w", out, err)
	}
	if err := d.Check(); err != nil {
		return nil, err
	}
	slices.Sort(d.Fallbacks)
	return d.Fallbacks, nil
}

func echo(tb testing.TB) []byte { return astest.Compile(tb, "testdata/echo/index.ts") }

// requests are RouteRequests as the host writes them and as it might:
// other field orders, whitespace, fields of later ABI revisions, escapes,
// nulls, and strings of every length around the reader's eight-byte steps.
func requests() map[string]string {
	sample, _ := json.Marshal(host.SampleRequest())
	indented, _ := json.MarshalIndent(host.SampleRequest(), "", "\t")
	many := host.SampleRequest()
	for i := range 50 {
		many.Catalog = append(many.Catalog, abi.Candidate{Model: fmt.Sprintf("m/%d", i), Provider: strings.Repeat("p", i), InputPrice: int64(i) * 1e9})
	}
	manyJSON, _ := json.Marshal(many)
	rs := map[string]string{
		"sample":   string(sample),
		"indented": string(indented),
		"many":     string(manyJSON),
		"empty":    `{}`,
		"nulls": `{"abi":null,"request_id":null,"tenant":null,"key_id":null,"endpoint":null,"model":null,"models":null,` +
			`"stream":null,"edge":null,"headers":null,"estimated_input_tokens":null,"candidates":null,"catalog":null,"body":null}`,
		"reordered": `{"body":{"messages":[{"role":"user","content":"] } \" {"}]},"catalog":[{"model":"a/b","provider":"a","healthy":true}],` +
			`"candidates":[{"latency_ms":7,"model":"c/d","provider":"c","input_price":1,"output_price":2,"context_length":3,"healthy":false}],` +
			`"model":"x","edge":{"country":"FR","location":"CDG"},"abi":1}`,
		"later revision": `{"abi":1,"future":{"a":[1,2.5e-3,{"b":"}]\"[{\\"}],"c":true,"d":null},"model":"m","x":-1.5E+3,"y":false,` +
			`"edge":{"country":"DE","planet":"earth","location":"FRA"},"candidates":[{"model":"a","provider":"b","new":[{}],"healthy":true}],` +
			`"headers":{"x-sy-user":"u"},"z":"tail\\\"","catalog":[],"last":[[[]]]}`,
		"escapes": `{"model":"\"\\\/\b\f\n\r\t\u0001\u00e9\u20ac\ud83d\ude00é€😀","models":["\ud800","a\u0000b",""],` +
			`"headers":{"x-sy-\u0041":"v\u00e9","x-plain":"é"},"tenant":"\\\\\\\\\\\\\\\\\\"}`,
		"numbers": `{"abi":1,"estimated_input_tokens":-7,"candidates":[{"input_price":999999999999999999,"output_price":-999999999999999999,` +
			`"context_length":0,"latency_ms":12345678,"healthy":true},{"input_price":123456789,"output_price":1}]}`,
		"bodies":       `{"body":"a string with \"quotes\" and ] [ } {","model":"after"}`,
		"body number":  `{"model":"m","body":-12.5e7}`,
		"body array":   `{"body":[1,[2,[3,{"4":"5"}]],"\\\""],"model":"m"}`,
		"body literal": `{"body":true,"model":"m"}`,
		"spaces":       " \n\t{ \"model\" : \"m\" , \"models\" : [ \"a\" , \"b\" ] , \"stream\" : true , \"candidates\" : [ { \"model\" : \"c\" , \"healthy\" : false } ] , \"body\" : { } } \n",
	}
	// Strings of every length from 0 to 40, with and without an escape
	// at each end, so that every position of a quote or backslash within
	// an eight-byte word is read.
	var b strings.Builder
	b.WriteString(`{"models":[`)
	for n := range 41 {
		s := strings.Repeat("abcdefghij", 5)[:n]
		fmt.Fprintf(&b, `"%s","\\%s","%s\\\"","é%s",`, s, s, s, s)
	}
	b.WriteString(`"end"],"future":[`)
	for n := range 41 {
		fmt.Fprintf(&b, `{"k%s":"%s\\\\"},`, strings.Repeat("x", n), strings.Repeat("]", n))
	}
	b.WriteString(`0],"model":"after"}`)
	rs["lengths"] = b.String()
	return rs
}

// The SDK reads every request as the Go SDK does, whichever order the
// plugin asks for the fields in.
func TestReadsLikeGoSDK(t *testing.T) {
	p := newRawPlugin(t, echo(t))
	for name, in := range requests() {
		t.Run(name, func(t *testing.T) {
			want, ok := goRead([]byte(in))
			if !ok {
				t.Fatalf("the Go SDK refuses %s", in)
			}
			for order := range 3 { // testdata/echo's three reading orders
				got, err := asRead(p, []byte(in))
				if err != nil {
					t.Fatalf("order %d: %v (log %q)", order, err, p.logs)
				}
				if !slices.Equal(got, want) {
					t.Errorf("order %d:\n got %q\nwant %q", order, got, want)
				}
			}
		})
	}
}

// Whatever bytes arrive, a request the Go SDK reads is read the same; any
// other ends the call with a trap, never a hang or a corrupt answer.
func FuzzReadsLikeGoSDK(f *testing.F) {
	for _, in := range requests() {
		f.Add([]byte(in))
	}
	wasm := echo(f)
	// One instance serves input after input, as in the host's pool, until
	// one traps.
	var (
		mu sync.Mutex
		p  *rawPlugin
	)
	f.Cleanup(func() {
		if p != nil {
			p.close()
		}
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		mu.Lock()
		defer mu.Unlock()
		if p == nil {
			var err error
			if p, err = startRawPlugin(wasm); err != nil {
				t.Fatal(err)
			}
		}
		want, ok := goRead(in)
		got, err := asRead(p, in)
		if err != nil {
			logs := p.logs
			p.close()
			p = nil
			if ok {
				t.Fatalf("refused what the Go SDK reads: %v (log %q)", err, logs)
			}
			return
		}
		if ok && !slices.Equal(got, want) {
			t.Errorf("\n got %q\nwant %q", got, want)
		}
	})
}

// A pooled instance serves calls for as long as the host keeps it: its
// memory must stop growing after the first calls, whatever the request size.
func TestMemoryIsFlat(t *testing.T) {
	small, _ := json.Marshal(host.SampleRequest())
	large := host.SampleRequest()
	large.Body = abi.RawJSON(`"` + strings.Repeat("x", 300<<10) + `"`)
	largeJSON, _ := json.Marshal(large)
	for name, in := range map[string][]byte{"sample": small, "300 KiB body": largeJSON} {
		t.Run(name, func(t *testing.T) {
			p := newRawPlugin(t, echo(t))
			calls := 1000
			if len(in) > 100<<10 {
				calls = 100
			}
			var warm uint32
			for i := range calls {
				if _, err := p.call(in); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if i == 9 {
					warm = p.pages()
				}
			}
			if p.pages() != warm {
				t.Errorf("memory grew from %d to %d pages between call 10 and call %d", warm, p.pages(), calls)
			}
		})
	}
}

// A request that is not JSON traps, with a line in the plugin log saying
// why, so that the fail policy applies and the tenant can see the cause.
func TestMalformedRequestTraps(t *testing.T) {
	for _, in := range []string{``, `null`, `[]`, `{"model":}`, `{"model":"m"`, `{"model":"m"}x`, `{"abi":1.5}`,
		`{"stream":yes}`, `{"candidates":[{"input_price":"1"}]}`, `{"abi":1234567890123456789}`, `{"model":"m",}`, `{"model" "m"}`, `{"model":"\x"}`} {
		p := newRawPlugin(t, echo(t))
		if out, err := p.call([]byte(in)); err == nil {
			t.Errorf("%q: decided %s, want a trap", in, out)
			continue
		}
		if len(p.logs) != 1 || !strings.HasPrefix(p.logs[0], "abort: ") {
			t.Errorf("%q: log %q, want one abort line", in, p.logs)
		}
	}
}

// A RouteRequest kept in a global reads a buffer that later calls reuse:
// reading it after its call must trap, not return another request's data.
func TestRequestKeptPastItsCallTraps(t *testing.T) {
	p := newRawPlugin(t, astest.Compile(t, "testdata/keep/index.ts"))
	in, _ := json.Marshal(host.SampleRequest())
	if _, err := p.call(in); err != nil {
		t.Fatal(err)
	}
	if out, err := p.call(in); err == nil {
		t.Fatalf("decided %s, want a trap", out)
	}
	if len(p.logs) != 1 || !strings.Contains(p.logs[0], "RouteRequest used after its sy_route call ended") {
		t.Errorf("log %q", p.logs)
	}
}

// Decisions carry strings as the host reads them: escapes, multi-byte
// characters and surrogate pairs survive the trip; lone surrogates become
// U+FFFD, as in Go.
func TestDecisionStrings(t *testing.T) {
	p := newRawPlugin(t, echo(t))
	for _, s := range []string{"", "a", `"`, `\`, "\n\r\t\b\f\x01\x1f", "é", "€", "😀", "ab😀cd€é\"\\x",
		strings.Repeat("x", 7), strings.Repeat("é", 9), strings.Repeat(`"`, 17), strings.Repeat("0123456789", 10) + "\x00"} {
		req, _ := json.Marshal(map[string]string{"model": s})
		got, err := asRead(p, req)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if !slices.Contains(got, "model="+s) {
			t.Errorf("%q: decision has %q", s, got)
		}
	}
	got, err := asRead(p, []byte(`{"model":"a\ud800b\udc00c"}`))
	if err != nil || !slices.Contains(got, "model=a\uFFFDb\uFFFDc") {
		t.Errorf("lone surrogates: %q, %v", got, err)
	}
}

// Every AssemblyScript example is a module the host accepts at upload,
// importing only sy, small enough for the Workers edge by a wide margin.
func TestExamplesAreSmallSyOnlyModules(t *testing.T) {
	ctx := context.Background()
	h, err := host.New(ctx, astest.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for _, name := range []string{"cheapest", "user-quota", "aliases", "eu-only"} {
		t.Run(name, func(t *testing.T) {
			wasm := astest.Example(t, name)
			rep, err := h.Validate(ctx, wasm)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range rep.Imports {
				if !strings.HasPrefix(imp, abi.ImportModule+".") {
					t.Errorf("imports %s", imp)
				}
			}
			const maxBytes = 32 << 10
			if len(wasm) > maxBytes {
				t.Errorf("%d bytes, over %d", len(wasm), maxBytes)
			}
			t.Logf("%d bytes, %d pages, imports %v, sample call %v", len(wasm), rep.MemoryPages, rep.Imports, rep.CallTime)
		})
	}
}

// Random requests, built member by member in random order with random
// fields of later revisions and strings full of what JSON escapes, read
// like the Go SDK reads them; one instance serves them all, as in the pool.
func TestRandomRequestsReadLikeGoSDK(t *testing.T) {
	p := newRawPlugin(t, echo(t))
	rng := rand.New(rand.NewPCG(7, 11))
	alphabet := []string{"a", "Z", "0", " ", `"`, `\`, "/", "[", "]", "{", "}", ",", ":", "é", "€", "😀", "\n", "\t", "\x01", "\u2028", "<", "&"}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(30) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	quote := func(s string) string {
		b, _ := json.Marshal(s)
		if rng.IntN(4) == 0 { // escape some ASCII the way other encoders do
			b = []byte(strings.ReplaceAll(string(b), "a", `\u0061`))
		}
		return string(b)
	}
	var value func(depth int) string
	value = func(depth int) string {
		switch n := rng.IntN(8); {
		case n == 0 && depth < 4:
			var parts []string
			for range rng.IntN(4) {
				parts = append(parts, quote(str())+":"+value(depth+1))
			}
			return "{" + strings.Join(parts, ",") + "}"
		case n == 1 && depth < 4:
			var parts []string
			for range rng.IntN(4) {
				parts = append(parts, value(depth+1))
			}
			return "[" + strings.Join(parts, ",") + "]"
		case n == 2:
			return strconv.FormatFloat(rng.NormFloat64()*1e6, 'g', -1, 64)
		case n == 3:
			return []string{"true", "false", "null"}[rng.IntN(3)]
		default:
			return quote(str())
		}
	}
	candidates := func() string {
		var cs []string
		for range rng.IntN(5) {
			m := []string{
				`"model":` + quote(str()), `"provider":` + quote(str()),
				`"input_price":` + strconv.FormatInt(rng.Int64N(1e18), 10), `"output_price":` + strconv.FormatInt(-rng.Int64N(1e9), 10),
				`"context_length":` + strconv.Itoa(rng.IntN(1e7)), `"healthy":` + strconv.FormatBool(rng.IntN(2) == 0),
				`"latency_ms":` + strconv.Itoa(rng.IntN(1000)), quote(str()) + ":" + value(2),
			}
			rng.Shuffle(len(m), func(i, j int) { m[i], m[j] = m[j], m[i] })
			cs = append(cs, "{"+strings.Join(m[:rng.IntN(len(m)+1)], ",")+"}")
		}
		return "[" + strings.Join(cs, ",") + "]"
	}
	for i := range 300 {
		members := []string{
			`"abi":1`, `"request_id":` + quote(str()), `"tenant":` + quote(str()), `"key_id":` + quote(str()),
			`"endpoint":` + quote(str()), `"model":` + quote(str()), `"models":[` + quote(str()) + "," + quote(str()) + "]",
			`"stream":true`, `"edge":{"location":` + quote(str()) + `,"country":` + quote(str()) + "}",
			`"headers":{` + quote(str()) + ":" + quote(str()) + "}", `"estimated_input_tokens":` + strconv.Itoa(rng.IntN(1e6)),
			`"candidates":` + candidates(), `"catalog":` + candidates(), `"body":` + value(0),
			quote("future"+str()) + ":" + value(0), quote("x") + ":" + value(0),
		}
		rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		in := []byte("{" + strings.Join(members[:rng.IntN(len(members)+1)], ",") + "}")
		want, ok := goRead(in)
		if !ok {
			t.Fatalf("the Go SDK refuses request %d %s", i, in)
		}
		got, err := asRead(p, in)
		if err != nil {
			t.Fatalf("request %d %s: %v (log %q)", i, in, err, p.logs)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("request %d %s:\n got %q\nwant %q", i, in, got, want)
		}
	}
}
