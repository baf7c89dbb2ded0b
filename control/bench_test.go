package control_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

// BenchmarkIngest measures usage ingestion into a database file, in
// batches of 500 records spread over 10 accounts, through the Service (the
// same path the edge API takes, minus JSON).
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	clock := controltest.NewClock(controltest.Epoch)
	svc := controltest.NewService(b, controltest.OpenStore(b, controltest.DBPath(b)), clock)
	keys := make([]*control.APIKey, 10)
	for i := range keys {
		a := mustAccount(b, svc, fmt.Sprintf("bench%d@example.com", i), 1_000_000_000)
		k, _, err := svc.CreateKey(ctx, a.ID, control.KeyCreate{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = k
	}
	const batch = 500
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; n++ {
		recs := make([]edgeapi.UsageRecord, batch)
		for i := range recs {
			k := keys[i%len(keys)]
			recs[i] = usageRecord(fmt.Sprintf("req_b%d_%d", n, i), k, clock.Now().Add(-time.Minute))
		}
		res, err := svc.IngestUsage(ctx, "bench", recs)
		if err != nil {
			b.Fatal(err)
		}
		if res.Accepted != batch {
			b.Fatalf("accepted %d of %d: %+v", res.Accepted, batch, res.Rejected)
		}
	}
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkKeySnapshot measures the edge's key lookup through the Service:
// one indexed read joining key, account, plugin and monthly spend.
func BenchmarkKeySnapshot(b *testing.B) {
	ctx := context.Background()
	clock := controltest.NewClock(controltest.Epoch)
	svc := controltest.NewService(b, controltest.OpenStore(b, controltest.DBPath(b)), clock)
	var hashes []string
	for i := 0; i < 100; i++ {
		a := mustAccount(b, svc, fmt.Sprintf("snap%d@example.com", i), 5_000_000)
		_, secret, err := svc.CreateKey(ctx, a.ID, control.KeyCreate{Name: "k"})
		if err != nil {
			b.Fatal(err)
		}
		hashes = append(hashes, control.HashSecret(secret))
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := svc.KeySnapshot(ctx, hashes[i%len(hashes)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
