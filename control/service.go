package control

import (
	"context"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

// Config configures a Service. The zero value is usable; each field's
// default is stated beside it. A Config must not change after NewService.
type Config struct {
	// Clock tells the time. Default SystemClock.
	Clock Clock
	// StartingCreditMicros is granted to each new account as an adjustment
	// ledger entry. Default 0 (no grant).
	StartingCreditMicros int64
	// LowBalanceMicros is the balance under which key snapshots report
	// edgeapi.BalanceLow. Default 1,000,000 ($1).
	LowBalanceMicros int64
	// SessionTTL is how long a dashboard session lasts. Default 14 days.
	SessionTTL time.Duration
	// Password sets argon2id's cost; see PasswordParams for defaults.
	Password PasswordParams
	// MaxConcurrentHashes bounds password hashes in flight, which bounds the
	// memory a login flood can take (each hash holds Password.MemoryKiB).
	// Default GOMAXPROCS.
	MaxConcurrentHashes int
	// Catalog seeds an empty database's model catalog. Default
	// DefaultCatalog().
	Catalog []Model
	// Plugins checks uploaded routing plugins. Default nil: uploads are
	// refused, since a module nobody checked would only fail at the edge.
	Plugins PluginValidator
	// PluginMaxBytes is the largest plugin module accepted. Default 16 MiB,
	// the native edge's limit.
	PluginMaxBytes int
	// WorkersMaxBytes is the largest module the Cloudflare Workers edge
	// runs; larger uploads are accepted with a warning. Default 1 MiB.
	WorkersMaxBytes int
	// Mail configures the email outbox's sender. Default: no Mailer, so
	// emails wait in the outbox; see MailConfig.
	Mail MailConfig
	// Payments takes card top-ups (control/billing over Stripe). Default
	// nil: billing routes answer EUNAVAILABLE.
	Payments PaymentProcessor
	// Billing bounds top-ups and times auto top-ups; see BillingConfig.
	Billing BillingConfig
	// Notifier tells customers about receipts, low balances and failed
	// auto top-ups (*BillingEmails does, by email). Default
	// NopBillingNotifier.
	Notifier BillingNotifier
	// Logger receives what the service itself reports (billing alarms).
	// Default slog.Default().
	Logger *slog.Logger
	// Retention sets how long records are kept and how often the
	// retention job runs; see RetentionConfig.
	Retention RetentionConfig
	// Abuse bounds sign-in guessing and sets the spend-anomaly rule; see
	// AbuseConfig.
	Abuse AbuseConfig
	// Keyring seals names, emails, companies, billing addresses, phone
	// numbers and queued emails at rest (every field in SealedFields) with AES-256-GCM. Default nil: they are
	// stored in plain text and Start logs a warning; `switchyard control`
	// refuses to start without a key.
	Keyring *Keyring
}

// Service is the control service's behaviour over a Store: validation,
// secrets, pricing and the rules of the ledger. The HTTP API and the
// operator CLI both call it; it is safe for concurrent use.
type Service struct {
	store   Store
	cfg     Config
	hashSem chan struct{}

	// dummyHash is verified against when an email is unknown, so a failed
	// login takes as long whether or not the account exists.
	dummyOnce sync.Once
	dummyHash string

	prices atomic.Pointer[priceList]

	outbox    outboxSender
	retention retentionLoop
	abuse     *abuseState
}

// priceList is the catalog indexed for pricing, cached by version.
type priceList struct {
	version int
	byID    map[string]*Model
}

// NewService returns a Service over store. It does no I/O; call Start
// before serving.
func NewService(store Store, cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	if cfg.LowBalanceMicros == 0 {
		cfg.LowBalanceMicros = 1_000_000
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 14 * 24 * time.Hour
	}
	cfg.Password = cfg.Password.withDefaults()
	if cfg.MaxConcurrentHashes <= 0 {
		cfg.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	if cfg.Catalog == nil {
		cfg.Catalog = DefaultCatalog()
	}
	if cfg.PluginMaxBytes <= 0 {
		cfg.PluginMaxBytes = defaultPluginBytes
	}
	if cfg.WorkersMaxBytes <= 0 {
		cfg.WorkersMaxBytes = defaultWorkersBytes
	}
	cfg.Billing = cfg.Billing.withDefaults()
	if cfg.Notifier == nil {
		cfg.Notifier = NopBillingNotifier{}
	}
	if be, ok := cfg.Notifier.(*BillingEmails); ok && be.Keyring == nil {
		be.Keyring = cfg.Keyring // the emails it queues are sealed like the service's
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Mail.Logger == nil {
		cfg.Mail.Logger = cfg.Logger
	}
	cfg.Mail = cfg.Mail.withDefaults()
	cfg.Retention = cfg.Retention.withDefaults()
	cfg.Abuse = cfg.Abuse.withDefaults()
	return &Service{store: store, cfg: cfg, hashSem: make(chan struct{}, cfg.MaxConcurrentHashes),
		abuse: newAbuseState(cfg.Abuse)}
}

// Start checks the configuration and seeds the model catalog if the
// database has never had one. Several replicas may start at once. With a
// Config.Mail.Mailer it also starts the outbox sender, and with a
// Config.Retention.Interval the retention job; Close stops both.
func (s *Service) Start(ctx context.Context) error {
	switch c := &s.cfg; {
	case c.StartingCreditMicros < 0 || c.StartingCreditMicros > maxAdjustment:
		return Errorf(EINVALID, "starting credit must be between 0 and %d micro-dollars", int64(maxAdjustment))
	case c.LowBalanceMicros < 0:
		return Errorf(EINVALID, "the low-balance threshold must not be negative")
	case c.SessionTTL < time.Minute:
		return Errorf(EINVALID, "sessions must last at least a minute")
	}
	if err := s.cfg.Billing.validate(); err != nil {
		return err
	}
	if err := s.cfg.Mail.validate(); err != nil {
		return err
	}
	if err := s.cfg.Retention.validate(); err != nil {
		return err
	}
	if s.cfg.Keyring == nil {
		s.cfg.Logger.Warn("no encryption key: names, emails, companies, billing addresses and phone numbers are stored in plain text")
	}
	s.dummyOnce.Do(s.makeDummyHash)
	models := make([]Model, len(s.cfg.Catalog))
	copy(models, s.cfg.Catalog)
	for i := range models {
		if err := models[i].normalize(); err != nil {
			return err
		}
	}
	if _, err := s.store.SeedCatalog(ctx, models, s.now()); err != nil {
		return err
	}
	if s.cfg.Mail.Mailer != nil && !s.cfg.Mail.Manual {
		s.startOutbox()
	}
	if s.cfg.Retention.Interval > 0 {
		s.startRetention()
	}
	return nil
}

// Close stops what Start started. It is safe without Start and more than
// once; it does not close the Store.
func (s *Service) Close() error {
	s.stopOutbox()
	s.stopRetention()
	return nil
}

// Ping checks the database.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }

func (s *Service) now() time.Time { return s.cfg.Clock.Now().UTC() }

// hashing runs fn while holding a slot of the hashing semaphore.
func (s *Service) hashing(ctx context.Context, fn func()) error {
	select {
	case s.hashSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashSem }()
	fn()
	return nil
}

// CreateAccount signs a customer up. The account starts with
// Config.StartingCreditMicros of credit.
//
// # Errors
//
// EINVALID for a bad field, ECONFLICT when the email is taken.
func (s *Service) CreateAccount(ctx context.Context, in AccountCreate) (*Account, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	now := s.now()
	a := &Account{
		ID:             newID("acct"),
		Name:           in.Name,
		Email:          in.Email,
		Company:        strings.TrimSpace(in.Company),
		BillingAddress: strings.TrimSpace(in.BillingAddress),
		Phone:          strings.TrimSpace(in.Phone),
		Status:         AccountActive,
		CreatedAt:      now,
	}
	var hash string
	if err := s.hashing(ctx, func() { hash = hashPassword(s.cfg.Password, in.Password) }); err != nil {
		return nil, err
	}
	var grant *LedgerEntry
	if s.cfg.StartingCreditMicros != 0 {
		grant = &LedgerEntry{AccountID: a.ID, Kind: LedgerAdjustment, AmountMicros: s.cfg.StartingCreditMicros,
			Note: "starting credit", CreatedAt: now}
	}
	sealed, err := s.sealAccount(a)
	if err != nil {
		return nil, err
	}
	if err := s.store.CreateAccount(ctx, sealed, s.cfg.Keyring.EmailKey(a.Email), hash, grant); err != nil {
		return nil, err
	}
	if grant != nil {
		a.BalanceMicros = grant.BalanceAfterMicros
	}
	return a, nil
}

func (s *Service) makeDummyHash() { s.dummyHash = hashPassword(s.cfg.Password, randomBase62(16)) }

// Session is a signed-in dashboard session. Token is the cookie's value;
// only its hash is stored.
type Session struct {
	Token     string
	ExpiresAt time.Time
	// TTL is the session's lifetime from now; cookies should carry it as
	// Max-Age, which unlike an absolute expiry does not depend on the
	// browser's clock agreeing with ours.
	TTL time.Duration
}

// Login checks an email and password and opens a session.
//
// # Errors
//
// EUNAUTHORIZED for an unknown email or a wrong password, with the same
// message and about the same delay for both; ETHROTTLED (a
// *ThrottledError) once the client's address (WithClient) or the email
// has used up its failures (Config.Abuse). Every checked attempt is
// audited; throttling once each time a bound is used up.
func (s *Service) Login(ctx context.Context, email, password string) (*Account, *Session, error) {
	denied := Errorf(EUNAUTHORIZED, "invalid email or password")
	email = normalizeEmail(email)
	if wait, err := s.loginWait(ctx, email); err != nil {
		return nil, nil, err
	} else if wait > 0 {
		return nil, nil, throttled(wait)
	}
	if len(password) > maxPasswordLen {
		s.loginFailed(ctx, email, "")
		s.audit(ctx, AuditEntry{Action: ActionLogin, Result: AuditDenied})
		return nil, nil, denied
	}
	a, hash, err := s.store.AccountCredentials(ctx, s.cfg.Keyring.EmailKey(email))
	switch {
	case ErrorCode(err) == ENOTFOUND:
		s.dummyOnce.Do(s.makeDummyHash)
		hash = s.dummyHash
	case err != nil:
		return nil, nil, err
	}
	var ok bool
	var verr error
	if err := s.hashing(ctx, func() { ok, verr = verifyPassword(hash, password) }); err != nil {
		return nil, nil, err
	}
	if verr != nil {
		return nil, nil, verr
	}
	if !ok || a == nil {
		var id string
		if a != nil {
			id = a.ID
		}
		s.audit(ctx, AuditEntry{AccountID: id, Action: ActionLogin, Result: AuditDenied})
		s.loginFailed(ctx, email, id)
		return nil, nil, denied
	}
	if err := s.openAccount(a); err != nil {
		return nil, nil, err
	}
	sess, err := s.openSession(ctx, a.ID)
	if err != nil {
		return nil, nil, err
	}
	s.audit(ctx, AuditEntry{AccountID: a.ID, Action: ActionLogin})
	return a, sess, nil
}

// Signup creates an account, as CreateAccount does, and signs it in.
func (s *Service) Signup(ctx context.Context, in AccountCreate) (*Account, *Session, error) {
	a, err := s.CreateAccount(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	s.audit(ctx, AuditEntry{AccountID: a.ID, Action: ActionSignup})
	sess, err := s.openSession(ctx, a.ID)
	if err != nil {
		return nil, nil, err
	}
	return a, sess, nil
}

func (s *Service) openSession(ctx context.Context, accountID string) (*Session, error) {
	now := s.now()
	secret := randomBase62(secretRandomLen)
	exp := now.Add(s.cfg.SessionTTL)
	t := &Token{ID: newID("ses"), AccountID: accountID, Kind: TokenSession, CreatedAt: now, ExpiresAt: &exp}
	if err := s.store.CreateToken(ctx, t, HashSecret(secret)); err != nil {
		return nil, err
	}
	return &Session{Token: secret, ExpiresAt: exp, TTL: s.cfg.SessionTTL}, nil
}

// Logout ends the session whose cookie value is token; an unknown token is
// not an error.
func (s *Service) Logout(ctx context.Context, accountID, token string) error {
	err := s.store.RevokeToken(ctx, accountID, "", HashSecret(token), s.now())
	if ErrorCode(err) == ENOTFOUND {
		return nil
	}
	return err
}

// Authenticate returns the account a session or management token belongs
// to.
//
// # Errors
//
// EUNAUTHORIZED when the token is unknown, revoked or expired.
func (s *Service) Authenticate(ctx context.Context, token string) (*Account, error) {
	denied := Errorf(EUNAUTHORIZED, "invalid or expired token")
	if token == "" || len(token) > 256 {
		return nil, denied
	}
	t, a, err := s.store.TokenAccount(ctx, HashSecret(token))
	if ErrorCode(err) == ENOTFOUND {
		return nil, denied
	}
	if err != nil {
		return nil, err
	}
	if t.ExpiresAt != nil && !s.now().Before(*t.ExpiresAt) {
		return nil, denied
	}
	return s.opened(a, nil)
}

// Account returns an account with its current balance.
func (s *Service) Account(ctx context.Context, id string) (*Account, error) {
	return s.opened(s.store.Account(ctx, id))
}

// AccountByEmail finds an account for operators.
func (s *Service) AccountByEmail(ctx context.Context, email string) (*Account, error) {
	a, _, err := s.store.AccountCredentials(ctx, s.cfg.Keyring.EmailKey(normalizeEmail(email)))
	return s.opened(a, err)
}

// Accounts lists every account, for operators.
func (s *Service) Accounts(ctx context.Context) ([]Account, error) {
	accounts, err := s.store.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	for i := range accounts {
		if err := s.openAccount(&accounts[i]); err != nil {
			return nil, err
		}
	}
	return accounts, nil
}

// SetAccountStatus suspends (AccountSuspended) or reinstates
// (AccountActive) an account. The edge stops serving a suspended account's
// keys once its cached snapshots expire.
func (s *Service) SetAccountStatus(ctx context.Context, accountID, status string) error {
	if status != AccountActive && status != AccountSuspended {
		return Errorf(EINVALID, "status must be %q or %q", AccountActive, AccountSuspended)
	}
	return s.store.SetAccountStatus(ctx, accountID, status)
}

// CreateManagementToken issues a bearer token for scripts. The returned
// secret is shown once and cannot be recovered.
func (s *Service) CreateManagementToken(ctx context.Context, accountID, name string) (*Token, string, error) {
	name = strings.TrimSpace(name)
	if err := checkKeyName(name); err != nil {
		return nil, "", err
	}
	secret := ManagementTokenPrefix + randomBase62(secretRandomLen)
	t := &Token{ID: newID("tok"), AccountID: accountID, Kind: TokenManagement, Name: name,
		Prefix: secret[:displayPrefixLen], CreatedAt: s.now()}
	if err := s.store.CreateToken(ctx, t, HashSecret(secret)); err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// ManagementTokens lists an account's live management tokens.
func (s *Service) ManagementTokens(ctx context.Context, accountID string) ([]Token, error) {
	return s.store.Tokens(ctx, accountID, TokenManagement)
}

// RevokeManagementToken revokes one of the account's management tokens.
func (s *Service) RevokeManagementToken(ctx context.Context, accountID, id string) error {
	if id == "" {
		return Errorf(ENOTFOUND, "token not found")
	}
	return s.store.RevokeToken(ctx, accountID, id, "", s.now())
}

// CreateKey creates an API key. The returned secret is shown once and
// cannot be recovered; the edge knows the key by HashSecret(secret).
func (s *Service) CreateKey(ctx context.Context, accountID string, in KeyCreate) (*APIKey, string, error) {
	secret := APIKeyPrefix + randomBase62(secretRandomLen)
	k, err := s.createKey(ctx, accountID, secret, in)
	return k, secret, err
}

// minImportedSecretLen keeps operator-chosen secrets out of guessing range.
const minImportedSecretLen = 16

// ImportKey creates an API key with a secret the operator chose, for
// carrying keys over from another system and for the development setup's
// fixed demo key. Customers only ever get generated secrets.
//
// # Errors
//
// EINVALID for a secret under 16 characters, ECONFLICT when the secret is
// already a key.
func (s *Service) ImportKey(ctx context.Context, accountID, secret string, in KeyCreate) (*APIKey, error) {
	if len(secret) < minImportedSecretLen {
		return nil, Errorf(EINVALID, "an imported key secret must be at least %d characters", minImportedSecretLen)
	}
	return s.createKey(ctx, accountID, secret, in)
}

func (s *Service) createKey(ctx context.Context, accountID, secret string, in KeyCreate) (*APIKey, error) {
	now := s.now()
	if err := in.validate(now); err != nil {
		return nil, err
	}
	k := &APIKey{
		ID:            newID("key"),
		AccountID:     accountID,
		Name:          in.Name,
		Prefix:        secret[:displayPrefixLen],
		Status:        edgeapi.KeyActive,
		Limits:        in.Limits,
		AllowedModels: nonNil(in.AllowedModels),
		CreatedAt:     now,
	}
	if in.ExpiresAt != nil {
		t := in.ExpiresAt.UTC()
		k.ExpiresAt = &t
	}
	if err := s.store.CreateKey(ctx, k, HashSecret(secret)); err != nil {
		return nil, err
	}
	return k, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Keys lists an account's API keys, newest first.
func (s *Service) Keys(ctx context.Context, accountID string) ([]APIKey, error) {
	keys, err := s.store.Keys(ctx, accountID)
	now := s.now()
	for i := range keys {
		keys[i].Status = effectiveStatus(keys[i].Status, keys[i].ExpiresAt, now)
	}
	return keys, err
}

// Key returns one of an account's API keys.
func (s *Service) Key(ctx context.Context, accountID, id string) (*APIKey, error) {
	return s.withStatus(s.store.Key(ctx, accountID, id))
}

// UpdateKey changes a key's name, limits, allowed models or expiry.
func (s *Service) UpdateKey(ctx context.Context, accountID, id string, u KeyUpdate) (*APIKey, error) {
	if err := u.validate(s.now()); err != nil {
		return nil, err
	}
	if u.ExpiresAt != nil {
		t := u.ExpiresAt.UTC()
		u.ExpiresAt = &t
	}
	return s.withStatus(s.store.UpdateKey(ctx, accountID, id, &u))
}

// RevokeKey revokes a key for good.
func (s *Service) RevokeKey(ctx context.Context, accountID, id string) (*APIKey, error) {
	return s.withStatus(s.store.RevokeKey(ctx, accountID, id, s.now()))
}

func (s *Service) withStatus(k *APIKey, err error) (*APIKey, error) {
	if err != nil {
		return nil, err
	}
	k.Status = effectiveStatus(k.Status, k.ExpiresAt, s.now())
	return k, nil
}

// KeySnapshot is what the edge caches about a key, looked up by the hex
// SHA-256 of its secret.
//
// # Errors
//
// EINVALID when hash is not 64 lowercase hex digits, ENOTFOUND for an
// unknown key. Revoked, expired and suspended keys are found, with their
// status.
func (s *Service) KeySnapshot(ctx context.Context, hash string) (*edgeapi.KeySnapshot, error) {
	if !isHexHash(hash) {
		return nil, Errorf(EINVALID, "key hash must be 64 lowercase hex digits")
	}
	now := s.now()
	st, err := s.store.KeyState(ctx, hash, now.Format("2006-01"))
	if err != nil {
		return nil, err
	}
	k := &st.Key
	snap := &edgeapi.KeySnapshot{
		KeyID:            k.ID,
		AccountID:        k.AccountID,
		Status:           effectiveStatus(k.Status, k.ExpiresAt, now),
		AllowedModels:    k.AllowedModels,
		ExpiresAt:        k.ExpiresAt,
		Limits:           k.Limits,
		PluginHash:       st.PluginHash,
		PluginFail:       st.PluginFail,
		PluginHeaders:    st.PluginHeaders,
		PluginBody:       st.PluginBody,
		BalanceMicros:    st.BalanceMicros,
		MonthSpendMicros: st.MonthSpendMicros,
	}
	if snap.Status == edgeapi.KeyActive && st.AccountStatus == AccountSuspended {
		snap.Status = edgeapi.KeySuspended
	}
	switch {
	case st.BalanceMicros <= 0:
		snap.Balance = edgeapi.BalanceExhausted
	case st.BalanceMicros < s.cfg.LowBalanceMicros:
		snap.Balance = edgeapi.BalanceLow
	default:
		snap.Balance = edgeapi.BalanceOK
	}
	return snap, nil
}

// Catalog returns the current model catalog.
func (s *Service) Catalog(ctx context.Context) (*Catalog, error) { return s.store.Catalog(ctx) }

// PutModel adds a model or replaces its entry (prices, context length…)
// and returns the catalog's new version. Usage already stored keeps the
// cost it was charged.
func (s *Service) PutModel(ctx context.Context, m Model) (int, error) {
	if err := m.normalize(); err != nil {
		return 0, err
	}
	return s.store.PutModel(ctx, &m, s.now())
}

// DeleteModel removes a model from the catalog and returns the new
// version. Usage an edge still reports for it is charged at the edge's
// estimate (see PricedByEdge).
func (s *Service) DeleteModel(ctx context.Context, id string) (int, error) {
	return s.store.DeleteModel(ctx, id, s.now())
}

// GrantCredits adds (or, when negative, removes) credit by hand, as an
// adjustment entry. A non-empty ref makes the grant idempotent: a second
// grant with the same ref fails with ECONFLICT and changes nothing.
func (s *Service) GrantCredits(ctx context.Context, accountID string, amountMicros int64, note, ref string) (*LedgerEntry, error) {
	return s.AddLedgerEntry(ctx, LedgerEntry{AccountID: accountID, Kind: LedgerAdjustment,
		AmountMicros: amountMicros, Note: note, Ref: ref})
}

// AddLedgerEntry appends a top-up, refund or adjustment. Usage entries are
// made only by IngestUsage.
//
// # Errors
//
// EINVALID for a usage kind, a zero or out-of-range amount, or an
// overlong note or ref; ENOTFOUND for an unknown account; ECONFLICT for a
// repeated ref.
func (s *Service) AddLedgerEntry(ctx context.Context, e LedgerEntry) (*LedgerEntry, error) {
	switch e.Kind {
	case LedgerTopUp, LedgerRefund, LedgerAdjustment:
	default:
		return nil, Errorf(EINVALID, "kind must be %q, %q or %q", LedgerTopUp, LedgerRefund, LedgerAdjustment)
	}
	if e.AmountMicros == 0 || e.AmountMicros > maxAdjustment || e.AmountMicros < -maxAdjustment {
		return nil, Errorf(EINVALID, "amount must be non-zero and at most %d micro-dollars either way", int64(maxAdjustment))
	}
	if err := checkText("note", e.Note, maxNoteLen, false); err != nil {
		return nil, err
	}
	if e.Ref != "" {
		if err := checkIdent("ref", e.Ref, maxRefLen); err != nil {
			return nil, err
		}
	}
	e.ID, e.BalanceAfterMicros = 0, 0
	e.CreatedAt = s.now()
	if err := s.store.AppendLedger(ctx, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Ledger lists an account's newest ledger entries, at most limit (default
// and maximum 1000).
func (s *Service) Ledger(ctx context.Context, accountID string, limit int) ([]LedgerEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	return s.store.Ledger(ctx, accountID, limit)
}

// IngestUsage stores a batch of usage records from an edge, exactly once
// per request id, and debits each account at the catalog price of the model
// that served each request (the requested model when the edge names none).
//
// Records that fail validation, or name a key that does not exist or
// belongs to another account, are rejected with a reason and the rest are
// kept. A record whose request id is already stored, in this batch or an
// earlier one, counts as a duplicate and changes nothing, so edges may
// resend a batch whose answer they never got.
//
// # Errors
//
// EINVALID when edgeID is malformed; anything else is internal and the
// batch changed nothing.
func (s *Service) IngestUsage(ctx context.Context, edgeID string, records []edgeapi.UsageRecord) (*edgeapi.UsageResult, error) {
	if edgeID != "" {
		if err := checkIdent("edge_id", edgeID, maxShortText); err != nil {
			return nil, err
		}
	}
	prices, err := s.priceList(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	in := &UsageIngest{ID: newID("ing"), At: now, Records: make([]UsageRecord, 0, len(records))}
	index := make([]int, 0, len(records))
	res := &edgeapi.UsageResult{}
	seen := make(map[string]struct{}, len(records))
	for i := range records {
		r := &records[i]
		if err := s.checkIngest(r, now); err != nil {
			rej := edgeapi.Rejection{Index: i, Reason: ErrorMessage(err)}
			if checkIdent("request_id", r.RequestID, maxRequestIDLen) == nil {
				rej.RequestID = r.RequestID
			}
			res.Rejected = append(res.Rejected, rej)
			continue
		}
		if _, dup := seen[r.RequestID]; dup {
			res.Duplicates++
			continue
		}
		seen[r.RequestID] = struct{}{}
		u := UsageRecord{UsageRecord: *r, EdgeID: edgeID, IngestID: in.ID, ReceivedAt: now}
		u.StartedAt = r.StartedAt.UTC()
		prices.price(&u)
		in.Records = append(in.Records, u)
		index = append(index, i)
	}
	if len(in.Records) > 0 {
		out, err := s.store.IngestUsage(ctx, in)
		if err != nil {
			return nil, err
		}
		res.Accepted = out.Accepted
		res.Duplicates += out.Duplicates
		for _, rej := range out.Rejected {
			rej.Index = index[rej.Index]
			res.Rejected = append(res.Rejected, rej)
		}
		sort.Slice(res.Rejected, func(i, j int) bool { return res.Rejected[i].Index < res.Rejected[j].Index })
		if out.Accepted > 0 {
			s.afterBalanceChange(ctx, debitedAccounts(in.Records), true)
			s.checkSpend(ctx, in.Records)
		}
	}
	return res, nil
}

// priceList returns the catalog's prices, reloading them only when an
// operator (possibly through another replica) has changed the catalog.
func (s *Service) priceList(ctx context.Context) (*priceList, error) {
	v, err := s.store.CatalogVersion(ctx)
	if err != nil {
		return nil, err
	}
	if p := s.prices.Load(); p != nil && p.version == v {
		return p, nil
	}
	cat, err := s.store.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	p := &priceList{version: cat.Version, byID: make(map[string]*Model, len(cat.Models))}
	for i := range cat.Models {
		p.byID[cat.Models[i].ID] = &cat.Models[i]
	}
	s.prices.Store(p)
	return p, nil
}

func (p *priceList) price(u *UsageRecord) {
	id := u.ServedModel
	if id == "" {
		id = u.Model
	}
	m := p.byID[id]
	if m == nil {
		u.CostMicros, u.PricedBy = u.EdgeCostMicros, PricedByEdge
		return
	}
	u.CostMicros = m.Cost(Tokens{
		Input:       int64(u.InputTokens),
		CachedInput: int64(u.CachedInputTokens),
		CacheWrite:  int64(u.CacheWriteTokens),
		Output:      int64(u.OutputTokens),
	})
	u.PricedBy = PricedByCatalog
}

// UsageRecord returns one of the account's usage records by request id.
func (s *Service) UsageRecord(ctx context.Context, accountID, requestID string) (*UsageRecord, error) {
	if checkIdent("request_id", requestID, maxRequestIDLen) != nil {
		return nil, Errorf(ENOTFOUND, "usage record not found")
	}
	return s.store.UsageRecord(ctx, accountID, requestID)
}

// RecentUsage returns up to limit (at most 1000) of the account's records
// started in [from, to) that f matches, newest first.
func (s *Service) RecentUsage(ctx context.Context, accountID string, from, to time.Time, f UsageFilter, limit int) ([]UsageRecord, error) {
	if limit <= 0 || limit > 1000 {
		return nil, Errorf(EINVALID, "limit must be between 1 and 1000")
	}
	return s.store.RecentUsage(ctx, accountID, from, to, f, limit)
}

// UsageBreakdown sums the account's usage by day, by model and by key over
// the whole UTC days that [from, to) touches, from the daily totals.
func (s *Service) UsageBreakdown(ctx context.Context, accountID string, from, to time.Time) (*UsageBreakdown, error) {
	return s.UsageBreakdownOf(ctx, accountID, from, to, UsageFilter{})
}

// UsageFilter narrows a usage breakdown to one model, one key, or both;
// an empty field matches everything.
type UsageFilter struct {
	Model string // the served model, else the requested one
	KeyID string
}

// UsageBreakdownOf is UsageBreakdown counting only the usage f matches.
func (s *Service) UsageBreakdownOf(ctx context.Context, accountID string, from, to time.Time, f UsageFilter) (*UsageBreakdown, error) {
	if !from.Before(to) || to.Sub(from) > maxUsageRange {
		return nil, Errorf(EINVALID, "the range must be non-empty and span at most %d days", int(maxUsageRange/(24*time.Hour)))
	}
	cells, err := s.store.UsageCells(ctx, accountID, from.UTC(), to.UTC())
	if err != nil {
		return nil, err
	}
	b := &UsageBreakdown{Total: UsageAggregate{Group: "total"}}
	sum := func(groups map[string]*UsageAggregate, name string, c *UsageCell) {
		g := groups[name]
		if g == nil {
			g = &UsageAggregate{Group: name}
			groups[name] = g
		}
		g.add(&c.UsageAggregate)
	}
	days, models, keys := map[string]*UsageAggregate{}, map[string]*UsageAggregate{}, map[string]*UsageAggregate{}
	seenModels, seenKeys := map[string]bool{}, map[string]bool{}
	for i := range cells {
		c := &cells[i]
		seenModels[c.Model], seenKeys[c.KeyID] = true, true
		if f.Model != "" && c.Model != f.Model || f.KeyID != "" && c.KeyID != f.KeyID {
			continue
		}
		sum(days, c.Day, c)
		sum(models, c.Model, c)
		sum(keys, c.KeyID, c)
		b.Total.add(&c.UsageAggregate)
	}
	flat := func(m map[string]*UsageAggregate) []UsageAggregate {
		out := make([]UsageAggregate, 0, len(m))
		for _, g := range m {
			out = append(out, *g)
		}
		slices.SortFunc(out, func(a, b UsageAggregate) int { return strings.Compare(a.Group, b.Group) })
		return out
	}
	b.ByDay, b.ByModel, b.ByKey = flat(days), flat(models), flat(keys)
	b.Models, b.KeyIDs = slices.Sorted(maps.Keys(seenModels)), slices.Sorted(maps.Keys(seenKeys))
	return b, nil
}

// Usage aggregates usage. Zero To means now; zero From means 30 days
// before To; GroupBy defaults to GroupByDay. An empty AccountID aggregates
// every account, which only operators may ask for.
//
// # Errors
//
// EINVALID for an unknown grouping, From not before To, or a span over 400
// days.
func (s *Service) Usage(ctx context.Context, q UsageQuery) (*UsageReport, error) {
	if q.To.IsZero() {
		q.To = s.now()
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-30 * 24 * time.Hour)
	}
	q.From, q.To = q.From.UTC(), q.To.UTC()
	if q.GroupBy == "" {
		q.GroupBy = GroupByDay
	}
	switch q.GroupBy {
	case GroupByDay, GroupByModel, GroupByKey:
	default:
		return nil, Errorf(EINVALID, "group_by must be %q, %q or %q", GroupByDay, GroupByModel, GroupByKey)
	}
	if !q.From.Before(q.To) {
		return nil, Errorf(EINVALID, "from must be before to")
	}
	if q.To.Sub(q.From) > maxUsageRange {
		return nil, Errorf(EINVALID, "the range may span at most %d days", int(maxUsageRange/(24*time.Hour)))
	}
	rows, err := s.store.UsageAggregates(ctx, q)
	if err != nil {
		return nil, err
	}
	rep := &UsageReport{From: q.From, To: q.To, GroupBy: q.GroupBy, Data: rows, Total: UsageAggregate{Group: "total"}}
	for _, r := range rows {
		rep.Total.add(&r)
	}
	return rep, nil
}
