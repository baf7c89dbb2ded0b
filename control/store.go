package control

import (
	"context"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

// Store is everything the control service keeps. Implementations are safe
// for concurrent use, including by several processes sharing one database:
// every method that writes does so in a single transaction.
//
// # Errors
//
// Methods return an *Error with ENOTFOUND when the thing asked for does not
// exist (or belongs to another account) and ECONFLICT when a uniqueness rule
// would be broken; any other error is internal.
type Store interface {
	AccountStore
	TokenStore
	KeyStore
	CatalogStore
	LedgerStore
	UsageStore
	PluginStore
	OutboxStore
	BillingStore
	RightsStore
	RetentionStore
	AuditStore
	AbuseStore
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// AccountStore keeps accounts.
type AccountStore interface {
	// CreateAccount inserts a, found later by email, and, when grant is
	// not nil, the account's first ledger entry in the same transaction.
	// ECONFLICT when the email is taken.
	CreateAccount(ctx context.Context, a *Account, email EmailKey, passwordHash string, grant *LedgerEntry) error
	Account(ctx context.Context, id string) (*Account, error)
	// AccountCredentials returns the open account found by email and its
	// password hash.
	AccountCredentials(ctx context.Context, email EmailKey) (*Account, string, error)
	// Accounts lists every account, oldest first.
	Accounts(ctx context.Context) ([]Account, error)
	SetAccountStatus(ctx context.Context, id, status string) error
}

// TokenStore keeps session and management tokens by the hash of their
// secret.
type TokenStore interface {
	CreateToken(ctx context.Context, t *Token, hash string) error
	// TokenAccount returns the unrevoked token with hash and its account.
	// Expiry is the caller's to check.
	TokenAccount(ctx context.Context, hash string) (*Token, *Account, error)
	// Tokens lists an account's unrevoked tokens of one kind, newest first.
	Tokens(ctx context.Context, accountID, kind string) ([]Token, error)
	// RevokeToken revokes a token of the account by id, or by hash when id
	// is empty.
	RevokeToken(ctx context.Context, accountID, id, hash string, at time.Time) error
}

// KeyStore keeps API keys. Status is stored as active or revoked; callers
// work out expiry.
type KeyStore interface {
	CreateKey(ctx context.Context, k *APIKey, hash string) error
	Key(ctx context.Context, accountID, id string) (*APIKey, error)
	// Keys lists an account's keys, newest first.
	Keys(ctx context.Context, accountID string) ([]APIKey, error)
	UpdateKey(ctx context.Context, accountID, id string, u *KeyUpdate) (*APIKey, error)
	// RevokeKey revokes a key; revoking twice keeps the first time.
	RevokeKey(ctx context.Context, accountID, id string, at time.Time) (*APIKey, error)
	// KeyState gathers what a snapshot of the key with hash needs, with
	// the key's spend in month ("2006-01", UTC), in one read.
	KeyState(ctx context.Context, hash, month string) (*KeyState, error)
}

// KeyState is a key with its account's standing, as stored.
type KeyState struct {
	Key           APIKey
	AccountStatus string
	BalanceMicros int64
	// PluginHash, PluginFail, PluginHeaders and PluginBody describe the
	// plugin that runs for the key: its own activation, else the
	// account's.
	PluginHash       string
	PluginFail       string
	PluginHeaders    []string
	PluginBody       bool
	MonthSpendMicros int64
}

// CatalogStore keeps the model catalog. Every write bumps its version.
type CatalogStore interface {
	Catalog(ctx context.Context) (*Catalog, error)
	// CatalogVersion is cheap enough to call on every usage batch.
	CatalogVersion(ctx context.Context) (int, error)
	// SeedCatalog writes models as version 1 if the catalog has never been
	// written, and reports whether it did. Safe to race.
	SeedCatalog(ctx context.Context, models []Model, at time.Time) (bool, error)
	// PutModel adds or replaces a model and returns the new version.
	PutModel(ctx context.Context, m *Model, at time.Time) (int, error)
	// DeleteModel removes a model and returns the new version.
	DeleteModel(ctx context.Context, id string, at time.Time) (int, error)
}

// LedgerStore keeps the credits ledger.
type LedgerStore interface {
	// AppendLedger appends e, sets its ID and BalanceAfterMicros, and moves
	// the account's cached balance, in one transaction. ECONFLICT when an
	// entry with the same account, kind and non-empty ref exists.
	AppendLedger(ctx context.Context, e *LedgerEntry) error
	// Ledger lists an account's newest entries first, at most limit.
	Ledger(ctx context.Context, accountID string, limit int) ([]LedgerEntry, error)
}

// UsageIngest is one batch of priced usage records to store.
type UsageIngest struct {
	// ID is carried by every record and by the usage ledger entries the
	// batch makes.
	ID string
	// At is when the batch arrived; usage ledger entries carry it.
	At      time.Time
	Records []UsageRecord
}

// IngestOutcome says what IngestUsage did with each record.
type IngestOutcome struct {
	Accepted   int
	Duplicates int
	// Rejected indexes into UsageIngest.Records.
	Rejected []edgeapi.Rejection
}

// UsageStore keeps usage records.
type UsageStore interface {
	// IngestUsage stores, in one transaction, each record whose request id
	// is new and whose key belongs to its account; debits each account the
	// sum of its new records' costs with one usage ledger entry; and adds
	// the costs to each key's monthly spend. Records already stored count
	// as duplicates and change nothing.
	IngestUsage(ctx context.Context, in *UsageIngest) (*IngestOutcome, error)
	// UsageRecord returns one of the account's records by request id.
	UsageRecord(ctx context.Context, accountID, requestID string) (*UsageRecord, error)
	// UsageAggregates sums records per group, groups in ascending order.
	UsageAggregates(ctx context.Context, q UsageQuery) ([]UsageAggregate, error)
	// RecentUsage returns up to limit of the account's records started in
	// [from, to) that f matches, newest first.
	RecentUsage(ctx context.Context, accountID string, from, to time.Time, f UsageFilter, limit int) ([]UsageRecord, error)
	// UsageCells sums the account's usage per day, model and key over the
	// UTC days that [from, to) touches, whole, from the daily totals.
	UsageCells(ctx context.Context, accountID string, from, to time.Time) ([]UsageCell, error)
}

// PluginStore keeps routing plugins: module bytes once per content hash,
// versions per account and name, and, per account and per key, a history
// of activations that rollbacks step back through.
type PluginStore interface {
	// CreatePlugin stores p as the next version of p.Name for p.AccountID,
	// with module unless its hash is already stored, and sets p.Version.
	// ENOTFOUND for an unknown account.
	CreatePlugin(ctx context.Context, p *Plugin, module []byte) error
	// Plugin returns one of the account's versions.
	Plugin(ctx context.Context, accountID, id string) (*Plugin, error)
	// Plugins lists the account's versions, newest first.
	Plugins(ctx context.Context, accountID string) ([]Plugin, error)
	// SetActivePlugin makes pluginID (empty for none) what runs for the
	// account (keyID empty) or for one of its keys, remembering what it
	// replaces. Setting what already runs records nothing. ENOTFOUND for a
	// plugin or key that is not the account's.
	SetActivePlugin(ctx context.Context, accountID, keyID, pluginID string, at time.Time) error
	// RollbackPlugin returns the scope to what ran before its newest
	// activation and reports the plugin id that now runs (empty for none).
	// ECONFLICT when there is nothing earlier.
	RollbackPlugin(ctx context.Context, accountID, keyID string, at time.Time) (string, error)
	// PluginModule returns a module's bytes by hash.
	PluginModule(ctx context.Context, hash string) ([]byte, error)
}
