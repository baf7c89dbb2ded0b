//go:build wasip1

package sdk

import (
	"unsafe"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

//go:wasmimport sy log
func syLog(level int32, ptr unsafe.Pointer, size int32)

//go:wasmimport sy now_ms
func syNowMs() int64

//go:wasmimport sy counter_add
func syCounterAdd(keyPtr unsafe.Pointer, keyLen int32, delta int64, windowSeconds int32) int64

func hostLog(level Level, msg string) {
	syLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}

func hostNowMs() int64 { return syNowMs() }

func hostCounterAdd(key string, delta int64, windowSeconds int32) int64 {
	return syCounterAdd(unsafe.Pointer(unsafe.StringData(key)), int32(len(key)), delta, windowSeconds)
}

// buffers holds every buffer the host knows the address of until it calls
// sy_free: the garbage collector cannot see pointers held by the host.
var buffers = map[uint32][]byte{}

func keep(b []byte) uint32 {
	ptr := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	buffers[ptr] = b
	return ptr
}

//go:wasmexport sy_abi_version
func syABIVersion() int32 { return abi.Version }

//go:wasmexport sy_alloc
func syAlloc(size int32) uint32 {
	if size <= 0 {
		return 0
	}
	return keep(make([]byte, size))
}

//go:wasmexport sy_route
func syRoute(ptr, size uint32) uint64 {
	defer logPanic()
	in, ok := buffers[ptr]
	if !ok || int(size) > len(in) {
		panic("sdk: sy_route called with a buffer sy_alloc did not return")
	}
	out := RouteJSON(in[:size])
	return uint64(keep(out))<<32 | uint64(len(out))
}

//go:wasmexport sy_free
func syFree(ptr, _ uint32) { delete(buffers, ptr) }

// logPanic copies a panic's message to the tenant's plugin log before the
// module exits, since the module's stderr goes nowhere.
func logPanic() {
	r := recover()
	if r == nil {
		return
	}
	msg := "a value that is neither a string nor an error"
	switch v := r.(type) {
	case error:
		msg = v.Error()
	case string:
		msg = v
	}
	Log(Error, "panic: "+msg)
	panic(r)
}
