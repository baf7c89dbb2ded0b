package worker

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// metrics is a small Prometheus text-format registry. Label values come only
// from configuration (endpoint, provider and catalog model names), status
// codes and the gateway's own fixed words, never from what a client or a
// plugin sent, so no content or key can become a label and cardinality
// stays bounded. Plugin metrics carry no account id for the same reason:
// accounts are unbounded.
type metrics struct {
	cat      func() *catalog
	mu       sync.Mutex
	requests map[[4]string]int64
	tokenSum map[[3]string]int64
	attempts map[[2]string]int64
	authFail int64
	// pluginCalls counts valid decisions by action; pluginFails counts
	// failures by kind and fail policy.
	pluginCalls map[string]int64
	pluginFails map[[2]string]int64
}

func newMetrics(cat func() *catalog) *metrics {
	return &metrics{
		cat:      cat,
		requests: make(map[[4]string]int64),
		tokenSum: make(map[[3]string]int64),
		attempts: make(map[[2]string]int64),

		pluginCalls: make(map[string]int64),
		pluginFails: make(map[[2]string]int64),
	}
}

// label maps a model to a catalog id or "none", so that an arbitrary model
// name a client sent never becomes a label.
func (m *metrics) label(provider, model string) (string, string) {
	cat := m.cat()
	if _, ok := cat.providers[provider]; !ok {
		provider = "none"
	}
	if _, ok := cat.models[model]; !ok {
		model = "none"
	}
	return provider, model
}

func (m *metrics) request(endpoint, provider, model string, status int) {
	provider, model = m.label(provider, model)
	k := [4]string{endpoint, provider, model, strconv.Itoa(status)}
	m.mu.Lock()
	m.requests[k]++
	m.mu.Unlock()
}

func (m *metrics) tokens(provider, model string, t chat.Tokens) {
	if t.Total() == 0 {
		return
	}
	provider, model = m.label(provider, model)
	m.mu.Lock()
	for _, kv := range [...]struct {
		kind string
		n    int
	}{{"input", t.Input}, {"cached_input", t.CachedInput}, {"cache_write", t.CacheWrite}, {"output", t.Output}} {
		if kv.n > 0 {
			m.tokenSum[[3]string{provider, model, kv.kind}] += int64(kv.n)
		}
	}
	m.mu.Unlock()
}

func (m *metrics) attempt(provider string, status int) {
	provider, _ = m.label(provider, "")
	m.mu.Lock()
	m.attempts[[2]string{provider, strconv.Itoa(status)}]++
	m.mu.Unlock()
}

func (m *metrics) pluginCall(action string) {
	m.mu.Lock()
	m.pluginCalls[action]++
	m.mu.Unlock()
}

func (m *metrics) pluginFailure(kind, policy string) {
	m.mu.Lock()
	m.pluginFails[[2]string{kind, policy}]++
	m.mu.Unlock()
}

func (m *metrics) authFailure() {
	m.mu.Lock()
	m.authFail++
	m.mu.Unlock()
}

func (m *metrics) render() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b bytes.Buffer
	b.WriteString("# HELP switchyard_requests_total Requests by endpoint, provider, catalog model and status.\n# TYPE switchyard_requests_total counter\n")
	for _, k := range sortedKeys(m.requests) {
		fmt.Fprintf(&b, "switchyard_requests_total{endpoint=%q,provider=%q,model=%q,status=%q} %d\n", k[0], k[1], k[2], k[3], m.requests[k])
	}
	b.WriteString("# HELP switchyard_tokens_total Tokens by provider, catalog model and kind.\n# TYPE switchyard_tokens_total counter\n")
	for _, k := range sortedKeys(m.tokenSum) {
		fmt.Fprintf(&b, "switchyard_tokens_total{provider=%q,model=%q,kind=%q} %d\n", k[0], k[1], k[2], m.tokenSum[k])
	}
	b.WriteString("# HELP switchyard_upstream_failures_total Failed upstream attempts by provider and status.\n# TYPE switchyard_upstream_failures_total counter\n")
	for _, k := range sortedKeys(m.attempts) {
		fmt.Fprintf(&b, "switchyard_upstream_failures_total{provider=%q,status=%q} %d\n", k[0], k[1], m.attempts[k])
	}
	b.WriteString("# HELP switchyard_plugin_decisions_total Valid routing plugin decisions by action.\n# TYPE switchyard_plugin_decisions_total counter\n")
	for _, k := range slices.Sorted(maps.Keys(m.pluginCalls)) {
		fmt.Fprintf(&b, "switchyard_plugin_decisions_total{action=%q} %d\n", k, m.pluginCalls[k])
	}
	b.WriteString("# HELP switchyard_plugin_failures_total Routing plugin failures by kind and the fail policy applied.\n# TYPE switchyard_plugin_failures_total counter\n")
	for _, k := range sortedKeys(m.pluginFails) {
		fmt.Fprintf(&b, "switchyard_plugin_failures_total{kind=%q,policy=%q} %d\n", k[0], k[1], m.pluginFails[k])
	}
	fmt.Fprintf(&b, "# HELP switchyard_auth_failures_total Requests refused for a missing or invalid key.\n# TYPE switchyard_auth_failures_total counter\nswitchyard_auth_failures_total %d\n", m.authFail)
	return b.Bytes()
}

func sortedKeys[K [2]string | [3]string | [4]string](m map[K]int64) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	return keys
}
