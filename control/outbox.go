package control

import (
	"context"
	"errors"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"
)

// Email kinds the billing emails use. EnqueueEmail accepts any kind that
// is a short identifier; these are the ones Switchyard sends.
const (
	EmailTopUpReceipt    = "topup_receipt"
	EmailLowBalance      = "low_balance"
	EmailAutoTopUpFailed = "auto_topup_failed"
)

// Outbox states.
const (
	// OutboxQueued waits for its next attempt.
	OutboxQueued = "queued"
	// OutboxSending is leased to one sender until its lease runs out; a
	// sender that died leaves it to be claimed again after that.
	OutboxSending = "sending"
	OutboxSent    = "sent"
	// OutboxFailed was given up on and is kept for the operator.
	OutboxFailed = "failed"
)

// Email is what EnqueueEmail takes. It carries metadata only (amounts,
// balances, links), never content of API requests.
type Email struct {
	AccountID string
	// To is one address, without a display name.
	To   string
	Kind string
	// Subject is one line.
	Subject string
	// Text is the plain-text body; required.
	Text string
	// HTML is an optional HTML alternative.
	HTML string
	// DedupeKey makes enqueueing idempotent: a second email with the same
	// key is dropped. Name the event it is about: "receipt:<payment id>",
	// "low-balance:<account>:<crossing>".
	DedupeKey string
}

// OutboxEmail is an email in the outbox, as stored.
type OutboxEmail struct {
	Email
	ID            string
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	// LastError is the class of the last failure (MailError.Class), never
	// a server's message, which may quote addresses.
	LastError string
	CreatedAt time.Time
	SentAt    *time.Time
}

// EmailOutcome is what became of one claimed email.
type EmailOutcome struct {
	// Status is OutboxSent, OutboxQueued (retry at RetryAt) or
	// OutboxFailed.
	Status    string
	At        time.Time
	RetryAt   time.Time
	LastError string
}

// OutboxStore keeps the email outbox. Claims are leases, so that several
// control replicas can share one outbox without sending an email twice.
type OutboxStore interface {
	// EnqueueEmail inserts e unless an email with its DedupeKey exists,
	// and reports whether it did.
	EnqueueEmail(ctx context.Context, e *OutboxEmail) (bool, error)
	// ClaimEmails leases to claim, until leaseUntil, up to limit emails
	// that are due at now: queued ones whose next attempt has come and
	// sending ones whose lease ran out. It counts an attempt on each and
	// returns them, oldest due first. Sending ones whose lease ran out
	// after maxAttempts are marked failed ("lease_expired") instead.
	ClaimEmails(ctx context.Context, claim string, now, leaseUntil time.Time, limit, maxAttempts int) ([]OutboxEmail, error)
	// FinishEmail records the outcome of an email held under claim. It
	// changes nothing when the claim no longer holds.
	FinishEmail(ctx context.Context, id, claim string, o EmailOutcome) error
	// OutboxEmails lists emails in one status (all when empty), newest
	// first, at most limit.
	OutboxEmails(ctx context.Context, status string, limit int) ([]OutboxEmail, error)
}

// Mailer sends one email. control/mail implements it over SMTP.
type Mailer interface {
	// Send delivers m to m.To. id is the outbox id, stable across
	// retries, for a Message-ID header.
	//
	// # Errors
	//
	// Errors should be, or wrap, a *MailError; any other error is logged
	// as class "unknown" and retried.
	Send(ctx context.Context, id string, m *Email) error
}

// MailError is a failure to send, classified so that logs and the outbox
// can record it without the server's text, which may quote addresses.
type MailError struct {
	// Class is a short word: "connect", "tls", "auth", "sender",
	// "recipient", "data", "timeout".
	Class string
	// Permanent failures (a recipient the server refuses for good) are not
	// retried.
	Permanent bool
	Err       error
}

func (e *MailError) Error() string { return "mail: " + e.Class + ": " + e.Err.Error() }
func (e *MailError) Unwrap() error { return e.Err }

// MailConfig configures the outbox sender. The zero value leaves every
// email queued.
type MailConfig struct {
	// Mailer sends. Default nil: emails are queued and kept until a
	// service with a Mailer sends them.
	Mailer Mailer
	// Interval is how often the sender looks for due emails. Default 5s.
	Interval time.Duration
	// Backoff is the wait before the first retry; it doubles with each
	// further failure, up to MaxBackoff. Default 30s.
	Backoff time.Duration
	// MaxBackoff caps the wait between retries. Default 1h.
	MaxBackoff time.Duration
	// MaxAttempts is how many times an email is tried before it is marked
	// failed. Default 10 (about 4.5 hours with the default backoff).
	MaxAttempts int
	// Lease is how long a sender holds a claimed email; if it dies, another
	// takes the email over when the lease runs out. It must exceed
	// SendTimeout. Default 2m.
	Lease time.Duration
	// SendTimeout bounds one delivery. Default 30s.
	SendTimeout time.Duration
	// Manual leaves sending to whoever calls DeliverEmails (an operator
	// command, a test): Start runs no sender loop. Default false.
	Manual bool
	// Logger receives the sender's events: outbox ids, kinds, attempts and
	// error classes, never addresses, subjects or bodies. Default
	// Config.Logger.
	Logger *slog.Logger
}

func (c MailConfig) withDefaults() MailConfig {
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.Backoff <= 0 {
		c.Backoff = 30 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Hour
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 30 * time.Second
	}
	if c.Lease <= 0 {
		c.Lease = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c *MailConfig) validate() error {
	if c.Lease <= c.SendTimeout {
		return Errorf(EINVALID, "the mail lease must be longer than the send timeout")
	}
	return nil
}

// Bounds on an email. A billing email is a few hundred bytes.
const (
	maxSubjectLen   = 200
	maxEmailTextLen = 64 << 10
	maxEmailHTMLLen = 256 << 10
	maxEmailKindLen = 64
	// claimBatch is how many emails one claim leases.
	claimBatch = 16
)

func (e *Email) validate() error {
	if err := checkIdent("account_id", e.AccountID, maxRefLen); err != nil {
		return err
	}
	if err := checkRecipient(e.To); err != nil {
		return err
	}
	if err := checkIdent("kind", e.Kind, maxEmailKindLen); err != nil {
		return err
	}
	if strings.TrimSpace(e.Subject) == "" {
		return Errorf(EINVALID, "subject is required")
	}
	if err := checkText("subject", e.Subject, maxSubjectLen, false); err != nil {
		return err
	}
	if strings.TrimSpace(e.Text) == "" {
		return Errorf(EINVALID, "text is required")
	}
	if err := checkText("text", e.Text, maxEmailTextLen, true); err != nil {
		return err
	}
	if err := checkText("html", e.HTML, maxEmailHTMLLen, true); err != nil {
		return err
	}
	return checkIdent("dedupe_key", e.DedupeKey, maxRefLen)
}

// checkRecipient is checkEmail without the normalisation rule: accounts
// store lowercase addresses, but an email may go anywhere valid.
func checkRecipient(s string) error {
	if s == "" || len(s) > maxEmailLen {
		return Errorf(EINVALID, "to is not a valid address")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return Errorf(EINVALID, "to is not a valid address")
	}
	return nil
}

// EnqueueEmail puts e in the outbox, to be sent by whichever replica's
// sender claims it first, and reports whether it was new. An email whose
// DedupeKey is already in the outbox (in any state) is not queued again,
// so callers may enqueue on every retry of the event it is about.
//
// # Errors
//
// EINVALID for a bad field; the message names the field, never its value.
func (s *Service) EnqueueEmail(ctx context.Context, e Email) (bool, error) {
	return enqueueEmail(ctx, s.store, s.cfg.Keyring, s.now(), e)
}

// enqueueEmail queues e, its recipient, subject and bodies sealed by kr
// (plain text without one) under the new row's id.
func enqueueEmail(ctx context.Context, st OutboxStore, kr *Keyring, now time.Time, e Email) (bool, error) {
	if err := e.validate(); err != nil {
		return false, err
	}
	m := &OutboxEmail{Email: e, ID: newID("mail"), Status: OutboxQueued, NextAttemptAt: now, CreatedAt: now}
	if err := sealFields(kr, m.ID, emailFields(&m.Email)); err != nil {
		return false, err
	}
	return st.EnqueueEmail(ctx, m)
}

// emailFields are an outbox email's sealed fields.
func emailFields(e *Email) []sealedField {
	return []sealedField{{FieldEmailTo, &e.To}, {FieldEmailSubject, &e.Subject}, {FieldEmailText, &e.Text},
		{FieldEmailHTML, &e.HTML}}
}

// openEmail opens m's sealed fields in place.
func (s *Service) openEmail(m *OutboxEmail) error {
	return openFields(s.cfg.Keyring, m.ID, emailFields(&m.Email))
}

// OutboxEmails lists the outbox for operators: emails in status (every
// status when empty), newest first, at most limit (default 100).
func (s *Service) OutboxEmails(ctx context.Context, status string, limit int) ([]OutboxEmail, error) {
	switch status {
	case "", OutboxQueued, OutboxSending, OutboxSent, OutboxFailed:
	default:
		return nil, Errorf(EINVALID, "unknown outbox status")
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	out, err := s.store.OutboxEmails(ctx, status, limit)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := s.openEmail(&out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DeliverEmails sends every email due now, in batches, and reports how
// many were sent. The sender Start runs calls it each Interval; tests and
// operators may call it to flush the outbox. Without a Mailer it sends
// nothing.
//
// A sender that dies after the server accepted an email but before
// recording it leaves the email to be sent again once its lease runs out:
// a duplicate in that window is the price of never losing one. Retries
// carry the same Message-ID, which lets mail clients fold them.
func (s *Service) DeliverEmails(ctx context.Context) (int, error) {
	mc := &s.cfg.Mail
	if mc.Mailer == nil {
		return 0, nil
	}
	sent := 0
	for {
		claim := newID("claim")
		now := s.now()
		batch, err := s.store.ClaimEmails(ctx, claim, now, now.Add(mc.Lease), claimBatch, mc.MaxAttempts)
		if err != nil {
			return sent, err
		}
		for i := range batch {
			ok, err := s.deliver(ctx, claim, &batch[i])
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
		}
		if len(batch) < claimBatch || ctx.Err() != nil {
			return sent, ctx.Err()
		}
	}
}

// deliver sends one claimed email and records the outcome.
func (s *Service) deliver(ctx context.Context, claim string, m *OutboxEmail) (bool, error) {
	mc := &s.cfg.Mail
	if err := s.openEmail(m); err != nil {
		// A key missing from this replica: leave the lease to run out, so
		// that a replica that has it sends the email.
		mc.Logger.Error("email cannot be opened", "outbox_id", m.ID, "err", err.Error())
		return false, nil
	}
	sendCtx, cancel := context.WithTimeout(ctx, mc.SendTimeout)
	err := mc.Mailer.Send(sendCtx, m.ID, &m.Email)
	cancel()
	now := s.now()
	log := mc.Logger.With("outbox_id", m.ID, "kind", m.Kind, "account_id", m.AccountID, "attempt", m.Attempts)
	if err == nil {
		log.Info("email sent")
		return true, s.finish(ctx, m.ID, claim, EmailOutcome{Status: OutboxSent, At: now})
	}
	if ctx.Err() != nil {
		// Shutting down: the lease runs out and another sender retries.
		return false, ctx.Err()
	}
	class, permanent := "unknown", false
	var me *MailError
	if errors.As(err, &me) {
		class, permanent = me.Class, me.Permanent
	}
	o := EmailOutcome{Status: OutboxQueued, At: now, LastError: class, RetryAt: now.Add(s.backoff(m.Attempts))}
	if permanent || m.Attempts >= mc.MaxAttempts {
		o.Status = OutboxFailed
		log.Error("email given up on", "error_class", class, "permanent", permanent)
	} else {
		log.Warn("email not sent; will retry", "error_class", class, "retry_at", o.RetryAt)
	}
	return false, s.finish(ctx, m.ID, claim, o)
}

// finish records an outcome, trying again a few times over about two
// seconds when the database is busy (other replicas writing): once the SMTP
// server has an email, failing to record that would send it again when
// the lease runs out.
func (s *Service) finish(ctx context.Context, id, claim string, o EmailOutcome) error {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.store.FinishEmail(ctx, id, claim, o)
		if err == nil || attempt == 5 || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// backoff is the wait after the attempt-th failure.
func (s *Service) backoff(attempt int) time.Duration {
	mc := &s.cfg.Mail
	d := mc.Backoff
	for i := 1; i < attempt && d < mc.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, mc.MaxBackoff)
}

// outboxSender is the loop Start runs when a Mailer is configured.
type outboxSender struct {
	once sync.Once
	stop context.CancelFunc
	done chan struct{}
}

func (s *Service) startOutbox() {
	s.outbox.once.Do(func() {
		ctx, stop := context.WithCancel(context.Background())
		s.outbox.stop, s.outbox.done = stop, make(chan struct{})
		go s.runOutbox(ctx)
	})
}

func (s *Service) runOutbox(ctx context.Context) {
	defer close(s.outbox.done)
	mc := &s.cfg.Mail
	t := time.NewTicker(mc.Interval)
	defer t.Stop()
	for {
		if _, err := s.DeliverEmails(ctx); err != nil && ctx.Err() == nil {
			mc.Logger.Error("email outbox", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// stopOutbox stops the sender and waits for it; an email being sent is
// abandoned to its lease.
func (s *Service) stopOutbox() {
	s.outbox.once.Do(func() {}) // a later Start must not start one
	if s.outbox.stop != nil {
		s.outbox.stop()
		<-s.outbox.done
	}
}
