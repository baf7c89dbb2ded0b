package control

import (
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

// APIKey is a key a customer's clients present to the edge. The secret is
// shown once at creation; only its hash and a short prefix are kept.
type APIKey struct {
	ID        string `json:"id"`
	AccountID string `json:"account_id"`
	Name      string `json:"name"`
	// Prefix is the secret's first characters, for display.
	Prefix string `json:"prefix"`
	// Status is edgeapi.KeyActive, KeyRevoked or KeyExpired; expiry is
	// worked out from the clock when the key is read.
	Status string         `json:"status"`
	Limits edgeapi.Limits `json:"limits"`
	// AllowedModels restricts the key; empty allows every model.
	AllowedModels []string   `json:"allowed_models"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	// LastUsedAt is the start time of the newest request the edge has
	// reported for the key.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// KeyCreate is what creating an API key takes.
type KeyCreate struct {
	Name          string         `json:"name"`
	Limits        edgeapi.Limits `json:"limits"`
	AllowedModels []string       `json:"allowed_models"`
	// ExpiresAt must be in the future; nil never expires.
	ExpiresAt *time.Time `json:"expires_at"`
}

// KeyUpdate changes an API key; nil fields stay as they are. An empty,
// non-nil AllowedModels allows every model again.
type KeyUpdate struct {
	Name          *string         `json:"name"`
	Limits        *edgeapi.Limits `json:"limits"`
	AllowedModels *[]string       `json:"allowed_models"`
	ExpiresAt     *time.Time      `json:"expires_at"`
}

const (
	maxAllowedModels = 100
	maxModelIDLen    = 128
	// maxPerMinute bounds rate limits so they fit every edge's counters.
	maxPerMinute = 1 << 30
	// maxSpendCap is one billion dollars: far beyond any real cap, far below
	// overflow.
	maxSpendCap = 1_000_000_000 * 1_000_000
)

func checkKeyName(name string) error {
	if strings.TrimSpace(name) == "" {
		return Errorf(EINVALID, "name is required")
	}
	return checkText("name", name, maxNameLen, false)
}

func checkLimits(l edgeapi.Limits) error {
	if l.RequestsPerMinute < 0 || l.RequestsPerMinute > maxPerMinute {
		return Errorf(EINVALID, "limits.requests_per_minute must be between 0 and %d", maxPerMinute)
	}
	if l.TokensPerMinute < 0 || l.TokensPerMinute > maxPerMinute {
		return Errorf(EINVALID, "limits.tokens_per_minute must be between 0 and %d", maxPerMinute)
	}
	if l.MonthlySpendCapMicros < 0 || l.MonthlySpendCapMicros > maxSpendCap {
		return Errorf(EINVALID, "limits.monthly_spend_cap_micros must be between 0 and %d", int64(maxSpendCap))
	}
	return nil
}

// checkAllowedModels checks shape only: a key may name a tenant alias the
// edge resolves, which the catalog does not list.
func checkAllowedModels(models []string) error {
	if len(models) > maxAllowedModels {
		return Errorf(EINVALID, "allowed_models has more than %d entries", maxAllowedModels)
	}
	for _, m := range models {
		if err := checkIdent("allowed_models entry", m, maxModelIDLen); err != nil {
			return err
		}
	}
	return nil
}

func (c *KeyCreate) validate(now time.Time) error {
	c.Name = strings.TrimSpace(c.Name)
	if err := checkKeyName(c.Name); err != nil {
		return err
	}
	if err := checkLimits(c.Limits); err != nil {
		return err
	}
	if err := checkAllowedModels(c.AllowedModels); err != nil {
		return err
	}
	if c.ExpiresAt != nil && !c.ExpiresAt.After(now) {
		return Errorf(EINVALID, "expires_at must be in the future")
	}
	return nil
}

func (u *KeyUpdate) validate(now time.Time) error {
	if u.Name != nil {
		*u.Name = strings.TrimSpace(*u.Name)
		if err := checkKeyName(*u.Name); err != nil {
			return err
		}
	}
	if u.Limits != nil {
		if err := checkLimits(*u.Limits); err != nil {
			return err
		}
	}
	if u.AllowedModels != nil {
		if err := checkAllowedModels(*u.AllowedModels); err != nil {
			return err
		}
	}
	if u.ExpiresAt != nil && !u.ExpiresAt.After(now) {
		return Errorf(EINVALID, "expires_at must be in the future")
	}
	return nil
}

// effectiveStatus reports a stored key's status as of now: a stored
// "active" key past its expiry is expired.
func effectiveStatus(stored string, expiresAt *time.Time, now time.Time) string {
	if stored == edgeapi.KeyActive && expiresAt != nil && !now.Before(*expiresAt) {
		return edgeapi.KeyExpired
	}
	return stored
}
