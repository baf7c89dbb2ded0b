package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// Load checks that wasm is a plugin this host can run and compiles it.
//
// Loading the same bytes again returns the same *Plugin without compiling;
// each Load must be matched by one Close, and the plugin stays compiled
// until every holder has closed it.
//
// # Errors
//
// A module that breaks ABI.md (too large, not WebAssembly, a missing or
// mistyped export, an import the host does not offer, a failing
// `_initialize`, sy_abi_version not 1) gives a *LoadError.
func (h *Host) Load(ctx context.Context, wasm []byte) (*Plugin, error) {
	if int64(len(wasm)) > h.cfg.MaxModuleBytes {
		return nil, &LoadError{Reason: fmt.Sprintf("the module is %s, over the %s limit", byteSize(int64(len(wasm))), byteSize(h.cfg.MaxModuleBytes))}
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return nil, &LoadError{Reason: "the file is not a WebAssembly module (it does not start with \\0asm)"}
	}
	sum := sha256.Sum256(wasm)
	hash := hex.EncodeToString(sum[:])
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, errHostClosed
		}
		l := h.plugins[hash]
		if l == nil {
			l = &loading{done: make(chan struct{})}
			h.plugins[hash] = l
			h.mu.Unlock()
			return h.compile(ctx, l, hash, wasm)
		}
		if l.p != nil {
			l.p.refs++
			h.mu.Unlock()
			return l.p, nil
		}
		h.mu.Unlock()
		select {
		case <-l.done:
			if l.err != nil {
				return nil, l.err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

var errHostClosed = errors.New("plugin host is closed")

func (h *Host) compile(ctx context.Context, l *loading, hash string, wasm []byte) (*Plugin, error) {
	p, err := h.newPlugin(ctx, hash, wasm)
	h.mu.Lock()
	if err == nil && h.closed {
		err = errHostClosed
	}
	if err != nil {
		delete(h.plugins, hash)
	} else {
		p.refs = 1
	}
	l.p, l.err = p, err
	close(l.done)
	h.mu.Unlock()
	if err != nil && p != nil {
		p.release(ctx)
		return nil, err
	}
	return p, err
}

func (h *Host) newPlugin(ctx context.Context, hash string, wasm []byte) (*Plugin, error) {
	guarded, err := guardEntries(wasm, h.cfg.InitFuel)
	var compiled wazero.CompiledModule
	if err == nil {
		compiled, err = h.rt.CompileModule(ctx, guarded)
	}
	if err != nil {
		return nil, &LoadError{Reason: "the module is not valid WebAssembly: " + err.Error(), Err: err}
	}
	imports, err := h.checkImports(compiled)
	if err == nil {
		err = checkExports(compiled, h.cfg.MaxMemoryPages)
	}
	if err != nil {
		return nil, errors.Join(err, compiled.Close(ctx))
	}
	p := &Plugin{
		h:        h,
		hash:     hash,
		size:     len(wasm),
		compiled: compiled,
		imports:  imports,
		hasFree:  compiled.ExportedFunctions()[abi.ExportFree] != nil,
	}
	// Instantiating once runs `_initialize` and lets us ask the version, so
	// a module that cannot start is refused here rather than on a request.
	inst, err := p.instantiate(ctx, "")
	if err != nil {
		p.release(ctx)
		return nil, &LoadError{Reason: "the module fails to start: " + err.Error(), Err: err}
	}
	defer inst.close()
	version, err := inst.abiVersion(ctx, h.cfg.CallTimeout, h.cfg.Fuel)
	if err != nil {
		p.release(ctx)
		err := p.callError(inst, err, h.cfg.CallTimeout, h.cfg.Fuel)
		return nil, &LoadError{Reason: abi.ExportABIVersion + " failed: " + err.Error(), Err: err}
	}
	if version != abi.Version {
		p.release(ctx)
		return nil, &LoadError{Reason: fmt.Sprintf("%s returned %d; this host speaks ABI version %d", abi.ExportABIVersion, version, abi.Version)}
	}
	return p, nil
}

type signature struct {
	params, results []api.ValueType
}

func (s signature) String() string {
	name := func(ts []api.ValueType) string {
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(names, ", ") + ")"
	}
	return name(s.params) + " -> " + name(s.results)
}

func (s signature) matches(d api.FunctionDefinition) bool {
	return slices.Equal(s.params, d.ParamTypes()) && slices.Equal(s.results, d.ResultTypes())
}

func (h *Host) checkImports(c wazero.CompiledModule) ([]string, error) {
	if len(c.ImportedMemories()) > 0 {
		return nil, &LoadError{Reason: "the module imports its memory; it must define and export its own"}
	}
	var names []string
	for _, d := range c.ImportedFunctions() {
		mod, name, _ := d.Import()
		full := mod + "." + name
		want, ok := h.offers[full]
		if !ok {
			return nil, &LoadError{Reason: fmt.Sprintf("the module imports %s, which the host does not offer", full)}
		}
		got := signature{d.ParamTypes(), d.ResultTypes()}
		if !want.matches(d) {
			return nil, &LoadError{Reason: fmt.Sprintf("the module imports %s as %s, but the host offers %s", full, got, want)}
		}
		names = append(names, full)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

var requiredExports = []struct {
	name     string
	sig      signature
	optional bool
}{
	{abi.ExportABIVersion, signature{nil, []api.ValueType{i32}}, false},
	{abi.ExportAlloc, signature{[]api.ValueType{i32}, []api.ValueType{i32}}, false},
	{abi.ExportRoute, signature{[]api.ValueType{i32, i32}, []api.ValueType{i64}}, false},
	{abi.ExportFree, signature{[]api.ValueType{i32, i32}, nil}, true},
	{abi.ExportInitialize, signature{nil, nil}, true},
}

func checkExports(c wazero.CompiledModule, maxPages uint32) error {
	mem, ok := c.ExportedMemories()[abi.ExportMemory]
	if !ok {
		return &LoadError{Reason: fmt.Sprintf("the module does not export its memory as %q", abi.ExportMemory)}
	}
	if mem.Min() > maxPages {
		return &LoadError{Reason: fmt.Sprintf("the module's memory starts at %d pages, over the cap of %d", mem.Min(), maxPages)}
	}
	if max, ok := mem.Max(); ok && max > maxPages {
		return &LoadError{Reason: fmt.Sprintf("the module's memory may grow to %d pages, over the cap of %d", max, maxPages)}
	}
	fns := c.ExportedFunctions()
	for _, e := range requiredExports {
		d, ok := fns[e.name]
		switch {
		case !ok && !e.optional:
			return &LoadError{Reason: fmt.Sprintf("the module does not export %s %s", e.name, e.sig)}
		case ok && !e.sig.matches(d):
			return &LoadError{Reason: fmt.Sprintf("the module exports %s as %s; ABI.md says %s", e.name, signature{d.ParamTypes(), d.ResultTypes()}, e.sig)}
		}
	}
	return nil
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
