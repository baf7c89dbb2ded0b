package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/internal/failguard"
)

// ETHROTTLED is the code of a request refused by a rate limit; the error
// is a *ThrottledError saying how long to wait.
const ETHROTTLED = "rate_limited"

// ThrottledError is an ETHROTTLED *Error with the time after which a retry
// may succeed.
type ThrottledError struct {
	Err        *Error
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string { return e.Err.Error() }
func (e *ThrottledError) Unwrap() error { return e.Err }

// RetryAfter returns how long a throttled caller should wait, if err is a
// *ThrottledError.
func RetryAfter(err error) (time.Duration, bool) {
	var t *ThrottledError
	if errors.As(err, &t) {
		return t.RetryAfter, true
	}
	return 0, false
}

// AbuseConfig bounds sign-in guessing and sets the spend-anomaly rule. The
// zero value takes every default.
type AbuseConfig struct {
	// LoginFailuresPerAddress is how many failed sign-ins one client
	// address may make per LoginFailureWindow (refilled continuously)
	// before every sign-in from it is refused with ETHROTTLED. Default 20;
	// negative disables.
	LoginFailuresPerAddress int
	// LoginFailuresPerEmail is the same bound per email address, so that
	// guessing one account's password from many addresses is slow too.
	// Default 10; negative disables.
	LoginFailuresPerEmail int
	// LoginFailureWindow is the period the two bounds above refill over.
	// Default 15 minutes.
	LoginFailureWindow time.Duration

	// SpendFloorMicros is the least last-hour spend ever flagged. Default
	// 5,000,000 ($5).
	SpendFloorMicros int64
	// SpendMultiple flags an account whose last-hour spend exceeds this
	// many times its trailing hourly p95. Default 10.
	SpendMultiple int64
	// SpendHistory is the trailing period the p95 is taken over, in whole
	// hours (hours without usage count as zero). Default 7 days.
	SpendHistory time.Duration
	// SpendCheckEvery is how often, at most, one replica checks one
	// account's spend while its batches are small; a batch costing a
	// tenth of SpendFloorMicros or more is checked at once. Ingestion
	// triggers the checks. Default 1 minute.
	SpendCheckEvery time.Duration
	// Links go into the suspension email. Default: no link.
	Links BillingLinks
}

func (c AbuseConfig) withDefaults() AbuseConfig {
	if c.LoginFailuresPerAddress == 0 {
		c.LoginFailuresPerAddress = 20
	}
	if c.LoginFailuresPerEmail == 0 {
		c.LoginFailuresPerEmail = 10
	}
	if c.LoginFailureWindow <= 0 {
		c.LoginFailureWindow = 15 * time.Minute
	}
	if c.SpendFloorMicros <= 0 {
		c.SpendFloorMicros = 5_000_000
	}
	if c.SpendMultiple <= 0 {
		c.SpendMultiple = 10
	}
	if c.SpendHistory < time.Hour {
		c.SpendHistory = 7 * 24 * time.Hour
	}
	if c.SpendCheckEvery <= 0 {
		c.SpendCheckEvery = time.Minute
	}
	return c
}

// SpendGuard is an account's spend-anomaly state and setting.
type SpendGuard struct {
	// AutoSuspend suspends the account when its spend is flagged. Default
	// false: a heuristic should not stop a customer's production traffic
	// unless the customer asked for that.
	AutoSuspend bool `json:"auto_suspend"`
	// FlaggedAt is when the spend check last flagged the account; nil when
	// it is not flagged. A flagged account is not checked again until an
	// operator restores it (switchyard admin restore).
	FlaggedAt  *time.Time `json:"flagged_at,omitempty"`
	FlagReason string     `json:"flag_reason,omitempty"`
}

// SigninBucket is a key's allowance of failed sign-ins: Left failures
// as of Last, refilling since.
type SigninBucket struct {
	Left float64
	Last time.Time
}

// AbuseStore keeps what abuse protection needs.
type AbuseStore interface {
	// SigninBuckets returns the buckets of those keys that have one.
	SigninBuckets(ctx context.Context, keys []string) (map[string]SigninBucket, error)
	// ChargeSigninFailure refills key's bucket (capacity, refilled at
	// perSecond; a new key starts full) to now, takes one failure, and
	// returns what is left; in the same transaction it forgets buckets
	// whose last failure is before forgetBefore (full again by then).
	ChargeSigninFailure(ctx context.Context, key string, capacity, perSecond float64, now, forgetBefore time.Time) (float64, error)
	// HourlySpend returns the account's usage cost per hour over
	// [from, from+hours h), by the records' start times: element i covers
	// hour i.
	HourlySpend(ctx context.Context, accountID string, from time.Time, hours int) ([]int64, error)
	// SpendGuard returns the account's state; the zero SpendGuard for an
	// account that never changed it. ENOTFOUND for an unknown account.
	SpendGuard(ctx context.Context, accountID string) (*SpendGuard, error)
	SetAutoSuspend(ctx context.Context, accountID string, on bool, at time.Time) error
	// FlagSpend flags the account unless it is flagged already, and
	// reports whether this call did, so that of several replicas only one
	// suspends and emails.
	FlagSpend(ctx context.Context, accountID, reason string, at time.Time) (bool, error)
	// ClearSpendFlag removes the flag.
	ClearSpendFlag(ctx context.Context, accountID string) error
}

// abuseState is a Service's in-process memory of spend checks. Sign-in
// failures are counted in the store, shared by every replica.
type abuseState struct {
	mu      sync.Mutex
	checked map[string]time.Time // account → last spend check
}

func newAbuseState(AbuseConfig) *abuseState {
	return &abuseState{checked: make(map[string]time.Time)}
}

// signinLimit is one sign-in bound: a key and its bucket's size.
type signinLimit struct {
	what, key string
	capacity  int
}

// signinLimits are the bounds a sign-in from the context's address for
// email counts against. The email is keyed by its lookup hash (a plain
// SHA-256 without a keyring), so the table never holds an address.
func (s *Service) signinLimits(ctx context.Context, email string) []signinLimit {
	ip, _ := ClientFrom(ctx)
	hash := s.cfg.Keyring.EmailKey(email).Current
	if hash == "" {
		sum := sha256.Sum256([]byte(email))
		hash = hex.EncodeToString(sum[:])
	}
	var out []signinLimit
	if c := s.cfg.Abuse.LoginFailuresPerAddress; c > 0 && ip != "" {
		out = append(out, signinLimit{"address", "addr:" + ip, c})
	}
	if c := s.cfg.Abuse.LoginFailuresPerEmail; c > 0 && email != "" {
		out = append(out, signinLimit{"email", "email:" + hash, c})
	}
	return out
}

// loginWait reports how long sign-in from the context's address or for
// email is throttled, 0 if it is not.
func (s *Service) loginWait(ctx context.Context, email string) (time.Duration, error) {
	limits := s.signinLimits(ctx, email)
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = l.key
	}
	buckets, err := s.store.SigninBuckets(ctx, keys)
	if err != nil {
		return 0, err
	}
	now, window := s.now(), s.cfg.Abuse.LoginFailureWindow.Seconds()
	var wait time.Duration
	for _, l := range limits {
		b, ok := buckets[l.key]
		if !ok {
			continue
		}
		perSec := float64(l.capacity) / window
		left := min(b.Left+max(now.Sub(b.Last).Seconds(), 0)*perSec, float64(l.capacity))
		if left < 1 {
			wait = max(wait, time.Duration((1-left)/perSec*float64(time.Second)))
		}
	}
	return wait, nil
}

// loginFailed charges a failure to the address and the email, and audits
// the moment either bound is used up (not every refused attempt after it,
// which would let a flood grow the log).
func (s *Service) loginFailed(ctx context.Context, email, accountID string) {
	now, window := s.now(), s.cfg.Abuse.LoginFailureWindow
	for _, l := range s.signinLimits(ctx, email) {
		left, err := s.store.ChargeSigninFailure(ctx, l.key, float64(l.capacity), float64(l.capacity)/window.Seconds(),
			now, now.Add(-window))
		if err != nil {
			s.cfg.Logger.Error("count a failed sign-in", "err", err.Error())
			continue
		}
		if left < 1 {
			s.audit(ctx, AuditEntry{AccountID: accountID, Action: ActionLoginThrottled, Result: AuditThrottled,
				Detail: "too many failed sign-ins for this " + l.what})
		}
	}
}

func throttled(wait time.Duration) error {
	wait = max(wait, time.Second)
	return &ThrottledError{Err: Errorf(ETHROTTLED, "too many failed sign-ins; retry after %s", wait.Round(time.Second)),
		RetryAfter: wait}
}

// SpendGuard returns the account's spend-anomaly setting and flag.
func (s *Service) SpendGuard(ctx context.Context, accountID string) (*SpendGuard, error) {
	return s.store.SpendGuard(ctx, accountID)
}

// SetAutoSuspend turns automatic suspension on a spend anomaly on or off
// for the account.
func (s *Service) SetAutoSuspend(ctx context.Context, accountID string, on bool) (*SpendGuard, error) {
	if err := s.store.SetAutoSuspend(ctx, accountID, on, s.now()); err != nil {
		return nil, err
	}
	s.audit(ctx, AuditEntry{AccountID: accountID, Action: ActionSpendGuard, Detail: "auto_suspend=" + strconv.FormatBool(on)})
	return s.store.SpendGuard(ctx, accountID)
}

// checkSpend runs the spend-anomaly rule for accounts whose usage was just
// ingested: at once for an account whose records in the batch cost a
// tenth of SpendFloorMicros or more, else at most once per
// SpendCheckEvery in this process. Its failures are logged; they never
// undo the ingestion.
//
// The rule: the spend of the last hour exceeds both SpendFloorMicros and
// SpendMultiple times the 95th percentile of the account's hourly spend
// over the SpendHistory before that hour (hours without usage count as
// zero, so a new account is held to the floor alone).
func (s *Service) checkSpend(ctx context.Context, records []UsageRecord) {
	now := s.now()
	c := &s.cfg.Abuse
	batch := make(map[string]int64, 4)
	var order []string
	for i := range records {
		r := &records[i]
		if r.CostMicros <= 0 {
			continue
		}
		if _, ok := batch[r.AccountID]; !ok {
			order = append(order, r.AccountID)
		}
		batch[r.AccountID] += r.CostMicros
	}
	for _, id := range order {
		s.abuse.mu.Lock()
		last, seen := s.abuse.checked[id]
		due := !seen || now.Sub(last) >= c.SpendCheckEvery || batch[id] >= c.SpendFloorMicros/10
		if due {
			if len(s.abuse.checked) >= failguard.MaxKeys {
				clear(s.abuse.checked)
			}
			s.abuse.checked[id] = now
		}
		s.abuse.mu.Unlock()
		if !due {
			continue
		}
		if err := s.checkAccountSpend(ctx, id, now); err != nil {
			s.cfg.Logger.Error("spend check failed", "account_id", id, "err", err)
		}
	}
}

func (s *Service) checkAccountSpend(ctx context.Context, accountID string, now time.Time) error {
	c := &s.cfg.Abuse
	recent, err := s.store.HourlySpend(ctx, accountID, now.Add(-time.Hour), 1)
	if err != nil {
		return err
	}
	if len(recent) == 0 || recent[0] <= c.SpendFloorMicros {
		return nil
	}
	g, err := s.store.SpendGuard(ctx, accountID)
	if err != nil || g.FlaggedAt != nil {
		return err
	}
	hours := int(c.SpendHistory / time.Hour)
	hist, err := s.store.HourlySpend(ctx, accountID, now.Add(-time.Hour-time.Duration(hours)*time.Hour), hours)
	if err != nil {
		return err
	}
	p95 := percentile95(hist)
	limit := max(c.SpendFloorMicros, c.SpendMultiple*p95)
	if recent[0] <= limit {
		return nil
	}
	reason := fmt.Sprintf("spent %s in the last hour, over %s (%d× the hourly p95 of %s, or the %s floor)",
		FormatMicros(recent[0], BillingCurrency), FormatMicros(limit, BillingCurrency), c.SpendMultiple,
		FormatMicros(p95, BillingCurrency), FormatMicros(c.SpendFloorMicros, BillingCurrency))
	won, err := s.store.FlagSpend(ctx, accountID, reason, now)
	if err != nil || !won {
		return err
	}
	sys := WithActor(ctx, ActorSystem)
	s.audit(sys, AuditEntry{AccountID: accountID, Action: ActionSpendFlagged, Detail: "last hour " +
		FormatMicros(recent[0], BillingCurrency) + ", limit " + FormatMicros(limit, BillingCurrency)})
	s.cfg.Logger.Warn("spend anomaly flagged", "account_id", accountID, "last_hour_micros", recent[0],
		"limit_micros", limit, "auto_suspend", g.AutoSuspend)
	if !g.AutoSuspend {
		return nil
	}
	if err := s.suspend(sys, accountID, "spend anomaly"); err != nil {
		return err
	}
	a, err := s.opened(s.store.Account(ctx, accountID))
	if err != nil {
		return err
	}
	_, err = s.EnqueueEmail(ctx, AccountSuspendedEmail(AccountSuspendedNotice{
		Key:       "suspended:" + accountID + ":" + strconv.FormatInt(now.UnixMilli(), 10),
		Recipient: Recipient{AccountID: a.ID, Email: a.Email, Name: a.Name}, Reason: reason, At: now},
		s.cfg.Abuse.Links))
	return err
}

// percentile95 is the nearest-rank 95th percentile of v.
func percentile95(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	sorted := slices.Clone(v)
	slices.Sort(sorted)
	rank := (95*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

// SuspendAccount suspends the account: the edge refuses its keys (status
// suspended) once its cached snapshots expire, within their TTL. The
// reason is recorded in the audit log, for operators; it is not sent to
// the customer.
func (s *Service) SuspendAccount(ctx context.Context, accountID, reason string) error {
	return s.suspend(ctx, accountID, reason)
}

func (s *Service) suspend(ctx context.Context, accountID, reason string) error {
	if err := checkText("reason", reason, maxAuditFieldLen, false); err != nil {
		return err
	}
	if err := s.SetAccountStatus(ctx, accountID, AccountSuspended); err != nil {
		return err
	}
	s.audit(ctx, AuditEntry{AccountID: accountID, Action: ActionAccountSuspend, Target: accountID, Detail: reason})
	return nil
}

// RestoreAccount reinstates a suspended account and clears its spend flag,
// so the spend check watches it again.
func (s *Service) RestoreAccount(ctx context.Context, accountID string) error {
	if err := s.SetAccountStatus(ctx, accountID, AccountActive); err != nil {
		return err
	}
	if err := s.store.ClearSpendFlag(ctx, accountID); err != nil {
		return err
	}
	s.audit(ctx, AuditEntry{AccountID: accountID, Action: ActionAccountRestore, Target: accountID})
	return nil
}
