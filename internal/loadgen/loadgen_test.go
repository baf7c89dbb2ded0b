package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSummarizeUsesNearestRank(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	got := summarize(samples)
	want := Summary{P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond,
		Max: 100 * time.Millisecond, Mean: 50500 * time.Microsecond}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if (summarize(nil) != Summary{}) {
		t.Error("no samples should summarize to zero")
	}
}

func TestRunBoundsEachTargetAndCountsFailures(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen[r.URL.Path]++
		mu.Unlock()
		if r.URL.Path == "/flaky" && n.Add(1)%2 == 0 {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()

	p := Phase{Concurrency: 4, Warmup: 5, Requests: 30, Rounds: 3}
	res, err := Run(context.Background(), NewClient(4), p,
		Request{URL: srv.URL + "/steady", Body: []byte("{}")},
		Request{URL: srv.URL + "/flaky", Body: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Requests != 30 || res[0].Errors != 0 || res[0].RPS() <= 0 {
		t.Errorf("steady: %+v", res[0])
	}
	if res[1].Requests+res[1].Errors != 30 || res[1].Errors == 0 || !strings.Contains(res[1].FirstError, "503") {
		t.Errorf("flaky: %+v", res[1])
	}
	if seen["/steady"] != 35 || seen["/flaky"] != 35 {
		t.Errorf("server saw %v, want 35 of each (5 warm-up, 30 measured)", seen)
	}
}

func TestRunStopsAtDuration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond)
	}))
	defer srv.Close()
	start := time.Now()
	res, err := Run(context.Background(), NewClient(2), Phase{Concurrency: 2, Duration: 200 * time.Millisecond}, Request{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second || res[0].Requests == 0 {
		t.Errorf("took %v for %d requests; want about 200ms", took, res[0].Requests)
	}
}

func TestRunMeasuresTimeToFirstByte(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(30 * time.Millisecond)
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()
	res, err := Run(context.Background(), NewClient(1), Phase{Requests: 5}, Request{URL: srv.URL, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if r.TTFB.P50 <= 0 || r.Latency.P50-r.TTFB.P50 < 25*time.Millisecond {
		t.Errorf("TTFB %v, latency %v: the first byte should come 30ms before the end", r.TTFB.P50, r.Latency.P50)
	}
}
