package control

import (
	"context"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

// Retention defaults: the privacy policy's periods (section 5).
const (
	// DefaultUsageRetention: "API usage logs ... are retained for 90 days".
	DefaultUsageRetention = 90 * 24 * time.Hour
	// DefaultClosedAccountRetention: "12 months after account closure",
	// counted as 365 days, so that it never runs past a calendar year.
	DefaultClosedAccountRetention = 365 * 24 * time.Hour
	// DefaultPaymentRetention: "typically 7 years", counted as 2557 days,
	// so that leap days never make it shorter than seven calendar years
	// (the law sets a minimum here, not a maximum).
	DefaultPaymentRetention = (7*365 + 2) * 24 * time.Hour
	// DefaultAuditRetention: the policy promises access logging but names
	// no period; a year covers an annual security review and the 12
	// months an account's data outlives its closure.
	DefaultAuditRetention = 365 * 24 * time.Hour
	// DefaultEmailRetention: a sent (or given-up) email is kept a month
	// for support questions ("did you send my receipt?").
	DefaultEmailRetention = 30 * 24 * time.Hour
)

// RetentionConfig sets how long each kind of record is kept and how the
// job runs. The zero value is usable; each field's default is stated
// beside it. A period is counted back from the service clock's now when a
// run starts.
type RetentionConfig struct {
	// Usage is how long a per-request usage record is kept after the
	// control service received it. Expired records are folded into daily
	// rollups per account, model and key, then deleted. Default
	// DefaultUsageRetention (90 days).
	Usage time.Duration
	// ClosedAccounts is how long a closed account's data is kept after
	// closure (the accounts.closed_at column, which account deletion sets):
	// then its keys, sessions, management tokens, profile, plugins,
	// billing settings, usage and emails are erased, and the account row
	// stays as a tombstone for the ledger. Default
	// DefaultClosedAccountRetention (365 days).
	ClosedAccounts time.Duration
	// Payments is how long a payment record and a Stripe webhook event are
	// kept after they were created. Default DefaultPaymentRetention
	// (2557 days).
	Payments time.Duration
	// Audit is how long an audit log entry is kept. Default
	// DefaultAuditRetention (365 days).
	Audit time.Duration
	// Emails is how long a sent or failed outbox email is kept after it was
	// queued. Queued ones are never deleted. Default
	// DefaultEmailRetention (30 days).
	Emails time.Duration
	// Interval is how often the job Start runs repeats, beginning at Start.
	// Default 0: Start runs no job, and RunRetention runs it on demand
	// (`switchyard control` sets an hour).
	Interval time.Duration
	// BatchSize bounds the rows one transaction deletes, so that a run
	// holds the database's write lock for short spells and ingestion goes
	// on between them. Default 1000.
	BatchSize int
}

func (c RetentionConfig) withDefaults() RetentionConfig {
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.Usage, DefaultUsageRetention},
		{&c.ClosedAccounts, DefaultClosedAccountRetention},
		{&c.Payments, DefaultPaymentRetention},
		{&c.Audit, DefaultAuditRetention},
		{&c.Emails, DefaultEmailRetention},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	return c
}

func (c *RetentionConfig) validate() error {
	for _, d := range []time.Duration{c.Usage, c.ClosedAccounts, c.Payments, c.Audit, c.Emails} {
		if d < time.Hour {
			return Errorf(EINVALID, "retention periods must be at least an hour")
		}
	}
	if c.Interval < 0 || c.Interval > 0 && c.Interval < time.Minute {
		return Errorf(EINVALID, "the retention interval must be 0 (off) or at least a minute")
	}
	return nil
}

// RetentionStore deletes what has expired. Each method works in one
// transaction that touches about limit rows at most and reports what it
// deleted; callers repeat it until it reports nothing, so that each call
// holds the write lock briefly. Every method is idempotent and safe to run
// from several processes at once: what one deleted, the other no longer
// finds.
type RetentionStore interface {
	// ClaimJob takes or renews the lease on job for holder until until,
	// unless another holder's lease runs past now, and reports whether it
	// holds the lease.
	ClaimJob(ctx context.Context, job, holder string, now, until time.Time) (bool, error)
	// ReleaseJob ends holder's lease on job, if it still holds it.
	ReleaseJob(ctx context.Context, job, holder string) error
	// ExpireUsage adds the usage records received before cutoff to the
	// daily rollups and deletes them, whole ingestions at a time, and
	// reports how many records it deleted.
	ExpireUsage(ctx context.Context, cutoff time.Time, limit int) (int64, error)
	// ExpirePayments deletes payments and Stripe events created before
	// cutoff (events by when they were received).
	ExpirePayments(ctx context.Context, cutoff time.Time, limit int) (payments, events int64, err error)
	// ExpireEmails deletes sent and failed outbox emails queued before
	// cutoff.
	ExpireEmails(ctx context.Context, cutoff time.Time, limit int) (int64, error)
	// ExpireAuditLog deletes audit log entries created before cutoff. ok
	// is false when the database has no audit log.
	ExpireAuditLog(ctx context.Context, cutoff time.Time, limit int) (n int64, ok bool, err error)
	// ClosedAccounts lists up to limit accounts closed before cutoff whose
	// data has not been erased yet. ok is false when the database does not
	// record closures.
	ClosedAccounts(ctx context.Context, cutoff time.Time, limit int) (ids []string, ok bool, err error)
	// EraseAccount erases one closed account's data. Each call deletes at
	// most limit usage records; the call that finds none left erases the
	// rest, records the erasure and reports done.
	EraseAccount(ctx context.Context, id string, at time.Time, limit int, out *AccountErasure) (done bool, err error)
}

// AccountErasure counts what erasing closed accounts deleted.
type AccountErasure struct {
	Accounts        int64 `json:"accounts"`
	Keys            int64 `json:"keys"`
	Tokens          int64 `json:"tokens"`
	UsageRecords    int64 `json:"usage_records"`
	UsageRollups    int64 `json:"usage_rollups"`
	PluginVersions  int64 `json:"plugin_versions"`
	PluginModules   int64 `json:"plugin_modules"`
	BillingAccounts int64 `json:"billing_accounts"`
	Emails          int64 `json:"emails"`
}

// RetentionDeleted counts what one run deleted, by category.
type RetentionDeleted struct {
	UsageRecords   int64          `json:"usage_records"`
	ClosedAccounts AccountErasure `json:"closed_accounts"`
	Payments       int64          `json:"payments"`
	StripeEvents   int64          `json:"stripe_events"`
	AuditEntries   int64          `json:"audit_entries"`
	Emails         int64          `json:"emails"`
	// ProcessorCustomers counts closed accounts' customers deleted at
	// the payment processor.
	ProcessorCustomers int64 `json:"processor_customers"`
}

// RetentionCutoffs are the instants a run deleted before.
type RetentionCutoffs struct {
	Usage          time.Time `json:"usage"`
	ClosedAccounts time.Time `json:"closed_accounts"`
	Payments       time.Time `json:"payments"`
	Audit          time.Time `json:"audit"`
	Emails         time.Time `json:"emails"`
}

// RetentionReport is what one run of the retention job did.
type RetentionReport struct {
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Skipped is set when another run (on this replica or another) held
	// the job's lease; this run deleted nothing.
	Skipped bool             `json:"skipped,omitempty"`
	Cutoffs RetentionCutoffs `json:"cutoffs"`
	Deleted RetentionDeleted `json:"deleted"`
	// Unavailable names rules the database cannot apply yet: "audit_log"
	// without an audit log table, "closed_accounts" without
	// accounts.closed_at.
	Unavailable []string `json:"unavailable,omitempty"`
}

const (
	retentionJob = "retention"
	// retentionLease outlasts any one batch by far; the run renews it
	// after each, so a replica that dies frees the job within this time.
	retentionLease = 5 * time.Minute
)

// RunRetention runs the retention job once: it deletes, in batches, every
// usage record, closed account's data, payment record, audit entry and
// sent email older than its period (RetentionConfig), and reports what it
// deleted. Cutoffs are computed once, from the clock, when it starts.
//
// Runs are safe on several replicas at once: a lease in the database lets
// one run at a time, and the others return a report with Skipped set. The
// deletions themselves are idempotent, so a run that loses its lease
// midway (a stall longer than the lease) and one that takes over still
// delete each row once.
//
// # Errors
//
// Database errors end the run; what earlier batches deleted stays
// deleted, and the next run carries on from there.
func (s *Service) RunRetention(ctx context.Context) (*RetentionReport, error) {
	rc := &s.cfg.Retention
	now := s.now()
	rep := &RetentionReport{StartedAt: now, Cutoffs: RetentionCutoffs{
		Usage:          now.Add(-rc.Usage),
		ClosedAccounts: now.Add(-rc.ClosedAccounts),
		Payments:       now.Add(-rc.Payments),
		Audit:          now.Add(-rc.Audit),
		Emails:         now.Add(-rc.Emails),
	}}
	holder := newID("run")
	held, err := s.store.ClaimJob(ctx, retentionJob, holder, now, now.Add(retentionLease))
	if err != nil {
		return nil, err
	}
	if !held {
		rep.Skipped = true
		rep.FinishedAt = s.now()
		return rep, nil
	}
	defer s.store.ReleaseJob(context.WithoutCancel(ctx), retentionJob, holder)
	renew := func() error {
		at := s.now()
		_, err := s.store.ClaimJob(ctx, retentionJob, holder, at, at.Add(retentionLease))
		return err
	}
	// repeat calls batch until it deletes nothing, renewing the lease
	// between batches.
	repeat := func(batch func() (int64, error)) error {
		for {
			n, err := batch()
			if err != nil || n == 0 {
				return err
			}
			if err := renew(); err != nil {
				return err
			}
		}
	}
	c, d, limit := &rep.Cutoffs, &rep.Deleted, rc.BatchSize
	err = repeat(func() (int64, error) {
		n, err := s.store.ExpireUsage(ctx, c.Usage, limit)
		d.UsageRecords += n
		return n, err
	})
	if err == nil {
		err = s.eraseClosedAccounts(ctx, rep, renew)
	}
	if err == nil {
		// One pass: a customer the processor refuses stays queued for the
		// next run rather than being retried in a loop.
		d.ProcessorCustomers, err = s.eraseProcessorCustomers(ctx, limit)
	}
	if err == nil {
		err = repeat(func() (int64, error) {
			p, e, err := s.store.ExpirePayments(ctx, c.Payments, limit)
			d.Payments += p
			d.StripeEvents += e
			return p + e, err
		})
	}
	if err == nil {
		err = repeat(func() (int64, error) {
			n, ok, err := s.store.ExpireAuditLog(ctx, c.Audit, limit)
			if !ok && err == nil {
				rep.Unavailable = append(rep.Unavailable, "audit_log")
			}
			d.AuditEntries += n
			return n, err
		})
	}
	if err == nil {
		err = repeat(func() (int64, error) {
			n, err := s.store.ExpireEmails(ctx, c.Emails, limit)
			d.Emails += n
			return n, err
		})
	}
	if err != nil {
		return nil, err
	}
	rep.FinishedAt = s.now()
	return rep, nil
}

func (s *Service) eraseClosedAccounts(ctx context.Context, rep *RetentionReport, renew func() error) error {
	limit := s.cfg.Retention.BatchSize
	for {
		ids, ok, err := s.store.ClosedAccounts(ctx, rep.Cutoffs.ClosedAccounts, limit)
		if err != nil {
			return err
		}
		if !ok {
			rep.Unavailable = append(rep.Unavailable, "closed_accounts")
			return nil
		}
		if len(ids) == 0 {
			return nil
		}
		for _, id := range ids {
			for done := false; !done; {
				if done, err = s.store.EraseAccount(ctx, id, s.now(), limit, &rep.Deleted.ClosedAccounts); err != nil {
					return err
				}
				if err := renew(); err != nil {
					return err
				}
			}
		}
	}
}

// checkIngest is checkUsageRecord plus one rule of retention: a record
// that started before the usage period is refused. Its first copy, if an
// edge sent one, was received no earlier than it started and may be
// deleted already, and a replay taken as new would be charged twice.
func (s *Service) checkIngest(r *edgeapi.UsageRecord, now time.Time) error {
	if err := checkUsageRecord(r, now); err != nil {
		return err
	}
	if r.StartedAt.Before(now.Add(-s.cfg.Retention.Usage)) {
		return Errorf(EINVALID, "started_at is older than usage records are kept")
	}
	return nil
}

// retentionLoop is the job Start runs when RetentionConfig.Interval is
// set.
type retentionLoop struct {
	once sync.Once
	stop context.CancelFunc
	done chan struct{}
}

func (s *Service) startRetention() {
	s.retention.once.Do(func() {
		ctx, stop := context.WithCancel(context.Background())
		s.retention.stop, s.retention.done = stop, make(chan struct{})
		go s.runRetentionLoop(ctx)
	})
}

func (s *Service) runRetentionLoop(ctx context.Context) {
	defer close(s.retention.done)
	t := time.NewTicker(s.cfg.Retention.Interval)
	defer t.Stop()
	for {
		rep, err := s.RunRetention(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			s.cfg.Logger.Error("retention run failed", "error", err)
		case err == nil && !rep.Skipped:
			d := &rep.Deleted
			s.cfg.Logger.Info("retention run", "usage_records", d.UsageRecords,
				"closed_accounts", d.ClosedAccounts.Accounts, "payments", d.Payments, "stripe_events", d.StripeEvents,
				"audit_entries", d.AuditEntries, "emails", d.Emails, "processor_customers", d.ProcessorCustomers,
				"unavailable", rep.Unavailable)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// stopRetention stops the loop and waits for it; a run in progress is
// cancelled between statements, and its lease runs out.
func (s *Service) stopRetention() {
	s.retention.once.Do(func() {}) // a later Start must not start one
	if s.retention.stop != nil {
		s.retention.stop()
		<-s.retention.done
	}
}
