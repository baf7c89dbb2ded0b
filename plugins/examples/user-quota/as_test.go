package main

import (
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/plugintest"
	"github.com/switchyard-ai/switchyard/plugins/host"
	"github.com/switchyard-ai/switchyard/plugins/sdk-as/astest"
)

// The AssemblyScript build (as/index.ts) must decide as this Go plugin
// does. Its decisions depend on counters, which natively live in this
// process on the real clock, so rather than compare with the Go plugin run
// natively it runs TestUserQuota's scenario on the host's clock.
func TestUserQuotaAS(t *testing.T) {
	quotaScenario(t, func(clock func() time.Time) *host.Plugin {
		cfg := astest.Config
		cfg.Now = clock
		return astest.Load(t, astest.Example(t, "user-quota"), cfg)
	})
}

// BenchmarkASRouteUserQuota is one warm Route call of the AssemblyScript
// build on the sample request (user "user-42"), JSON in and out included.
// The counter runs past the quota during the benchmark, so most calls
// measure the reject path, which costs the same.
func BenchmarkASRouteUserQuota(b *testing.B) {
	astest.BenchModes(b, astest.Example(b, "user-quota"), plugintest.Request(nil))
}
