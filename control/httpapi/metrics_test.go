package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/httpapi"
)

const metricsToken = "metrics-token-for-tests"

// TestMetrics: /metrics answers only with its token, counts requests under
// their route pattern (never a path's id) with their status, and counts
// usage records by outcome.
func TestMetrics(t *testing.T) {
	s := newServer(t, "", nil)
	anon := s.client(t)
	anon.must(http.StatusUnauthorized, "GET", "/metrics", nil)
	anon.must(http.StatusUnauthorized, "GET", "/metrics", nil, "Authorization", "Bearer "+edgeToken)

	browser, _ := signup(t, s, "metrics@example.com")
	k := createKey(t, browser, map[string]any{"name": "k"})
	browser.must(http.StatusOK, "GET", "/api/v1/keys/"+k.Key.ID, nil)
	browser.must(http.StatusNotFound, "GET", "/api/v1/keys/key_not_mine", nil)
	browser.must(http.StatusNotFound, "GET", "/no/such/path", nil)
	body := fmt.Sprintf(`{"edge_id":"edge-m","records":[%s,%s,"oops"]}`, mustJSON(t, record("req_m1", k.Key, s.clock.Now())),
		mustJSON(t, record("req_m1", k.Key, s.clock.Now())))
	s.edge(t).must(http.StatusOK, "POST", "/edge/v1/usage", body)

	text := string(anon.must(http.StatusOK, "GET", "/metrics", nil, "Authorization", "Bearer "+metricsToken).body)
	for _, want := range []string{
		`switchyard_control_requests_total{route="GET /api/v1/keys/{id}",code="200"} 1`,
		`switchyard_control_requests_total{route="GET /api/v1/keys/{id}",code="404"} 1`,
		`switchyard_control_requests_total{route="unrouted",code="404"} 1`,
		`switchyard_control_requests_total{route="GET /metrics",code="401"} 2`,
		`switchyard_control_requests_total{route="POST /edge/v1/usage",code="200"} 1`,
		`switchyard_control_request_seconds_count{route="POST /edge/v1/usage"} 1`,
		`switchyard_control_usage_batches_total 1`,
		`switchyard_control_usage_records_total{outcome="accepted"} 1`,
		`switchyard_control_usage_records_total{outcome="duplicate"} 1`,
		`switchyard_control_usage_records_total{outcome="rejected"} 1`,
		`switchyard_control_database_up 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
	for _, leak := range []string{k.Key.ID, "key_not_mine", "/no/such/path", "metrics@example.com", "req_m1", "edge-m"} {
		if strings.Contains(text, leak) {
			t.Errorf("metrics contain %q", leak)
		}
	}

	// Without a token configured, the route does not exist.
	off := httptest.NewServer(httpapi.New(controltest.NewService(t, controltest.OpenStore(t, controltest.DBPath(t)),
		controltest.NewClock(controltest.Epoch)), httpapi.Config{}))
	t.Cleanup(off.Close)
	resp, err := http.Get(off.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics without a configured token: %d, want 404", resp.StatusCode)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
