package control_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

// TestDailyTotals follows the daily totals a usage page reads through
// everything that changes usage: ingestion with duplicates and records
// served under another model, retention expiring part of the records, the
// migration that fills the table from existing records, and an account's
// closure. After each, controltest.Audit checks usage_daily against the
// records and the page's breakdown is compared with what was sent.
func TestDailyTotals(t *testing.T) {
	e := newRetentionEnv(t)
	a := mustAccount(t, e.svc, "daily@example.com", 100_000_000)
	other := mustAccount(t, e.svc, "daily-other@example.com", 100_000_000)
	k1, _ := e.key(t, a, control.KeyCreate{Name: "one"})
	k2, _ := e.key(t, a, control.KeyCreate{Name: "two"})
	ko, _ := e.key(t, other, control.KeyCreate{Name: "other"})
	start := e.clock.Now().Truncate(24 * time.Hour)

	// Four days, three records a day over two keys, each day's sent at
	// its end; every fourth record names no served model, so it counts
	// under the requested one.
	for day := range 4 {
		var batch []edgeapi.UsageRecord
		for i := range 3 {
			k := k1
			if i == 2 {
				k = k2
			}
			r := usageRecord(fmt.Sprintf("req-daily-%d-%d", day, i), k, start.Add(time.Duration(day)*24*time.Hour+time.Duration(i)*time.Hour))
			if (day*3+i)%4 == 0 {
				r.ServedModel = ""
				r.Model = "openai/gpt-4o"
			}
			batch = append(batch, r)
		}
		if day == 3 {
			batch = append(batch, usageRecord("req-daily-other", ko, start.Add(3*24*time.Hour)))
		}
		e.clock.Set(start.Add(time.Duration(day)*24*time.Hour + 3*time.Hour))
		if res, err := e.svc.IngestUsage(e.ctx, "edge-1", batch); err != nil || res.Accepted != len(batch) {
			t.Fatalf("ingest: %+v, %v", res, err)
		}
		// The same batch again, as an edge retrying it would: all duplicates.
		if res, err := e.svc.IngestUsage(e.ctx, "edge-1", batch); err != nil || res.Duplicates != len(batch) {
			t.Fatalf("replay: %+v, %v", res, err)
		}
	}
	controltest.Audit(t, e.path)

	from, to := start, start.Add(5*24*time.Hour)
	breakdown := func(when string) *control.UsageBreakdown {
		t.Helper()
		b, err := e.svc.UsageBreakdown(e.ctx, a.ID, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if b.Total.Requests != 12 || len(b.ByDay) != 4 || len(b.ByKey) != 2 || len(b.ByModel) != 2 {
			t.Fatalf("%s: %d requests over %d days, %d keys, %d models; want 12 over 4, 2, 2",
				when, b.Total.Requests, len(b.ByDay), len(b.ByKey), len(b.ByModel))
		}
		for _, g := range b.ByModel {
			if want := map[string]int64{"openai/gpt-4o": 3, "openai/gpt-4o-mini": 9}[g.Group]; g.Requests != want {
				t.Errorf("%s: %s has %d requests, want %d", when, g.Group, g.Requests, want)
			}
		}
		return b
	}
	before := breakdown("ingested")
	// Narrowed to one model, one key, or both: only their usage counts,
	// while the choices still list everything in range.
	for _, f := range []struct {
		filter control.UsageFilter
		want   int64
	}{
		{control.UsageFilter{Model: "openai/gpt-4o"}, 3},
		{control.UsageFilter{KeyID: k2.ID}, 4},
		{control.UsageFilter{Model: "openai/gpt-4o-mini", KeyID: k1.ID}, 6},
		{control.UsageFilter{KeyID: ko.ID}, 0},
	} {
		b, err := e.svc.UsageBreakdownOf(e.ctx, a.ID, from, to, f.filter)
		if err != nil {
			t.Fatal(err)
		}
		var days int64
		for _, d := range b.ByDay {
			days += d.Requests
		}
		if b.Total.Requests != f.want || days != f.want || len(b.Models) != 2 || len(b.KeyIDs) != 2 {
			t.Errorf("%+v: %d requests (%d by day), choices %v %v; want %d", f.filter, b.Total.Requests, days,
				b.Models, b.KeyIDs, f.want)
		}
	}
	if rows := e.count(t, `SELECT count(*) FROM usage_daily WHERE account_id = ?`, a.ID); rows > 12 || rows < 8 {
		t.Errorf("%d daily rows for 4 days × 2 keys × at most 2 models", rows)
	}

	// Retention with the clock moved so that only the first two days'
	// batches have expired: their totals move to the rollups.
	e.clock.Set(start.Add(2*24*time.Hour - time.Hour).Add(control.DefaultUsageRetention))
	if _, err := e.svc.RunRetention(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM usage_records WHERE account_id = ?`, a.ID); n != 6 {
		t.Fatalf("%d records left after retention, want 6", n)
	}
	controltest.Audit(t, e.path)
	if after := breakdown("partly expired"); after.Total != before.Total {
		t.Errorf("totals changed by retention: %+v, then %+v", before.Total, after.Total)
	}
	// A report over whole days reads the daily totals; one shifted by a
	// millisecond, where no record lies, reads the records; both agree.
	for _, by := range []string{control.GroupByDay, control.GroupByModel, control.GroupByKey} {
		whole, err := e.svc.Usage(e.ctx, control.UsageQuery{AccountID: a.ID, From: from, To: to, GroupBy: by})
		if err != nil {
			t.Fatal(err)
		}
		shifted, err := e.svc.Usage(e.ctx, control.UsageQuery{AccountID: a.ID, From: from.Add(-time.Millisecond),
			To: to.Add(-time.Millisecond), GroupBy: by})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(whole.Data, shifted.Data) || whole.Total != shifted.Total || whole.Total.Requests != 12 {
			t.Errorf("by %s: whole days %+v, shifted %+v", by, whole.Data, shifted.Data)
		}
	}

	// The migration's backfill rebuilds the table from the records.
	migration, err := os.ReadFile(filepath.Join("libsql", "migrations", "0009_usage_daily.sql"))
	if err != nil {
		t.Fatal(err)
	}
	backfill := string(migration[strings.Index(string(migration), "INSERT INTO usage_daily"):])
	backfill = backfill[:strings.Index(backfill, ";")+1]
	e.exec(t, `DELETE FROM usage_daily`)
	e.exec(t, backfill)
	controltest.Audit(t, e.path)
	breakdown("backfilled")

	// A record written by other code than this release's (a replica on
	// the previous release during a rolling upgrade, an operator's SQL) is
	// counted too: the table is kept by triggers.
	e.exec(t, `INSERT INTO usage_records (request_id, account_id, key_id, started_at, endpoint, model, served_model,
			provider, stream, status, error_type, finish_reason, input_tokens, cached_input_tokens, cache_write_tokens,
			output_tokens, reasoning_tokens, estimated, latency_ms, ttfb_ms, attempts, edge_cost_micros, cost_micros,
			priced_by, edge_id, ingest_id, received_at)
		VALUES ('req-daily-raw', ?, ?, ?, 'chat.completions', 'openai/gpt-4o', '', 'openai', 0, 200, '', 'stop',
			10, 0, 0, 5, 0, 0, 100, 50, 1, 0, 0, 'edge', 'edge-old', 'ing-old', ?)`,
		a.ID, k1.ID, start.Add(3*24*time.Hour).UnixMilli(), e.clock.Now().UnixMilli())
	controltest.Audit(t, e.path)
	if b, err := e.svc.UsageBreakdown(e.ctx, a.ID, from, to); err != nil || b.Total.Requests != 13 {
		t.Fatalf("after a record written by SQL: %+v, %v; want 13 requests", b, err)
	}
	e.exec(t, `DELETE FROM usage_records WHERE request_id = 'req-daily-raw'`)
	controltest.Audit(t, e.path)

	// A drifted table is caught by the audit every ingestion test runs.
	e.exec(t, `UPDATE usage_daily SET cost_micros = cost_micros + 1 WHERE (account_id, day, model, key_id) = (SELECT account_id, day, model, key_id FROM usage_daily LIMIT 1)`)
	rec := &recorder{TB: t}
	controltest.Audit(rec, e.path)
	if len(rec.errors) == 0 {
		t.Fatal("the audit accepted a daily row that does not match its records")
	}
	e.exec(t, `DELETE FROM usage_daily`)
	e.exec(t, backfill)

	// Closure moves the account's daily rows to the rollups whole; the
	// other account's stay.
	if _, err := e.svc.CloseAccount(e.ctx, a.ID, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM usage_daily WHERE account_id = ?`, a.ID); n != 0 {
		t.Errorf("%d daily rows left for a closed account", n)
	}
	if n := e.count(t, `SELECT sum(requests) FROM usage_rollups WHERE account_id = ?`, a.ID); n != 12 {
		t.Errorf("rollups hold %d requests of the closed account, want 12", n)
	}
	if n := e.count(t, `SELECT sum(requests) FROM usage_daily WHERE account_id = ?`, other.ID); n != 1 {
		t.Errorf("the other account's daily rows hold %d requests, want 1", n)
	}
	controltest.Audit(t, e.path)
}

// recorder is a testing.TB that keeps the errors it is given.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
