package control_test

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

func TestIngest(t *testing.T) {
	e := newEnv(t)
	a := mustAccount(t, e.svc, "a@example.com", 10_000_000)
	b := mustAccount(t, e.svc, "b@example.com", 10_000_000)
	ka, _ := e.key(t, a, control.KeyCreate{})
	kb, _ := e.key(t, b, control.KeyCreate{})
	now := e.clock.Now()

	failed := usageRecord("req_failed", ka, now)
	failed.Status, failed.ErrorType, failed.InputTokens, failed.CachedInputTokens, failed.OutputTokens = 502, "upstream_error", 0, 0, 0
	unpriced := usageRecord("req_unpriced", kb, now)
	unpriced.Model, unpriced.ServedModel, unpriced.EdgeCostMicros = "retired/model", "retired/model", 777
	fallback := usageRecord("req_fallback", ka, now)
	fallback.Model, fallback.ServedModel = "anthropic/claude-haiku-4-5", "openai/gpt-4o-mini"
	requestedOnly := usageRecord("req_requested_only", kb, now)
	requestedOnly.ServedModel = ""
	bad := usageRecord("req_bad", ka, now)
	bad.OutputTokens = -3
	stranger := usageRecord("req_stranger", ka, now)
	stranger.AccountID = b.ID
	ghost := usageRecord("req_ghost", ka, now)
	ghost.KeyID = "key_ghost"

	batch := []edgeapi.UsageRecord{
		usageRecord("req_a1", ka, now), // 0
		usageRecord("req_b1", kb, now), // 1
		bad,                            // 2
		failed,                         // 3
		usageRecord("req_a1", ka, now), // 4: repeats 0 within the batch
		unpriced,                       // 5
		stranger,                       // 6
		fallback,                       // 7
		ghost,                          // 8
		requestedOnly,                  // 9
	}
	res := ingest(t, e, batch...)
	want := &edgeapi.UsageResult{Accepted: 6, Duplicates: 1, Rejected: []edgeapi.Rejection{
		{Index: 2, RequestID: "req_bad", Reason: "output_tokens is out of range"},
		{Index: 6, RequestID: "req_stranger", Reason: "key_id belongs to another account"},
		{Index: 8, RequestID: "req_ghost", Reason: "key_id is unknown"},
	}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("result = %+v\nwant     %+v", res, want)
	}

	// gpt-4o-mini, 800 input, 200 cached, 300 output: 315 micro-dollars.
	costs := map[string]struct {
		account  string
		cost     int64
		pricedBy string
	}{
		"req_a1":             {a.ID, 315, control.PricedByCatalog},
		"req_b1":             {b.ID, 315, control.PricedByCatalog},
		"req_failed":         {a.ID, 0, control.PricedByCatalog},
		"req_unpriced":       {b.ID, 777, control.PricedByEdge},
		"req_fallback":       {a.ID, 315, control.PricedByCatalog},
		"req_requested_only": {b.ID, 315, control.PricedByCatalog},
	}
	for id, c := range costs {
		r, err := e.svc.UsageRecord(e.ctx, c.account, id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if r.CostMicros != c.cost || r.PricedBy != c.pricedBy {
			t.Errorf("%s: cost %d by %s, want %d by %s", id, r.CostMicros, r.PricedBy, c.cost, c.pricedBy)
		}
	}
	for _, id := range []string{"req_bad", "req_stranger", "req_ghost"} {
		for _, acct := range []string{a.ID, b.ID} {
			_, err := e.svc.UsageRecord(e.ctx, acct, id)
			wantCode(t, err, control.ENOTFOUND)
		}
	}
	checkBalance(t, e, a.ID, 10_000_000-630)
	checkBalance(t, e, b.ID, 10_000_000-315-777-315)
	books := controltest.Audit(t, e.path)

	t.Run("replayed batch changes nothing", func(t *testing.T) {
		res := ingest(t, e, batch...)
		want := &edgeapi.UsageResult{Accepted: 0, Duplicates: 7, Rejected: want.Rejected}
		if !reflect.DeepEqual(res, want) {
			t.Fatalf("result = %+v\nwant     %+v", res, want)
		}
		if again := controltest.Audit(t, e.path); !reflect.DeepEqual(again, books) {
			t.Fatalf("books moved: %+v -> %+v", books, again)
		}
		entries, _ := e.svc.Ledger(e.ctx, a.ID, 0)
		if len(entries) != 2 {
			t.Fatalf("account a has %d ledger entries, want grant + one usage", len(entries))
		}
	})
	t.Run("overlapping batch charges only what is new", func(t *testing.T) {
		res := ingest(t, e, usageRecord("req_a1", ka, now), usageRecord("req_a2", ka, now))
		if res.Accepted != 1 || res.Duplicates != 1 || len(res.Rejected) != 0 {
			t.Fatalf("result = %+v", res)
		}
		checkBalance(t, e, a.ID, 10_000_000-945)
		controltest.Audit(t, e.path)
	})
	t.Run("bad edge id refuses the batch", func(t *testing.T) {
		_, err := e.svc.IngestUsage(e.ctx, "edge with spaces", batch)
		wantCode(t, err, control.EINVALID)
	})
}

func TestUsageRecordLookup(t *testing.T) {
	e := newEnv(t)
	a := mustAccount(t, e.svc, "a@example.com", 1_000_000)
	k, _ := e.key(t, a, control.KeyCreate{})
	r := usageRecord("req_lookup", k, e.clock.Now().Add(-2*time.Second))
	r.Provider, r.Stream, r.ReasoningTokens, r.CacheWriteTokens, r.Estimated = "openai", true, 120, 10, true
	r.Tags = map[string]string{"team": "search", "env": "prod"}
	r.EdgeCostMicros = 318
	ingest(t, e, r)
	got, err := e.svc.UsageRecord(e.ctx, a.ID, "req_lookup")
	if err != nil {
		t.Fatal(err)
	}
	want := control.UsageRecord{UsageRecord: r, CostMicros: 317, PricedBy: control.PricedByCatalog, EdgeID: "edge-test",
		IngestID: got.IngestID, ReceivedAt: e.clock.Now()}
	want.StartedAt = r.StartedAt.UTC()
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("record = %+v\nwant     %+v", *got, want)
	}
	other := mustAccount(t, e.svc, "b@example.com", 0)
	_, err = e.svc.UsageRecord(e.ctx, other.ID, "req_lookup")
	wantCode(t, err, control.ENOTFOUND)
}

func TestUsageAggregates(t *testing.T) {
	e := newEnv(t)
	a := mustAccount(t, e.svc, "a@example.com", 100_000_000)
	b := mustAccount(t, e.svc, "b@example.com", 100_000_000)
	k1, _ := e.key(t, a, control.KeyCreate{Name: "one"})
	k2, _ := e.key(t, a, control.KeyCreate{Name: "two"})
	kb, _ := e.key(t, b, control.KeyCreate{})
	midnight := time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC)
	e.clock.Set(midnight.Add(30 * time.Minute))
	rec := func(id string, k *control.APIKey, at time.Time, model string, cost int64) edgeapi.UsageRecord {
		r := withCost(usageRecord(id, k, at), cost)
		r.Model = model
		return r
	}
	ingest(t, e,
		rec("r1", k1, midnight.Add(-36*time.Hour), "m/a", 1),        // 03-14 12:00, out of range
		rec("r2", k1, midnight.Add(-time.Millisecond), "m/a", 10),   // 03-15 23:59:59.999
		rec("r3", k1, midnight, "m/b", 100),                         // 03-16 00:00 exactly
		rec("r4", k2, midnight.Add(20*time.Minute), "m/a", 1000),    // 03-16 00:20
		rec("r5", kb, midnight.Add(10*time.Minute), "m/a", 100_000), // another account
	)
	// withCost bills OneDollarModel as served; group by the requested
	// model by serving nothing else.
	day := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
	agg := func(group string, n, cost int64) control.UsageAggregate {
		return control.UsageAggregate{Group: group, Requests: n, InputTokens: cost, CostMicros: cost}
	}
	tests := []struct {
		name string
		q    control.UsageQuery
		want []control.UsageAggregate
		code string
	}{
		{"by day across midnight", control.UsageQuery{From: day("2026-03-15"), To: day("2026-03-17")},
			[]control.UsageAggregate{agg("2026-03-15", 1, 10), agg("2026-03-16", 2, 1100)}, ""},
		{"to is exclusive", control.UsageQuery{From: day("2026-03-15"), To: midnight},
			[]control.UsageAggregate{agg("2026-03-15", 1, 10)}, ""},
		{"from is inclusive", control.UsageQuery{From: midnight, To: day("2026-03-17")},
			[]control.UsageAggregate{agg("2026-03-16", 2, 1100)}, ""},
		{"default range is the last 30 days", control.UsageQuery{},
			[]control.UsageAggregate{agg("2026-03-14", 1, 1), agg("2026-03-15", 1, 10), agg("2026-03-16", 2, 1100)}, ""},
		{"by served model", control.UsageQuery{From: day("2026-03-01"), GroupBy: control.GroupByModel},
			[]control.UsageAggregate{agg(controltest.OneDollarModel, 4, 1111)}, ""},
		{"by key", control.UsageQuery{From: day("2026-03-01"), GroupBy: control.GroupByKey},
			sortAggs(agg(k1.ID, 3, 111), agg(k2.ID, 1, 1000)), ""},
		{"empty range", control.UsageQuery{From: day("2026-01-01"), To: day("2026-01-02")}, []control.UsageAggregate{}, ""},
		{"backwards", control.UsageQuery{From: day("2026-03-17"), To: day("2026-03-15")}, nil, control.EINVALID},
		{"too long", control.UsageQuery{From: day("2024-01-01"), To: day("2026-01-01")}, nil, control.EINVALID},
		{"unknown grouping", control.UsageQuery{GroupBy: "provider"}, nil, control.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.AccountID = a.ID
			rep, err := e.svc.Usage(e.ctx, tt.q)
			wantCode(t, err, tt.code)
			if err != nil {
				return
			}
			if !reflect.DeepEqual(rep.Data, tt.want) {
				t.Fatalf("rows = %+v\nwant   %+v", rep.Data, tt.want)
			}
			var total int64
			for _, r := range tt.want {
				total += r.CostMicros
			}
			if rep.Total.CostMicros != total {
				t.Fatalf("total = %d, want %d", rep.Total.CostMicros, total)
			}
		})
	}
	t.Run("operators see every account", func(t *testing.T) {
		rep, err := e.svc.Usage(e.ctx, control.UsageQuery{From: midnight, To: midnight.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Total.Requests != 3 || rep.Total.CostMicros != 101_100 {
			t.Fatalf("total = %+v", rep.Total)
		}
	})
}

func sortAggs(aggs ...control.UsageAggregate) []control.UsageAggregate {
	for i := range aggs {
		for j := i + 1; j < len(aggs); j++ {
			if aggs[j].Group < aggs[i].Group {
				aggs[i], aggs[j] = aggs[j], aggs[i]
			}
		}
	}
	return aggs
}

// TestConcurrentDebits debits one account from many goroutines through two
// stores (as two replicas would) on one database file, mixing manual
// adjustments and usage ingestion. No update may be lost.
func TestConcurrentDebits(t *testing.T) {
	e := newEnv(t)
	a := mustAccount(t, e.svc, "a@example.com", 1_000_000_000)
	k, _ := e.key(t, a, control.KeyCreate{})
	second := controltest.NewService(t, controltest.OpenStore(t, e.path), e.clock)
	services := []*control.Service{e.svc, second}

	const workers, rounds = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			svc := services[w%2]
			for i := 0; i < rounds; i++ {
				if i%2 == 0 {
					if _, err := svc.GrantCredits(e.ctx, a.ID, -1_000, "debit", ""); err != nil {
						errs <- err
					}
					continue
				}
				r := withCost(usageRecord(fmt.Sprintf("req_%d_%d", w, i), k, e.clock.Now()), 10_000)
				if _, err := svc.IngestUsage(e.ctx, "edge", []edgeapi.UsageRecord{r}); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	adjustments, usages := workers*((rounds+1)/2), workers*(rounds/2)
	checkBalance(t, e, a.ID, 1_000_000_000-int64(adjustments)*1_000-int64(usages)*10_000)
	if books := controltest.Audit(t, e.path); books.UsageRows != int64(usages) {
		t.Fatalf("%d usage rows, want %d", books.UsageRows, usages)
	}
}

// TestCatalogEditReachesReplicas checks that a price change made through
// one replica prices the next batch ingested through another.
func TestCatalogEditReachesReplicas(t *testing.T) {
	e := newEnv(t)
	a := mustAccount(t, e.svc, "a@example.com", 1_000_000_000)
	k, _ := e.key(t, a, control.KeyCreate{})
	operator := controltest.NewService(t, controltest.OpenStore(t, e.path), e.clock)
	r := usageRecord("req_before", k, e.clock.Now())
	r.InputTokens, r.CachedInputTokens, r.OutputTokens = 1_000_000, 0, 0
	ingest(t, e, r)
	if _, err := operator.PutModel(e.ctx, control.Model{ID: "openai/gpt-4o-mini", InputPrice: 450_000, OutputPrice: 600_000}); err != nil {
		t.Fatal(err)
	}
	r.RequestID = "req_after"
	ingest(t, e, r)
	for id, want := range map[string]int64{"req_before": 150_000, "req_after": 450_000} {
		got, err := e.svc.UsageRecord(e.ctx, a.ID, id)
		if err != nil || got.CostMicros != want {
			t.Fatalf("%s: cost %v (%v), want %d", id, got, err, want)
		}
	}
}
