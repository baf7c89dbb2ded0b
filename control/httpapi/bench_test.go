package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

// BenchmarkIngestHTTP measures POST /edge/v1/usage end to end in-process:
// JSON decoding, validation, pricing and the database file, in batches of
// 500 records over 10 accounts.
func BenchmarkIngestHTTP(b *testing.B) {
	s := newServer(b, "", nil)
	var keys []control.APIKey
	for i := 0; i < 10; i++ {
		c, _ := signup(b, s, fmt.Sprintf("bench%d@example.com", i))
		keys = append(keys, createKey(b, c, map[string]any{"name": "k"}).Key)
	}
	const batch = 500
	bodies := make([][]byte, b.N)
	for n := range bodies {
		recs := make([]edgeapi.UsageRecord, batch)
		for i := range recs {
			recs[i] = record(fmt.Sprintf("req_%d_%d", n, i), keys[i%len(keys)], s.clock.Now().Add(-time.Minute))
		}
		bodies[n], _ = json.Marshal(edgeapi.UsageBatch{EdgeID: "bench", Records: recs})
	}
	h := s.Config.Handler
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; n++ {
		req := httptest.NewRequest("POST", "/edge/v1/usage", bytes.NewReader(bodies[n]))
		req.Header.Set("Authorization", "Bearer "+edgeToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkKeySnapshotHTTP measures GET /edge/v1/keys/{hash} over a real
// local connection, as an edge on a cache miss sees it.
func BenchmarkKeySnapshotHTTP(b *testing.B) {
	s := newServer(b, "", nil)
	c, _ := signup(b, s, "bench@example.com")
	path := "/edge/v1/keys/" + control.HashSecret(createKey(b, c, map[string]any{"name": "k"}).Secret)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", s.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+edgeToken)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			var snap edgeapi.KeySnapshot
			json.NewDecoder(resp.Body).Decode(&snap)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
