package httpapi

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

// metrics counts what the API serves, for GET /metrics in Prometheus' text
// format. Its only labels are the router's own patterns (so a path with an
// id in it is counted under its pattern, never under the id) and status
// codes: nothing a client sent, no account and no key becomes a label.
type metrics struct {
	mu       sync.Mutex
	requests map[routeCode]int64
	seconds  map[string]float64 // by route

	usageBatches  atomic.Int64
	usageAccepted atomic.Int64
	usageDup      atomic.Int64
	usageRejected atomic.Int64
}

type routeCode struct {
	route string
	code  int
}

func newMetrics() *metrics {
	return &metrics{requests: map[routeCode]int64{}, seconds: map[string]float64{}}
}

// observe counts one answered request.
func (m *metrics) observe(route string, code int, took time.Duration) {
	m.mu.Lock()
	m.requests[routeCode{route, code}]++
	m.seconds[route] += took.Seconds()
	m.mu.Unlock()
}

// ingested counts one usage batch's outcome.
func (m *metrics) ingested(accepted, duplicates, rejected int) {
	m.usageBatches.Add(1)
	m.usageAccepted.Add(int64(accepted))
	m.usageDup.Add(int64(duplicates))
	m.usageRejected.Add(int64(rejected))
}

func (m *metrics) render(databaseUp bool) []byte {
	var b bytes.Buffer
	m.mu.Lock()
	keys := slices.SortedFunc(maps.Keys(m.requests), func(a, b routeCode) int {
		if a.route != b.route {
			return cmp.Compare(a.route, b.route)
		}
		return a.code - b.code
	})
	b.WriteString("# HELP switchyard_control_requests_total Requests answered, by route pattern and status code.\n" +
		"# TYPE switchyard_control_requests_total counter\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "switchyard_control_requests_total{route=%q,code=\"%d\"} %d\n", k.route, k.code, m.requests[k])
	}
	counts := map[string]int64{}
	for k, n := range m.requests {
		counts[k.route] += n
	}
	b.WriteString("# HELP switchyard_control_request_seconds Time to answer, by route pattern.\n" +
		"# TYPE switchyard_control_request_seconds summary\n")
	for _, route := range slices.Sorted(maps.Keys(m.seconds)) {
		fmt.Fprintf(&b, "switchyard_control_request_seconds_sum{route=%q} %s\n", route,
			strconv.FormatFloat(m.seconds[route], 'g', -1, 64))
		fmt.Fprintf(&b, "switchyard_control_request_seconds_count{route=%q} %d\n", route, counts[route])
	}
	m.mu.Unlock()
	fmt.Fprintf(&b, "# HELP switchyard_control_usage_batches_total Usage batches ingested from edges.\n"+
		"# TYPE switchyard_control_usage_batches_total counter\nswitchyard_control_usage_batches_total %d\n", m.usageBatches.Load())
	b.WriteString("# HELP switchyard_control_usage_records_total Usage records from edges, by outcome.\n" +
		"# TYPE switchyard_control_usage_records_total counter\n")
	for _, o := range []struct {
		name string
		n    int64
	}{{"accepted", m.usageAccepted.Load()}, {"duplicate", m.usageDup.Load()}, {"rejected", m.usageRejected.Load()}} {
		fmt.Fprintf(&b, "switchyard_control_usage_records_total{outcome=%q} %d\n", o.name, o.n)
	}
	up := 0
	if databaseUp {
		up = 1
	}
	fmt.Fprintf(&b, "# HELP switchyard_control_database_up Whether the database answered a ping for this scrape.\n"+
		"# TYPE switchyard_control_database_up gauge\nswitchyard_control_database_up %d\n", up)
	return b.Bytes()
}

// serveMetrics answers GET /metrics for a caller with the metrics token.
// Without a configured token the route does not exist.
func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if h.metricsHash == nil {
		h.error(w, r, &httpError{http.StatusNotFound, control.ENOTFOUND, "no route for this method and path"})
		return
	}
	tok, ok := bearer(r)
	sum := sha256.Sum256([]byte(tok))
	if !ok || subtle.ConstantTimeCompare(sum[:], h.metricsHash[:]) != 1 {
		h.error(w, r, &httpError{http.StatusUnauthorized, control.EUNAUTHORIZED, "invalid metrics token"})
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	w.Write(h.metrics.render(h.svc.Ping(r.Context()) == nil))
}
