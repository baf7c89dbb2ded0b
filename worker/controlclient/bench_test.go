package controlclient_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/controlclient"
	"github.com/switchyard-ai/switchyard/worker/edgefast"
)

// BenchmarkResolveCached is the per-request cost of the key cache: a hash,
// a read lock and a map lookup.
func BenchmarkResolveCached(b *testing.B) {
	ctl := edgetest.StartControl(b)
	_, _, secret := tenantWithKey(b, ctl)
	r := controlclient.NewResolver(ctl.Conn(edgefast.NewClient()), controlclient.ResolverOptions{})
	ctx := context.Background()
	if _, err := r.Resolve(ctx, secret); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Resolve(ctx, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := r.Resolve(ctx, secret); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkResolveUncached is a cache miss: one lookup at the real control
// service over loopback HTTP (the native edge's fasthttp client), which
// reads the key, its account and the month's spend from the database file.
func BenchmarkResolveUncached(b *testing.B) {
	ctl := edgetest.StartControl(b)
	_, _, secret := tenantWithKey(b, ctl)
	clock := controltest.NewClock(time.Now())
	r := controlclient.NewResolver(ctl.Conn(edgefast.NewClient()), controlclient.ResolverOptions{Now: clock.Now})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		clock.Advance(time.Minute) // past the TTL: every lookup goes to control
		if _, err := r.Resolve(ctx, secret); err != nil {
			b.Fatal(err)
		}
	}
	if n := ctl.KeyLookups(); n < int64(b.N) {
		b.Fatalf("%d lookups for %d resolves", n, b.N)
	}
}

// BenchmarkEdgeRequest measures a whole non-streamed chat call through the
// native edge (fasthttp) to the emulator, in three set-ups: keys from the
// key file; keys from control through the cached Resolver; and that plus
// usage shipped to control by the Sink (beside the harness's in-memory copy
// of each record). The first two discard usage. Control runs in the same
// process, so in the third its ingestion of the usage batches (an fsync
// each) shares the CPUs with the edge.
func BenchmarkEdgeRequest(b *testing.B) {
	discardUsage := func(c *worker.Config) { c.Usage = nil }
	for _, mode := range []struct {
		name string
		opts edgetest.Options
	}{
		{"keyfile", edgetest.Options{Native: true, Modify: discardUsage}},
		{"control-keys", edgetest.Options{Native: true, Control: true, Modify: discardUsage}},
		{"control-keys+usage", edgetest.Options{Native: true, Control: true}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			env := edgetest.Start(b, mode.opts)
			env.Emulator.SetRecording(false)
			secret := edgetest.Key
			if env.Control != nil {
				tn := env.Control.Signup(b, "bench@example.com")
				tn.Grant(b, 1_000_000_000)
				_, secret = tn.CreateKey(b, control.KeyCreate{Name: "bench"})
			}
			body := []byte(`{"model":"openai/gpt-4o-mini","max_tokens":64,"messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"` +
				strings.Repeat("lorem ipsum ", 80) + `"}]}`)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			call := func() {
				req, _ := http.NewRequest(http.MethodPost, env.BaseURL+"/v1/chat/completions", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+secret)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			for range 200 {
				call()
			}
			lat := make([]time.Duration, 0, 1<<16)
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				call()
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			if env.Control != nil {
				b.StopTimer()
				waitFor(b, "usage to drain", func() bool { return env.Sink.Pending() == 0 })
			}
		})
	}
}

// BenchmarkSinkRecordFull is Record's cost on the request path at its
// worst: memory is full and there is no spill file (workerd during a
// control outage), so every call drops the oldest record.
func BenchmarkSinkRecordFull(b *testing.B) {
	s := controlclient.NewSink(controlclient.NewConn("http://control.invalid", "token", edgefast.NewClient()),
		controlclient.SinkOptions{MaxBuffered: 100_000, Logger: quiet})
	rec := usageRecords(control.APIKey{ID: "key_bench", AccountID: "acct_bench"}, "full", 1)[0]
	for range 100_000 {
		s.Record(&rec)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Record(&rec)
	}
	if s.Pending() != 100_000 {
		b.Fatalf("Pending() = %d", s.Pending())
	}
}
