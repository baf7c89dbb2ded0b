package host_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchyard-ai/switchyard/internal/wasmtest"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

// A host runs tenants' plugins: Load once per module, then Route per
// request. Misbehaviour comes back as errors with a kind, never as a
// crash.
func Example() {
	ctx := context.Background()
	h, err := host.New(ctx, host.Config{}) // the native edge's limits
	if err != nil {
		panic(err)
	}
	defer h.Close(ctx)

	p, err := h.Load(ctx, wasmtest.Decision(`{"action":"route","model":"openai/gpt-4o-mini"}`))
	if err != nil {
		panic(err)
	}
	defer p.Close(ctx)
	d, err := p.Route(ctx, "acct_1", host.SampleRequest())
	fmt.Println(d.Action, d.Model, err)

	spinning, _ := h.Load(ctx, wasmtest.Module{Route: wasmtest.Spin}.Bytes())
	_, err = spinning.Route(ctx, "acct_1", host.SampleRequest())
	var ce *host.CallError
	fmt.Println(errors.As(err, &ce), ce.Kind)

	_, err = h.Load(ctx, []byte("MZ\x90\x00"))
	fmt.Println(err)
	// Output:
	// route openai/gpt-4o-mini <nil>
	// true timeout
	// plugin refused: the file is not a WebAssembly module (it does not start with \0asm)
}
