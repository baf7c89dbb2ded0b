//go:build js && wasm

package edgejs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall/js"
)

var (
	jsObject     = js.Global().Get("Object")
	jsUint8Array = js.Global().Get("Uint8Array")
	jsPromise    = js.Global().Get("Promise")
)

type ioKey struct{}

// withIO marks ctx as belonging to the request whose io object this is.
func withIO(ctx context.Context, io js.Value) context.Context {
	return context.WithValue(ctx, ioKey{}, io)
}

// ioFor returns the io of the request ctx belongs to, or direct.
func ioFor(ctx context.Context, direct js.Value) js.Value {
	if io, ok := ctx.Value(ioKey{}).(js.Value); ok {
		return io
	}
	return direct
}

// call runs the shim's operation name through io and waits for its result
// or for ctx to end. The shim runs it in the context of io's request and
// reports through a plain callback (opDone, with the operation's id), which
// resumes Go in that context too.
func call(ctx context.Context, io js.Value, name string, args ...any) (js.Value, error) {
	ch := make(chan opResult, 1)
	ops.mu.Lock()
	ops.next++
	id := ops.next
	ops.waiting[id] = ch
	ops.mu.Unlock()
	if err := try(func() { io.Call("run", name, args, opDone, id) }); err != nil {
		ops.forget(id)
		return js.Value{}, err
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		ops.forget(id)
		return js.Value{}, ctx.Err()
	}
}

type opResult struct {
	v   js.Value
	err error
}

// opTable holds the operations in flight, by id.
type opTable struct {
	mu      sync.Mutex
	next    int
	waiting map[int]chan opResult
}

var ops = &opTable{waiting: map[int]chan opResult{}}

func (o *opTable) forget(id int) {
	o.mu.Lock()
	delete(o.waiting, id)
	o.mu.Unlock()
}

// opDone is the one callback every operation reports to:
// opDone(id, error, value). One function for all operations spares each
// its own js.Func.
var opDone = js.FuncOf(func(_ js.Value, a []js.Value) any {
	if len(a) < 2 {
		return nil
	}
	id := a[0].Int()
	ops.mu.Lock()
	ch := ops.waiting[id]
	delete(ops.waiting, id)
	ops.mu.Unlock()
	if ch == nil {
		return nil // its caller gave up
	}
	switch {
	case !a[1].IsNull() && !a[1].IsUndefined():
		ch <- opResult{err: jsError(a[1])}
	case len(a) > 2:
		ch <- opResult{v: a[2]}
	default:
		ch <- opResult{v: js.Undefined()}
	}
	return nil
})

func arg(args []js.Value) js.Value {
	if len(args) == 0 {
		return js.Undefined()
	}
	return args[0]
}

// jsError turns a rejection reason into a Go error.
func jsError(v js.Value) error {
	if v.Type() == js.TypeObject && v.Get("message").Type() == js.TypeString {
		return errors.New(v.Get("name").String() + ": " + v.Get("message").String())
	}
	return fmt.Errorf("javascript: %s", v.String())
}

// try runs fn, turning a JavaScript exception it throws (which syscall/js
// raises as a panic of js.Error) into an error.
func try(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if je, ok := r.(js.Error); ok {
				err = jsError(je.Value)
				return
			}
			panic(r)
		}
	}()
	fn()
	return nil
}

// bytesToJS copies b into a new Uint8Array.
func bytesToJS(b []byte) js.Value {
	u := jsUint8Array.New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

// bytesFromJS appends a Uint8Array's bytes to dst.
func bytesFromJS(dst []byte, u js.Value) []byte {
	n := u.Get("byteLength").Int()
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	js.CopyBytesToGo(dst[start:], u)
	return dst
}

// Headers cross the boundary as one string, "name\x00value\x00…" (NUL
// cannot occur in a header): one conversion instead of several
// JavaScript values per header.

func flatHeaders(h [][2]string) string {
	var b strings.Builder
	for _, kv := range h {
		b.WriteString(kv[0])
		b.WriteByte(0)
		b.WriteString(kv[1])
		b.WriteByte(0)
	}
	return b.String()
}

func parseHeaders(s string, fn func(name, value string)) {
	for s != "" {
		name, rest, ok := strings.Cut(s, "\x00")
		if !ok {
			return
		}
		value, rest2, _ := strings.Cut(rest, "\x00")
		fn(name, value)
		s = rest2
	}
}

// newPromise returns a promise and its resolve and reject functions.
func newPromise() (p, resolve, reject js.Value) {
	var exec js.Func
	exec = js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, reject = args[0], args[1]
		return nil
	})
	p = jsPromise.New(exec)
	exec.Release()
	return p, resolve, reject
}
