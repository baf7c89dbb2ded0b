package control

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Audit actors: who did it.
const (
	// ActorAccount is the account's owner, through the API.
	ActorAccount = "account"
	// ActorOperator is an operator, through `switchyard admin`.
	ActorOperator = "operator"
	// ActorSystem is the service itself: webhooks, the spend check, jobs.
	ActorSystem = "system"
)

// Audit results.
const (
	AuditOK = "ok"
	// AuditDenied is a refusal: a wrong password, a missing CSRF token.
	AuditDenied = "denied"
	// AuditFailed is any other failure.
	AuditFailed = "failed"
	// AuditThrottled is an attempt refused by a rate limit.
	AuditThrottled = "throttled"
)

// Audit actions the service itself records. The HTTP layer records each
// state-changing route under its own action name as well (see
// control/httpapi); other callers may use any short dotted name.
const (
	ActionSignup           = "account.signup"
	ActionLogin            = "session.login"
	ActionLoginThrottled   = "session.login_throttled"
	ActionLogout           = "session.logout"
	ActionKeyCreate        = "key.create"
	ActionKeyUpdate        = "key.update"
	ActionKeyRevoke        = "key.revoke"
	ActionTokenCreate      = "token.create"
	ActionTokenRevoke      = "token.revoke"
	ActionPluginUpload     = "plugin.upload"
	ActionPluginActivate   = "plugin.activate"
	ActionPluginRollback   = "plugin.rollback"
	ActionPluginDeactivate = "plugin.deactivate"
	ActionCheckout         = "billing.checkout"
	ActionAutoTopUp        = "billing.auto_topup"
	ActionPaymentApplied   = "billing.payment_applied"
	ActionSpendGuard       = "account.spend_guard"
	ActionSpendFlagged     = "account.spend_flagged"
	ActionAccountSuspend   = "account.suspend"
	ActionAccountRestore   = "account.restore"
	ActionAccountExport    = "account.export"
	ActionAccountDeletion  = "account.delete"
)

// AuditEntry is one line of the audit and access log: who did what, when,
// from where, with what result. It never holds request content or
// secrets: Target is an id (key_…, plugin_…, a payment intent), never a
// key or token, and Detail is a short phrase chosen by the code, never
// text a client sent.
type AuditEntry struct {
	// ID orders entries; it is set when the entry is stored.
	ID int64 `json:"id"`
	// At is set by the service's clock.
	At time.Time `json:"at"`
	// AccountID is the account acted on; empty when none is known (a
	// sign-in attempt for an unknown email).
	AccountID string `json:"account_id,omitempty"`
	// Actor is ActorAccount, ActorOperator or ActorSystem. Default: the
	// context's (WithActor), else ActorAccount.
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	// ClientIP and UserAgent default to the context's (WithClient); the
	// user agent is cut to 200 bytes.
	ClientIP  string `json:"client_ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	// Result is AuditOK, AuditDenied, AuditFailed or AuditThrottled.
	// Default AuditOK.
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// AuditStore keeps the audit log, append-only.
type AuditStore interface {
	// AppendAudit stores e and sets its ID.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// AuditEntries lists entries newest first: the account's (every
	// account's when accountID is empty), with ID below before when
	// before > 0, at most limit.
	AuditEntries(ctx context.Context, accountID string, before int64, limit int) ([]AuditEntry, error)
}

// Bounds on an entry's fields, so a hostile client cannot grow the log's
// rows through its user agent.
const (
	maxUserAgentLen  = 200
	maxAuditFieldLen = 200
)

type clientKey struct{}

type clientInfo struct{ ip, userAgent string }

// WithClient returns ctx carrying the client's address and user agent,
// which audit entries made under it record. The HTTP API sets it once per
// request.
func WithClient(ctx context.Context, ip, userAgent string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientInfo{ip: ip, userAgent: truncateUTF8(userAgent, maxUserAgentLen)})
}

// ClientFrom returns what WithClient put in ctx.
func ClientFrom(ctx context.Context) (ip, userAgent string) {
	c, _ := ctx.Value(clientKey{}).(clientInfo)
	return c.ip, c.userAgent
}

type actorKey struct{}

// WithActor returns ctx whose audit entries name actor (ActorOperator for
// the admin commands, ActorSystem for jobs) unless they name their own.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Audit appends e to the audit log, filling At from the clock, Actor and
// the client's address and user agent from ctx (WithActor, WithClient)
// where e leaves them empty, and Result with AuditOK.
//
// Call it for every action a person (or the service on their behalf)
// takes on account data: the service and the HTTP API already record
// sign-ins, keys, tokens, plugins, billing and suspensions.
//
// # Errors
//
// EINVALID for an empty Action; anything else is internal. Callers that
// must not fail because of the log should log the error and go on.
func (s *Service) Audit(ctx context.Context, e AuditEntry) error {
	if strings.TrimSpace(e.Action) == "" {
		return Errorf(EINVALID, "an audit entry needs an action")
	}
	ip, ua := ClientFrom(ctx)
	if e.ClientIP == "" {
		e.ClientIP = ip
	}
	if e.UserAgent == "" {
		e.UserAgent = ua
	}
	if e.Actor == "" {
		e.Actor, _ = ctx.Value(actorKey{}).(string)
		if e.Actor == "" {
			e.Actor = ActorAccount
		}
	}
	if e.Result == "" {
		e.Result = AuditOK
	}
	e.ID = 0
	e.At = s.now()
	e.ClientIP = truncateUTF8(e.ClientIP, maxAuditFieldLen)
	e.UserAgent = truncateUTF8(e.UserAgent, maxUserAgentLen)
	e.Action = truncateUTF8(e.Action, maxAuditFieldLen)
	e.Target = truncateUTF8(e.Target, maxAuditFieldLen)
	e.Detail = truncateUTF8(e.Detail, maxAuditFieldLen)
	return s.store.AppendAudit(ctx, &e)
}

// audit is Audit for the service's own records: a failure to write the
// log is logged, never returned, so it cannot undo what was done.
func (s *Service) audit(ctx context.Context, e AuditEntry) {
	if err := s.Audit(ctx, e); err != nil {
		s.cfg.Logger.Error("audit log write failed", "action", e.Action, "account_id", e.AccountID, "err", err)
	}
}

// AuditPage is one page of the audit log, newest first.
type AuditPage struct {
	Data []AuditEntry `json:"data"`
	// NextCursor fetches the next (older) page; empty on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

// AuditLog lists the audit log newest first: accountID's entries, or
// every account's when accountID is empty (operators only). limit defaults
// to 100 and is at most 1000; cursor is a page's NextCursor.
//
// # Errors
//
// EINVALID for a malformed cursor or limit.
func (s *Service) AuditLog(ctx context.Context, accountID, cursor string, limit int) (*AuditPage, error) {
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 1000 {
		return nil, Errorf(EINVALID, "limit must be between 1 and 1000")
	}
	var before int64
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n < 1 {
			return nil, Errorf(EINVALID, "cursor is not one this API returned")
		}
		before = n
	}
	entries, err := s.store.AuditEntries(ctx, accountID, before, limit+1)
	if err != nil {
		return nil, err
	}
	page := &AuditPage{Data: entries}
	if len(entries) > limit {
		page.Data = entries[:limit]
		page.NextCursor = strconv.FormatInt(entries[limit-1].ID, 10)
	}
	if page.Data == nil {
		page.Data = []AuditEntry{}
	}
	return page, nil
}
