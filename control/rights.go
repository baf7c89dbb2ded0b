package control

import (
	"context"
	"strings"
	"time"
)

// AccountClosed is the status reported for an account its owner deleted:
// a tombstone without personal data, kept until the retention job erases
// what remains 12 months after ClosedAt.
const AccountClosed = "closed"

// ExportFormat names the version of the AccountExport document.
const ExportFormat = "switchyard.account-export.v1"

// ActionProfileUpdate is the audit action of a profile correction; exports
// and deletions are ActionAccountExport and ActionAccountDeletion.
const ActionProfileUpdate = "account.profile_update"

// ProfileUpdate corrects an account's profile; nil fields stay as they
// are. Each field is validated as at signup.
type ProfileUpdate struct {
	Name           *string `json:"name"`
	Email          *string `json:"email"`
	Company        *string `json:"company"`
	BillingAddress *string `json:"billing_address"`
	// Phone may be set to "" to remove it.
	Phone *string `json:"phone"`
	// CurrentPassword is required to change Email, since whoever controls
	// the email address controls the account.
	CurrentPassword string `json:"current_password"`
}

// AccountExport is every personal record the service holds about an
// account, in one document: the answer to access and export requests.
// Usage records are streamed after it (EachUsageRecord), since they can
// be many.
type AccountExport struct {
	Format      string    `json:"format"`
	GeneratedAt time.Time `json:"generated_at"`
	Account     Account   `json:"account"`
	// Tokens are sessions and management tokens, revoked ones too; only
	// metadata, never the hash of a secret.
	Tokens []Token `json:"tokens"`
	// APIKeys are metadata only, never the hash of a secret.
	APIKeys  []APIKey         `json:"api_keys"`
	KeySpend []KeySpend       `json:"key_spend"`
	Ledger   []LedgerEntry    `json:"ledger"`
	Payments []Payment        `json:"payments"`
	Billing  *BillingSettings `json:"billing"`
	// PaymentEvents are the processor's webhook events about the account.
	PaymentEvents     []PaymentEventRecord `json:"payment_events"`
	Plugins           []Plugin             `json:"plugins"`
	PluginActivations []PluginActivation   `json:"plugin_activations"`
	// Emails are the outbox's emails to the account: metadata, without
	// bodies, which only restate ledger and payment figures.
	Emails []EmailRecord `json:"emails"`
	// UsageRollups are daily usage totals kept for invoices once
	// request-level records are gone.
	UsageRollups []UsageRollup `json:"usage_rollups"`
	SpendGuard   *SpendGuard   `json:"spend_guard"`
	// AuditLog is the account's audit and access log, newest first.
	AuditLog []AuditEntry `json:"audit_log"`
}

// UsageRollup is one day's usage of one model through one key.
type UsageRollup struct {
	Day               string `json:"day"`
	Model             string `json:"model"`
	KeyID             string `json:"key_id"`
	Requests          int64  `json:"requests"`
	InputTokens       int64  `json:"input_tokens"`
	CachedInputTokens int64  `json:"cached_input_tokens"`
	CacheWriteTokens  int64  `json:"cache_write_tokens"`
	OutputTokens      int64  `json:"output_tokens"`
	ReasoningTokens   int64  `json:"reasoning_tokens"`
	CostMicros        int64  `json:"cost_micros"`
}

// KeySpend is one key's spend in one UTC month ("2006-01").
type KeySpend struct {
	KeyID       string `json:"key_id"`
	Month       string `json:"month"`
	SpendMicros int64  `json:"spend_micros"`
}

// BillingSettings is the account's billing row: its processor customer
// and automatic top-up setting.
type BillingSettings struct {
	CustomerID           string     `json:"stripe_customer_id,omitempty"`
	CardSaved            bool       `json:"card_saved"`
	AutoTopUp            AutoTopUp  `json:"auto_topup"`
	AutoTopUpAttemptedAt *time.Time `json:"auto_topup_attempted_at,omitempty"`
	AutoTopUpFailedAt    *time.Time `json:"auto_topup_failed_at,omitempty"`
	LowBalanceNotified   bool       `json:"low_balance_notified"`
	UpdatedAt            time.Time  `json:"updated_at"`
}

// PaymentEventRecord is a processed webhook event, as stored.
type PaymentEventRecord struct {
	ID              string    `json:"id"`
	Type            string    `json:"type"`
	Outcome         string    `json:"outcome"`
	PaymentIntentID string    `json:"payment_intent_id,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	ReceivedAt      time.Time `json:"received_at"`
}

// PluginActivation is one step of a plugin scope's history: PluginID ran
// for the account (KeyID empty) or one key from CreatedAt; empty PluginID
// means none.
type PluginActivation struct {
	ID        int64     `json:"id"`
	KeyID     string    `json:"key_id,omitempty"`
	PluginID  string    `json:"plugin_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// EmailRecord is an outbox email's metadata.
type EmailRecord struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	To        string     `json:"to"`
	Subject   string     `json:"subject"`
	Status    string     `json:"status"`
	Attempts  int        `json:"attempts"`
	CreatedAt time.Time  `json:"created_at"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
}

// Closure counts what closing an account did.
type Closure struct {
	AccountID      string    `json:"account_id"`
	ClosedAt       time.Time `json:"closed_at"`
	KeysRevoked    int64     `json:"keys_revoked"`
	TokensDeleted  int64     `json:"tokens_deleted"`
	PluginsDeleted int64     `json:"plugins_deleted"`
	// UsageDeleted counts request-level usage records folded into daily
	// rollups and deleted.
	UsageDeleted     int64 `json:"usage_records_deleted"`
	EmailsDeleted    int64 `json:"emails_deleted"`
	PaymentsRetained int64 `json:"payments_retained"`
}

// RightsStore serves the data rights: correction, export and deletion.
type RightsStore interface {
	// UpdateProfile writes a's name, email, company, billing address and
	// phone as given, and email.Current as the address's lookup.
	// ENOTFOUND for an unknown or closed account, ECONFLICT when the email
	// belongs to another account.
	UpdateProfile(ctx context.Context, a *Account, email EmailKey) error
	// PasswordHash returns an open account's password hash.
	PasswordHash(ctx context.Context, accountID string) (string, error)
	// AccountExport reads every record about the account except usage
	// records. Sealed fields come back sealed. ENOTFOUND for an unknown
	// or closed account.
	AccountExport(ctx context.Context, accountID string) (*AccountExport, error)
	// EachUsageRecord calls fn with each of the account's usage records,
	// oldest first, stopping at fn's first error.
	EachUsageRecord(ctx context.Context, accountID string, fn func(*UsageRecord) error) error
	// CloseAccount, in one transaction: marks the account closed at at and
	// blanks its profile, email and password; revokes its keys (blanking
	// their names); folds its usage records into daily rollups and deletes
	// them; deletes its sessions, management tokens, plugins, key spend,
	// billing row (queueing its payment-processor customer for deletion),
	// spend guard and emails. The ledger, payments, payment events and
	// audit log are kept. Erased values must not linger in the
	// database's free space or log. ENOTFOUND for an unknown or closed
	// account.
	CloseAccount(ctx context.Context, accountID string, at time.Time) (*Closure, error)
	// ProcessorErasures returns up to limit payment-processor customer ids
	// queued for deletion (by CloseAccount and EraseAccount), those tried
	// least first.
	ProcessorErasures(ctx context.Context, limit int) ([]string, error)
	// FinishProcessorErasure removes a customer id from the queue, or,
	// with a failure class, counts a failed attempt and keeps it.
	FinishProcessorErasure(ctx context.Context, customerID, failure string) error
	// StaleSealed returns up to limit values of field (one of
	// SealedFields) that are not empty and not sealed under keyID, of
	// owners after afterOwner, in owner order.
	StaleSealed(ctx context.Context, field, keyID, afterOwner string, limit int) ([]SealedValue, error)
	// Reseal replaces each value whose stored value is still Old by New,
	// and reports how many it replaced; the others changed meanwhile.
	Reseal(ctx context.Context, field string, values []SealedValue) (int, error)
}

// SealedValue is one stored sealed field, for rotation.
type SealedValue struct {
	Owner string
	Old   string
	New   string
	// Lookup is, for FieldEmail, the address's new EmailKey.Current.
	Lookup string
}

// Sealed fields: what Keyring protects, by the names rotation and the
// associated data use.
const (
	FieldName           = "name"
	FieldEmail          = "email"
	FieldCompany        = "company"
	FieldBillingAddress = "billing_address"
	FieldPhone          = "phone"
	// The outbox's, sealed under the email's id.
	FieldEmailTo      = "email_recipient"
	FieldEmailSubject = "email_subject"
	FieldEmailText    = "email_text"
	FieldEmailHTML    = "email_html"
)

// SealedFields lists every stored field that holds sealed values. A new
// secret column (a customer's own provider key) is added here and in the
// store's StaleSealed, and rotation covers it.
var SealedFields = []string{FieldName, FieldEmail, FieldCompany, FieldBillingAddress, FieldPhone,
	FieldEmailTo, FieldEmailSubject, FieldEmailText, FieldEmailHTML}

// UpdateProfile corrects the account's profile and returns it.
//
// # Errors
//
// EINVALID for a bad field (named in the message) or a missing
// current_password when changing the email; EFORBIDDEN for a wrong
// current_password; ECONFLICT when the email belongs to another account.
func (s *Service) UpdateProfile(ctx context.Context, accountID string, u ProfileUpdate) (*Account, error) {
	a, err := s.Account(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if u.Name != nil {
		a.Name = strings.TrimSpace(*u.Name)
	}
	if u.Company != nil {
		a.Company = strings.TrimSpace(*u.Company)
	}
	if u.BillingAddress != nil {
		a.BillingAddress = strings.TrimSpace(*u.BillingAddress)
	}
	if u.Phone != nil {
		a.Phone = strings.TrimSpace(*u.Phone)
	}
	emailChanged := u.Email != nil && normalizeEmail(*u.Email) != a.Email
	if u.Email != nil {
		a.Email = normalizeEmail(*u.Email)
	}
	check := AccountCreate{Name: a.Name, Email: a.Email, Company: a.Company, BillingAddress: a.BillingAddress, Phone: a.Phone}
	if err := check.validateProfile(); err != nil {
		return nil, err
	}
	if emailChanged {
		if u.CurrentPassword == "" {
			return nil, Errorf(EINVALID, "current_password is required to change the email")
		}
		if err := s.confirmPassword(ctx, accountID, u.CurrentPassword); err != nil {
			return nil, err
		}
	}
	sealed, err := s.sealAccount(a)
	if err != nil {
		return nil, err
	}
	// The email is sealed afresh on every save, so its lookup is written
	// with it, under the current key, changed or not.
	if err := s.store.UpdateProfile(ctx, sealed, s.cfg.Keyring.EmailKey(a.Email)); err != nil {
		return nil, err
	}
	return a, nil
}

// confirmPassword checks an open account's password again, for the
// changes that need it.
func (s *Service) confirmPassword(ctx context.Context, accountID, password string) error {
	wrong := Errorf(EFORBIDDEN, "the password is not correct")
	if len(password) > maxPasswordLen {
		return wrong
	}
	hash, err := s.store.PasswordHash(ctx, accountID)
	if err != nil {
		return err
	}
	var ok bool
	var verr error
	if err := s.hashing(ctx, func() { ok, verr = verifyPassword(hash, password) }); err != nil {
		return err
	}
	if verr != nil {
		return verr
	}
	if !ok {
		return wrong
	}
	return nil
}

// AccountExport returns every record held about the account but its usage
// records, which EachUsageRecord streams: the answer to access and export
// requests. Sealed fields are opened.
func (s *Service) AccountExport(ctx context.Context, accountID string) (*AccountExport, error) {
	x, err := s.store.AccountExport(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if err := s.openAccount(&x.Account); err != nil {
		return nil, err
	}
	for i := range x.Emails {
		e := &x.Emails[i]
		if err := openFields(s.cfg.Keyring, e.ID, []sealedField{{FieldEmailTo, &e.To}, {FieldEmailSubject, &e.Subject}}); err != nil {
			return nil, err
		}
	}
	x.Format, x.GeneratedAt = ExportFormat, s.now()
	now := s.now()
	for i := range x.APIKeys {
		x.APIKeys[i].Status = effectiveStatus(x.APIKeys[i].Status, x.APIKeys[i].ExpiresAt, now)
	}
	return x, nil
}

// EachUsageRecord calls fn with each of the account's usage records,
// oldest first.
func (s *Service) EachUsageRecord(ctx context.Context, accountID string, fn func(*UsageRecord) error) error {
	return s.store.EachUsageRecord(ctx, accountID, fn)
}

// CloseAccount deletes the account at its owner's request, once password
// confirms it is the owner asking. At once: its keys are revoked (edges
// refuse them when their cached snapshot expires, within the edge's key
// TTL), its sessions and management tokens are deleted, and its profile,
// plugins, billing settings and emails are erased. Request-level usage
// records are reduced to daily totals per model and key, which invoices
// need. Payment records and the ledger stay, as tax and accounting rules
// require; they hold amounts, dates and processor ids, no name, address,
// phone or email. The audit log stays for its own retention period. The
// account row stays as a tombstone (AccountClosed) for the retention job,
// which erases the rest 12 months later.
//
// # Errors
//
// EFORBIDDEN for a wrong password; ENOTFOUND for an unknown or closed
// account.
func (s *Service) CloseAccount(ctx context.Context, accountID, password string) (*Closure, error) {
	if err := s.confirmPassword(ctx, accountID, password); err != nil {
		return nil, err
	}
	c, err := s.store.CloseAccount(ctx, accountID, s.now())
	if err != nil {
		return nil, err
	}
	// The processor's customer (email, saved cards) goes now if the
	// processor answers; what fails stays queued for the retention job.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.eraseProcessorCustomers(pctx, processorErasuresAtClose); err != nil {
		s.cfg.Logger.Error("processor customer deletion after a closure", "err", err.Error())
	}
	return c, nil
}

// processorErasuresAtClose bounds the queued customers a closure deletes
// at once: its own, and a few the retention job has not reached.
const processorErasuresAtClose = 5

// eraseProcessorCustomers deletes up to limit queued customers at the
// payment processor and reports how many went. A failed deletion stays
// queued, its class counted, for the next retention run. Without a
// processor configured it does nothing.
func (s *Service) eraseProcessorCustomers(ctx context.Context, limit int) (int64, error) {
	p := s.cfg.Payments
	if p == nil {
		return 0, nil
	}
	ids, err := s.store.ProcessorErasures(ctx, limit)
	if err != nil {
		return 0, err
	}
	var deleted int64
	for _, id := range ids {
		failure := ""
		if err := p.DeleteCustomer(ctx, id); err != nil {
			failure = "internal"
			if ErrorCode(err) == EUNAVAILABLE {
				failure = "unavailable"
			}
			s.cfg.Logger.Warn("payment processor customer not deleted; will retry", "error_class", failure)
		} else {
			deleted++
		}
		if err := s.store.FinishProcessorErasure(ctx, id, failure); err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// RotationReport says what RotateKeys did.
type RotationReport struct {
	KeyID string `json:"key_id"`
	// Resealed counts values now sealed under KeyID.
	Resealed int `json:"resealed"`
	// Skipped counts values that changed while being resealed; a writer
	// sealed them anew.
	Skipped int `json:"skipped"`
	// Remaining counts values (up to one batch per field) still not under
	// KeyID after the pass: those written meanwhile by a replica that
	// still seals with an older key. Run again once every replica has the
	// new current key.
	Remaining int `json:"remaining"`
}

// RotateKeys re-seals, under the keyring's current key, every sealed value
// stored under another key, and seals values still in plain text, in
// batches of batchSize (default 500), each its own transaction. It can run
// while the service serves: every replica reads both keys, and a value
// changed during its batch is left to its writer.
//
// # Errors
//
// EINVALID without a keyring; an internal error naming the field, owner
// and key id for a value that does not open (its key is missing or wrong).
func (s *Service) RotateKeys(ctx context.Context, batchSize int) (*RotationReport, error) {
	kr := s.cfg.Keyring
	if kr == nil {
		return nil, Errorf(EINVALID, "no encryption key is configured")
	}
	if batchSize <= 0 {
		batchSize = 500
	}
	rep := &RotationReport{KeyID: kr.CurrentKeyID()}
	for _, field := range SealedFields {
		after := ""
		for {
			values, err := s.store.StaleSealed(ctx, field, kr.CurrentKeyID(), after, batchSize)
			if err != nil {
				return nil, err
			}
			if len(values) == 0 {
				break
			}
			for i := range values {
				v := &values[i]
				plain, err := kr.Open(v.Old, v.Owner, field)
				if err != nil {
					return nil, err
				}
				if v.New, err = kr.Seal(plain, v.Owner, field); err != nil {
					return nil, err
				}
				if field == FieldEmail {
					v.Lookup = kr.EmailKey(plain).Current
				}
			}
			n, err := s.store.Reseal(ctx, field, values)
			if err != nil {
				return nil, err
			}
			rep.Resealed += n
			rep.Skipped += len(values) - n
			after = values[len(values)-1].Owner
		}
		rest, err := s.store.StaleSealed(ctx, field, kr.CurrentKeyID(), "", batchSize)
		if err != nil {
			return nil, err
		}
		rep.Remaining += len(rest)
	}
	return rep, nil
}
