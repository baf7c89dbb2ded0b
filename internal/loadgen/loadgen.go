// Package loadgen measures an HTTP endpoint's latency and throughput at a
// fixed concurrency. It drives requests with fasthttp's client, whose cost
// per request is small next to the servers it measures, so that on a shared
// machine the generator is not what limits the numbers.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Request is the request every worker of a phase sends.
type Request struct {
	Method string // default POST
	URL    string
	Header [][2]string
	Body   []byte
	// Stream reads the body as it arrives and records the time to its first
	// byte; otherwise the client reads the whole body before timing stops.
	Stream bool
}

// Phase bounds one measurement.
type Phase struct {
	// Concurrency is the number of requests in flight. Default 1.
	Concurrency int
	// Warmup requests are sent first and not measured. Default none.
	Warmup int
	// Requests and Duration end the measured part, whichever comes first;
	// at least one must be set. They apply to each request of a Run.
	Requests int
	Duration time.Duration
	// Rounds splits the measured part: a Run of several requests takes
	// turns between them, round by round, so that a machine whose speed
	// drifts during the phase treats all of them alike. Default 1.
	Rounds int
}

// Result is what a Run measured for one request.
type Result struct {
	Requests int // completed with status 200
	Errors   int // transport errors and other statuses
	// FirstError describes the first failure, for diagnosis.
	FirstError string
	Elapsed    time.Duration
	Latency    Summary // whole request, including reading the body
	TTFB       Summary // time to the first body byte; streams only
}

// RPS is the rate of successful requests.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Summary holds percentiles over exact samples: phases are bounded, so
// keeping every sample costs little and needs no histogram error bounds.
type Summary struct {
	P50, P90, P99, Max, Mean time.Duration
}

func summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	slices.Sort(samples)
	// Nearest rank: the smallest sample with at least q of all at or below it.
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(samples)))) - 1
		return samples[min(max(i, 0), len(samples)-1)]
	}
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	return Summary{
		P50: rank(0.50), P90: rank(0.90), P99: rank(0.99),
		Max: samples[len(samples)-1], Mean: sum / time.Duration(len(samples)),
	}
}

// NewClient returns a client with a connection for every worker.
func NewClient(concurrency int) *fasthttp.Client {
	return &fasthttp.Client{
		MaxConnsPerHost:          max(concurrency, 1) * 2,
		MaxConnWaitTimeout:       10 * time.Second,
		ReadTimeout:              30 * time.Second,
		WriteTimeout:             30 * time.Second,
		NoDefaultUserAgentHeader: true,
		ReadBufferSize:           16 << 10,
	}
}

// Run measures each of reqs under p with client c, taking turns between
// them, and returns their results in the same order.
func Run(ctx context.Context, c *fasthttp.Client, p Phase, reqs ...Request) ([]Result, error) {
	if p.Requests <= 0 && p.Duration <= 0 {
		return nil, errors.New("loadgen: a phase needs Requests or Duration")
	}
	conc, rounds := max(p.Concurrency, 1), max(p.Rounds, 1)
	for _, req := range reqs {
		if p.Warmup > 0 {
			if _, err := run(ctx, c, req, conc, p.Warmup, 0); err != nil {
				return nil, err
			}
		}
	}
	all := make([]samples, len(reqs))
	for r := range rounds {
		// The last round takes what division left over.
		n := p.Requests / rounds
		if r == rounds-1 {
			n = p.Requests - n*(rounds-1)
		}
		for i, req := range reqs {
			got, err := run(ctx, c, req, conc, n, p.Duration/time.Duration(rounds))
			if err != nil {
				return nil, err
			}
			all[i].add(got)
		}
	}
	out := make([]Result, len(reqs))
	for i := range all {
		out[i] = all[i].result()
		if out[i].Requests == 0 {
			return nil, fmt.Errorf("loadgen: no request to %s succeeded: %s", reqs[i].URL, out[i].FirstError)
		}
	}
	return out, nil
}

// samples is what part of a phase recorded.
type samples struct {
	latency, ttfb []time.Duration
	errors        int
	firstErr      error
	elapsed       time.Duration
}

func (s *samples) add(o samples) {
	s.latency = append(s.latency, o.latency...)
	s.ttfb = append(s.ttfb, o.ttfb...)
	s.errors += o.errors
	if s.firstErr == nil {
		s.firstErr = o.firstErr
	}
	s.elapsed += o.elapsed
}

func (s *samples) result() Result {
	r := Result{Requests: len(s.latency), Errors: s.errors, Elapsed: s.elapsed,
		Latency: summarize(s.latency), TTFB: summarize(s.ttfb)}
	if s.firstErr != nil {
		r.FirstError = s.firstErr.Error()
	}
	return r
}

// run sends req from conc workers until requests are done or d passes
// (zero bounds neither). Each worker records on its own and they merge at the
// end, so that recording a sample takes no lock. The error is parent's.
func run(parent context.Context, c *fasthttp.Client, req Request, conc, requests int, d time.Duration) (samples, error) {
	ctx := parent
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(parent, d)
		defer cancel()
	}
	var issued atomic.Int64
	claim := func() bool {
		if ctx.Err() != nil {
			return false
		}
		return requests <= 0 || issued.Add(1) <= int64(requests)
	}
	workers := make([]samples, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		w := &workers[i]
		wg.Go(func() { w.loop(c, req, claim) })
	}
	wg.Wait()
	total := samples{elapsed: time.Since(start)}
	for _, w := range workers {
		total.add(w)
	}
	return total, parent.Err()
}

func (s *samples) loop(c *fasthttp.Client, r Request, claim func() bool) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI(r.URL)
	method := r.Method
	if method == "" {
		method = fasthttp.MethodPost
	}
	req.Header.SetMethod(method)
	for _, kv := range r.Header {
		req.Header.Set(kv[0], kv[1])
	}
	req.SetBodyRaw(r.Body)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	for claim() {
		lat, ttfb, err := once(c, req, resp, r.Stream)
		if err != nil {
			s.errors++
			if s.firstErr == nil {
				s.firstErr = err
			}
			continue
		}
		s.latency = append(s.latency, lat)
		if r.Stream {
			s.ttfb = append(s.ttfb, ttfb)
		}
	}
}

func once(c *fasthttp.Client, req *fasthttp.Request, resp *fasthttp.Response, stream bool) (lat, ttfb time.Duration, err error) {
	resp.StreamBody = stream
	start := time.Now()
	if err := c.Do(req, resp); err != nil {
		return 0, 0, err
	}
	if stream {
		var first [1]byte
		body := resp.BodyStream()
		_, err := io.ReadFull(body, first[:])
		ttfb = time.Since(start)
		if err == nil {
			_, err = io.Copy(io.Discard, body)
		}
		if cerr := resp.CloseBodyStream(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, 0, err
		}
	}
	lat = time.Since(start)
	if resp.StatusCode() != fasthttp.StatusOK {
		return 0, 0, fmt.Errorf("status %d: %.200s", resp.StatusCode(), resp.Body())
	}
	return lat, ttfb, nil
}
