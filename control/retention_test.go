package control_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

// retentionEnv is a service whose retention job deletes in batches of
// two, so that every rule's batching runs, with a raw connection to the
// same database file to plant rows and count them.
type retentionEnv struct {
	*env
	db *sql.DB
}

func newRetentionEnv(t *testing.T) *retentionEnv {
	t.Helper()
	clock := controltest.NewClock(controltest.Epoch)
	path := controltest.DBPath(t)
	st := controltest.OpenStore(t, path)
	svc := newRetentionService(t, st, clock)
	db, err := sql.Open("libsql", "file:"+filepath.ToSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &retentionEnv{env: &env{ctx: context.Background(), path: path, clock: clock, store: st, svc: svc}, db: db}
}

func newRetentionService(t *testing.T, st control.Store, clock control.Clock) *control.Service {
	t.Helper()
	svc := control.NewService(st, control.Config{Clock: clock, Password: controltest.FastPasswords,
		Catalog: controltest.Catalog(), Retention: control.RetentionConfig{BatchSize: 2}})
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

func (e *retentionEnv) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := e.db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (e *retentionEnv) count(t *testing.T, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := e.db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (e *retentionEnv) hasColumn(t *testing.T, table, column string) bool {
	return e.count(t, `SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, table, column) > 0
}

// tableCounts counts the rows of every table.
func (e *retentionEnv) tableCounts(t *testing.T) map[string]int64 {
	t.Helper()
	rows, err := e.db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	rows.Close()
	counts := map[string]int64{}
	for _, name := range names {
		counts[name] = e.count(t, `SELECT count(*) FROM "`+name+`"`)
	}
	return counts
}

// ingest stores one usage record started and received at the clock's now.
func (e *retentionEnv) ingest(t *testing.T, id string, k *control.APIKey) {
	t.Helper()
	res, err := e.svc.IngestUsage(e.ctx, "edge-1", []edgeapi.UsageRecord{usageRecord(id, k, e.clock.Now())})
	if err != nil || res.Accepted != 1 {
		t.Fatalf("ingest %s: %+v, %v", id, res, err)
	}
}

// TestRetentionDeletesExactlyWhatExpired plants, for each rule, a row one
// second past its period and one a second inside it, runs the job, and
// checks every table's row count moved by exactly what the rules say.
func TestRetentionDeletesExactlyWhatExpired(t *testing.T) {
	e := newRetentionEnv(t)
	run := controltest.Epoch.AddDate(8, 0, 0)
	past := func(d time.Duration) time.Time { return run.Add(-d - time.Second) }
	inside := func(d time.Duration) time.Time { return run.Add(-d + time.Second) }
	at := func(tm time.Time) { e.clock.Set(tm) }
	closures := e.hasColumn(t, "accounts", "closed_at")
	audits := e.hasColumn(t, "audit_log", "at")

	// Account A stays open; B was closed a second past 12 months ago, C a
	// second inside.
	at(run.AddDate(0, 0, -500))
	a := mustAccount(t, e.svc, "a@example.com", 100_000_000)
	b := mustAccount(t, e.svc, "b@example.com", 100_000_000)
	c := mustAccount(t, e.svc, "c@example.com", 100_000_000)
	ka, _ := e.key(t, a, control.KeyCreate{})
	kb, _ := e.key(t, b, control.KeyCreate{})
	kc, _ := e.key(t, c, control.KeyCreate{})

	at(past(control.DefaultUsageRetention))
	e.ingest(t, "req-a-old", ka)
	at(inside(control.DefaultUsageRetention))
	e.ingest(t, "req-a-young", ka)
	at(run.AddDate(0, 0, -400))
	e.ingest(t, "req-b-old", kb)
	e.ingest(t, "req-c-old", kc)
	at(run.Add(-time.Hour))
	e.ingest(t, "req-b-late", kb) // reported by an edge after closure
	e.ingest(t, "req-c-late", kc)

	for _, acct := range []*control.Account{b, c} {
		if _, _, err := e.svc.CreateManagementToken(e.ctx, acct.ID, "script"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.Login(e.ctx, acct.Email, "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		e.exec(t, `INSERT INTO billing_accounts (account_id, stripe_customer_id, updated_at) VALUES (?, ?, 0)`,
			acct.ID, "cus_"+acct.ID)
		e.exec(t, `INSERT INTO plugin_modules (hash, module, size) VALUES (?, x'00', 1)`, "own-"+acct.ID)
		e.exec(t, `INSERT INTO plugin_versions (id, account_id, name, version, hash, fail, created_at)
			VALUES (?, ?, 'p', 1, ?, 'open', 0), (?, ?, 'p', 2, 'shared', 'open', 0)`,
			"plg1-"+acct.ID, acct.ID, "own-"+acct.ID, "plg2-"+acct.ID, acct.ID)
		e.exec(t, `INSERT INTO plugin_activations (account_id, plugin_id, created_at) VALUES (?, ?, 0)`,
			acct.ID, "plg1-"+acct.ID)
		if _, err := e.svc.EnqueueEmail(e.ctx, control.Email{AccountID: acct.ID, To: acct.Email, Kind: "notice",
			Subject: "s", Text: "t", DedupeKey: "notice-" + acct.ID}); err != nil {
			t.Fatal(err)
		}
	}
	// A module A uses too outlives B's erasure.
	e.exec(t, `INSERT INTO plugin_modules (hash, module, size) VALUES ('shared', x'00', 1)`)
	e.exec(t, `INSERT INTO plugin_versions (id, account_id, name, version, hash, fail, created_at)
		VALUES ('plg-a', ?, 'p', 1, 'shared', 'open', 0)`, a.ID)
	if closures {
		e.exec(t, `UPDATE accounts SET status = 'suspended', closed_at = ? WHERE id = ?`,
			past(control.DefaultClosedAccountRetention).UnixMilli(), b.ID)
		e.exec(t, `UPDATE accounts SET status = 'suspended', closed_at = ? WHERE id = ?`,
			inside(control.DefaultClosedAccountRetention).UnixMilli(), c.ID)
	}

	for i, tm := range []time.Time{past(control.DefaultPaymentRetention), inside(control.DefaultPaymentRetention)} {
		e.exec(t, `INSERT INTO payments (account_id, kind, status, amount_cents, currency, stripe_payment_intent_id,
			created_at, updated_at) VALUES (?, 'checkout', 'succeeded', 500, 'usd', ?, ?, ?)`,
			a.ID, fmt.Sprintf("pi_%d", i), tm.UnixMilli(), tm.UnixMilli())
		e.exec(t, `INSERT INTO stripe_events (id, type, outcome, account_id, created_at, received_at)
			VALUES (?, 'payment_intent.succeeded', 'applied', ?, ?, ?)`, fmt.Sprintf("evt_%d", i), a.ID,
			tm.UnixMilli(), tm.UnixMilli())
	}
	// Emails: sent and failed ones go after 30 days; queued ones stay.
	for _, m := range []struct {
		key, status string
		at          time.Time
	}{
		{"sent-old", control.OutboxSent, past(control.DefaultEmailRetention)},
		{"failed-old", control.OutboxFailed, past(control.DefaultEmailRetention)},
		{"queued-old", control.OutboxQueued, past(control.DefaultEmailRetention)},
		{"sent-young", control.OutboxSent, inside(control.DefaultEmailRetention)},
	} {
		at(m.at)
		if _, err := e.svc.EnqueueEmail(e.ctx, control.Email{AccountID: a.ID, To: a.Email, Kind: "notice",
			Subject: "s", Text: "t", DedupeKey: m.key}); err != nil {
			t.Fatal(err)
		}
		e.exec(t, `UPDATE email_outbox SET status = ? WHERE dedupe_key = ?`, m.status, m.key)
	}
	auditCutoff := run.Add(-control.DefaultAuditRetention)
	if audits {
		for _, tm := range []time.Time{past(control.DefaultAuditRetention), inside(control.DefaultAuditRetention)} {
			e.exec(t, `INSERT INTO audit_log (at, account_id, actor, action, result) VALUES (?, ?, 'system', 'test.marker', 'ok')`,
				tm.UnixMilli(), a.ID)
		}
	}

	before := e.tableCounts(t)
	want := map[string]int64{
		"usage_records":  -3, // A's, B's and C's old records
		"usage_rollups":  +3,
		"usage_daily":    -3, // their totals, now in the rollups
		"payments":       -1,
		"stripe_events":  -1,
		"email_outbox":   -2,
		"plugin_modules": 0,
	}
	if closures {
		want["usage_records"] -= 1 // B's late record
		want["usage_rollups"] -= 1 // B's
		// usage_daily: B's old record left it at the closure, before
		// this run; its late record's row goes with the erasure: still -3.
		want["tokens"] = -e.count(t, `SELECT count(*) FROM tokens WHERE account_id = ?`, b.ID)
		want["api_keys"] = -1
		want["key_spend"] = -e.count(t, `SELECT count(*) FROM key_spend WHERE key_id = ?`, kb.ID)
		want["plugin_versions"] = -2
		want["plugin_activations"] = -1
		want["plugin_modules"] = -1 // B's own; "shared" stays
		want["billing_accounts"] = -1
		want["processor_erasures"] = +1 // B's Stripe customer, queued: no processor is configured here
		want["email_outbox"] -= 1
		want["account_erasures"] = +1
		if _, ok := before["spend_guard"]; ok {
			want["spend_guard"] = -e.count(t, `SELECT count(*) FROM spend_guard WHERE account_id = ?`, b.ID)
		}
	}
	if audits {
		want["audit_log"] = -e.count(t, `SELECT count(*) FROM audit_log WHERE at < ?`, auditCutoff.UnixMilli())
	}
	booksBefore := controltest.Audit(t, e.path)

	at(run)
	rep, err := e.svc.RunRetention(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := e.tableCounts(t)
	for table := range before {
		if got := after[table] - before[table]; got != want[table] && table != "job_leases" {
			t.Errorf("%s: %d rows changed by %d, want %d", table, before[table], got, want[table])
		}
	}
	d := rep.Deleted
	if d.UsageRecords != 3 || d.Payments != 1 || d.StripeEvents != 1 || d.Emails != 2 {
		t.Errorf("report: %+v", d)
	}
	if audits && d.AuditEntries != -want["audit_log"] || !audits && !slices.Contains(rep.Unavailable, "audit_log") {
		t.Errorf("audit entries deleted %d, want %d; unavailable %v", d.AuditEntries, -want["audit_log"], rep.Unavailable)
	}
	if closures {
		wantErased := control.AccountErasure{Accounts: 1, Keys: 1, Tokens: -want["tokens"], UsageRecords: 1,
			UsageRollups: 1, PluginVersions: 2, PluginModules: 1, BillingAccounts: 1, Emails: 1}
		if d.ClosedAccounts != wantErased {
			t.Errorf("closed accounts: %+v, want %+v", d.ClosedAccounts, wantErased)
		}
		var name, email, address, hash string
		if err := e.db.QueryRow(`SELECT name, email, billing_address, password_hash FROM accounts WHERE id = ?`, b.ID).
			Scan(&name, &email, &address, &hash); err != nil {
			t.Fatal(err)
		}
		if name != "" || address != "" || hash != "" || email != "erased-"+b.ID+"@invalid" {
			t.Errorf("erased account keeps %q %q %q %q", name, email, address, hash)
		}
	} else if !slices.Contains(rep.Unavailable, "closed_accounts") {
		t.Errorf("closed accounts not reported unavailable: %v", rep.Unavailable)
	}

	for id, want := range map[string]string{"req-a-old": control.ENOTFOUND, "req-a-young": ""} {
		if _, err := e.svc.UsageRecord(e.ctx, a.ID, id); control.ErrorCode(err) != want {
			t.Errorf("usage record %s: %v, want code %q", id, err, want)
		}
	}
	if audits && e.count(t, `SELECT count(*) FROM audit_log WHERE action = 'test.marker'`) != 1 {
		t.Error("the audit entry inside its period did not survive alone")
	}
	booksAfter := controltest.Audit(t, e.path)
	for id, bal := range booksBefore.Balances {
		if booksAfter.Balances[id] != bal {
			t.Errorf("balance of %s moved from %d to %d", id, bal, booksAfter.Balances[id])
		}
	}
	var rolled int64
	if err := e.db.QueryRow(`SELECT COALESCE(SUM(cost_micros), 0) FROM usage_rollups WHERE account_id = ?`, a.ID).
		Scan(&rolled); err != nil || rolled <= 0 {
		t.Errorf("A's rollup cost %d, %v", rolled, err)
	}

	// A second run finds nothing more.
	rep, err = e.svc.RunRetention(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skipped || rep.Deleted != (control.RetentionDeleted{}) {
		t.Errorf("second run: %+v", rep)
	}
	if again := e.tableCounts(t); !equalCounts(again, after) {
		t.Errorf("second run changed counts: %v -> %v", after, again)
	}

	// An edge replaying a deleted record is refused, not charged twice.
	res, err := e.svc.IngestUsage(e.ctx, "edge-1",
		[]edgeapi.UsageRecord{usageRecord("req-a-old", ka, past(control.DefaultUsageRetention))})
	if err != nil || res.Accepted != 0 || len(res.Rejected) != 1 {
		t.Errorf("replay of an expired record: %+v, %v", res, err)
	}
}

// TestRetentionLoop checks Start runs the job at once and Close stops it.
func TestRetentionLoop(t *testing.T) {
	clock := controltest.NewClock(controltest.Epoch)
	path := controltest.DBPath(t)
	st := controltest.OpenStore(t, path)
	e := &retentionEnv{env: &env{ctx: context.Background(), path: path, clock: clock, store: st,
		svc: newRetentionService(t, st, clock)}}
	a := mustAccount(t, e.svc, "a@example.com", 1_000_000)
	k, _ := e.key(t, a, control.KeyCreate{})
	e.ingest(t, "req-1", k)
	clock.Advance(control.DefaultUsageRetention + time.Second)
	svc := control.NewService(st, control.Config{Clock: clock, Password: controltest.FastPasswords,
		Catalog: controltest.Catalog(), Retention: control.RetentionConfig{Interval: time.Minute}})
	if err := svc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := svc.UsageRecord(e.ctx, a.ID, "req-1"); control.ErrorCode(err) == control.ENOTFOUND {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job Start runs did not delete the expired record")
		}
	}
	svc.Close()
	svc.Close()
}

func equalCounts(a, b map[string]int64) bool {
	for k := range a {
		if k != "job_leases" && a[k] != b[k] {
			return false
		}
	}
	return len(a) == len(b)
}

// TestRetentionConcurrentReplicas runs the job from two replicas (two
// stores on one file) at once, then the usage deletion itself from both
// without the lease: either way each record is deleted and rolled up
// exactly once, and the books still balance.
func TestRetentionConcurrentReplicas(t *testing.T) {
	e := newRetentionEnv(t)
	other := newRetentionService(t, controltest.OpenStore(t, e.path), e.clock)
	otherStore := controltest.OpenStore(t, e.path)
	a := mustAccount(t, e.svc, "a@example.com", 1_000_000_000)
	k, _ := e.key(t, a, control.KeyCreate{})
	const ingests, perIngest = 12, 5
	plant := func(prefix string) {
		for i := range ingests {
			recs := make([]edgeapi.UsageRecord, perIngest)
			for j := range recs {
				recs[j] = usageRecord(fmt.Sprintf("%s-%d-%d", prefix, i, j), k, e.clock.Now())
			}
			if _, err := e.svc.IngestUsage(e.ctx, "edge-1", recs); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Millisecond)
		}
	}
	plant("first")
	e.clock.Advance(control.DefaultUsageRetention + time.Hour)

	var wg sync.WaitGroup
	reports := make([]*control.RetentionReport, 2)
	errs := make([]error, 2)
	for i, svc := range []*control.Service{e.svc, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], errs[i] = svc.RunRetention(e.ctx)
		}()
	}
	wg.Wait()
	var total int64
	for i := range reports {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		total += reports[i].Deleted.UsageRecords
	}
	if total != ingests*perIngest || reports[0].Skipped && reports[1].Skipped {
		t.Errorf("replicas deleted %d records together (skipped %v, %v), want %d",
			total, reports[0].Skipped, reports[1].Skipped, ingests*perIngest)
	}
	controltest.Audit(t, e.path)

	plant("second")
	e.clock.Advance(control.DefaultUsageRetention + time.Hour)
	cutoff := e.clock.Now().Add(-control.DefaultUsageRetention)
	counts := make([]int64, 2)
	for i, st := range []control.Store{e.store, otherStore} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := st.ExpireUsage(e.ctx, cutoff, 3)
				if err != nil {
					errs[i] = err
					return
				}
				if n == 0 {
					return
				}
				counts[i] += n
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if counts[0]+counts[1] != ingests*perIngest {
		t.Errorf("concurrent deletions removed %d + %d records, want %d", counts[0], counts[1], ingests*perIngest)
	}
	books := controltest.Audit(t, e.path)
	if books.UsageRows != 0 {
		t.Errorf("%d usage records left", books.UsageRows)
	}
	if n := e.count(t, `SELECT SUM(requests) FROM usage_rollups`); n != 2*ingests*perIngest {
		t.Errorf("rollups count %d requests, want %d", n, 2*ingests*perIngest)
	}
}

func TestRetentionLease(t *testing.T) {
	e := newRetentionEnv(t)
	now := e.clock.Now()
	lease := 5 * time.Minute
	steps := []struct {
		name   string
		holder string
		at     time.Time
		want   bool
	}{
		{"first holder takes it", "a", now, true},
		{"another is refused while it runs", "b", now.Add(time.Minute), false},
		{"the holder renews", "a", now.Add(2 * time.Minute), true},
		{"still refused before the renewed end", "b", now.Add(6 * time.Minute), false},
		{"taken over once it ran out", "b", now.Add(7 * time.Minute), true},
		{"the old holder is refused", "a", now.Add(8 * time.Minute), false},
	}
	for _, s := range steps {
		got, err := e.store.ClaimJob(e.ctx, "job", s.holder, s.at, s.at.Add(lease))
		if err != nil || got != s.want {
			t.Fatalf("%s: got %v, %v", s.name, got, err)
		}
	}
	if err := e.store.ReleaseJob(e.ctx, "job", "a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := e.store.ClaimJob(e.ctx, "job", "c", now.Add(9*time.Minute), now.Add(20*time.Minute)); ok {
		t.Error("a release by a former holder freed the job")
	}
	if err := e.store.ReleaseJob(e.ctx, "job", "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := e.store.ClaimJob(e.ctx, "job", "c", now.Add(9*time.Minute), now.Add(20*time.Minute)); !ok {
		t.Error("a released job could not be taken")
	}
}

func TestRetentionConfigRejected(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  control.RetentionConfig
	}{
		{"period under an hour", control.RetentionConfig{Usage: time.Minute}},
		{"negative period", control.RetentionConfig{Payments: -time.Hour}},
		{"interval under a minute", control.RetentionConfig{Interval: time.Second}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			svc := control.NewService(controltest.OpenStore(t, controltest.DBPath(t)), control.Config{Retention: tt.cfg})
			wantCode(t, svc.Start(context.Background()), control.EINVALID)
		})
	}
}

// TestRetentionAfterAccountDeletion follows an account its owner deleted:
// the tombstone CloseAccount leaves is erased 12 months after closure, not
// a second sooner, and the books still balance.
func TestRetentionAfterAccountDeletion(t *testing.T) {
	e := newRetentionEnv(t)
	a := mustAccount(t, e.svc, "a@example.com", 1_000_000)
	k, _ := e.key(t, a, control.KeyCreate{})
	e.ingest(t, "req-1", k)
	if _, err := e.svc.CloseAccount(e.ctx, a.ID, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	closedAt := e.clock.Now()
	for _, step := range []struct {
		at     time.Time
		erased int64
	}{
		{closedAt.Add(control.DefaultClosedAccountRetention - time.Second), 0},
		{closedAt.Add(control.DefaultClosedAccountRetention + time.Second), 1},
		{closedAt.Add(control.DefaultClosedAccountRetention + time.Hour), 0},
	} {
		e.clock.Set(step.at)
		rep, err := e.svc.RunRetention(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Deleted.ClosedAccounts.Accounts != step.erased {
			t.Errorf("at closure + %v: erased %+v, want %d accounts", step.at.Sub(closedAt), rep.Deleted.ClosedAccounts, step.erased)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM api_keys WHERE account_id = ?`, a.ID); n != 0 {
		t.Errorf("%d keys left", n)
	}
	if n := e.count(t, `SELECT count(*) FROM account_erasures WHERE account_id = ?`, a.ID); n != 1 {
		t.Errorf("%d erasure records", n)
	}
	controltest.Audit(t, e.path)
}

// TestRetentionKeepsReportTotals: after the job rolls a day's records up
// and deletes them, the usage report for that day still gives the same
// totals, by day, by model and by key.
func TestRetentionKeepsReportTotals(t *testing.T) {
	e := newRetentionEnv(t)
	a := mustAccount(t, e.svc, "reports@example.com", 100_000_000)
	k, _ := e.key(t, a, control.KeyCreate{})
	day := e.clock.Now()
	for i := range 3 {
		e.ingest(t, fmt.Sprintf("req-report-%d", i), k)
	}
	report := func() map[string][]control.UsageAggregate {
		out := map[string][]control.UsageAggregate{}
		for _, g := range []string{control.GroupByDay, control.GroupByModel, control.GroupByKey} {
			r, err := e.svc.Usage(e.ctx, control.UsageQuery{AccountID: a.ID, From: day.Add(-time.Hour), To: day.Add(24 * time.Hour), GroupBy: g})
			if err != nil {
				t.Fatal(err)
			}
			out[g] = r.Data
		}
		return out
	}
	before := report()
	if len(before[control.GroupByDay]) != 1 || before[control.GroupByDay][0].Requests != 3 {
		t.Fatalf("report before: %+v", before)
	}
	e.clock.Advance(91 * 24 * time.Hour)
	if _, err := e.svc.RunRetention(e.ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM usage_records`); n != 0 {
		t.Fatalf("%d usage records left after their period", n)
	}
	if after := report(); !reflect.DeepEqual(before, after) {
		t.Fatalf("report changed when the records became rollups:\nbefore %+v\nafter  %+v", before, after)
	}
}

// TestUsageBreakdownMatchesReports: the one-scan breakdown a usage page
// uses gives what the three usage reports give, before and after the
// records become rollups.
func TestUsageBreakdownMatchesReports(t *testing.T) {
	e := newRetentionEnv(t)
	a := mustAccount(t, e.svc, "breakdown@example.com", 100_000_000)
	k1, _ := e.key(t, a, control.KeyCreate{Name: "one"})
	k2, _ := e.key(t, a, control.KeyCreate{Name: "two"})
	start := e.clock.Now()
	for i := range 12 {
		k := k1
		if i%3 == 0 {
			k = k2
		}
		e.ingest(t, fmt.Sprintf("req-breakdown-%d", i), k)
		e.clock.Advance(7 * time.Hour)
	}
	from, to := start.Add(-24*time.Hour), e.clock.Now().Add(24*time.Hour)
	check := func(when string) {
		t.Helper()
		b, err := e.svc.UsageBreakdown(e.ctx, a.ID, from, to)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []struct {
			by  string
			got []control.UsageAggregate
		}{{control.GroupByDay, b.ByDay}, {control.GroupByModel, b.ByModel}, {control.GroupByKey, b.ByKey}} {
			rep, err := e.svc.Usage(e.ctx, control.UsageQuery{AccountID: a.ID, From: from, To: to, GroupBy: g.by})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(rep.Data, g.got) || rep.Total != b.Total {
				t.Errorf("%s, by %s: breakdown %+v (total %+v), report %+v (total %+v)", when, g.by, g.got, b.Total, rep.Data, rep.Total)
			}
		}
		if b.Total.Requests != 12 {
			t.Errorf("%s: %d requests, want 12", when, b.Total.Requests)
		}
	}
	check("records")
	e.clock.Advance(95 * 24 * time.Hour)
	if _, err := e.svc.RunRetention(e.ctx); err != nil {
		t.Fatal(err)
	}
	check("rollups")
}
