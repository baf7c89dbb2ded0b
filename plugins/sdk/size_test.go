package sdk_test

import (
	"testing"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
)

// maxPluginBytes holds a small Go plugin near the Go runtime's own 1.8 MB:
// importing fmt, encoding/json or time from the SDK or plugins/abi adds
// 250 KB to 1.3 MB to every plugin, which this catches.
const maxPluginBytes = 2_100_000

func TestPluginSize(t *testing.T) {
	wasm := plugintest.Build(t, "../examples/eu-only")
	t.Logf("eu-only: %d bytes", len(wasm))
	if len(wasm) > maxPluginBytes {
		t.Errorf("eu-only is %d bytes, over %d: has the SDK or plugins/abi started importing fmt, encoding/json or time?", len(wasm), maxPluginBytes)
	}
}
