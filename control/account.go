package control

import (
	"net/mail"
	"strings"
	"time"
)

// Account states.
const (
	AccountActive = "active"
	// AccountSuspended accounts keep their data and can sign in, but the
	// edge serves none of their keys.
	AccountSuspended = "suspended"
)

// Account is a customer: the owner of keys, credits and usage.
type Account struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Email          string    `json:"email"`
	Company        string    `json:"company"`
	BillingAddress string    `json:"billing_address"`
	Phone          string    `json:"phone,omitempty"`
	Status         string    `json:"status"`
	BalanceMicros  int64     `json:"balance_micros"`
	CreatedAt      time.Time `json:"created_at"`
	// ClosedAt is when the owner deleted the account (Status
	// AccountClosed); nil for an open account.
	ClosedAt *time.Time `json:"closed_at,omitempty"`
}

// AccountCreate is what signing up takes.
type AccountCreate struct {
	Name           string `json:"name"`
	Email          string `json:"email"`
	Company        string `json:"company"`
	BillingAddress string `json:"billing_address"`
	Phone          string `json:"phone,omitempty"`
	Password       string `json:"password"`
}

// Field bounds. Generous for people, small enough that a hostile client
// cannot grow rows without limit.
const (
	maxNameLen     = 200
	maxEmailLen    = 254
	maxAddressLen  = 1000
	maxPhoneLen    = 32
	minPasswordLen = 8
	maxPasswordLen = 1024
)

// normalizeEmail lowercases an address so that sign-in and uniqueness do
// not depend on how it was typed.
func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func (c *AccountCreate) validate() error {
	if err := c.validateProfile(); err != nil {
		return err
	}
	return checkPassword(c.Password)
}

// validateProfile checks and normalises every field but the password,
// for sign-up and for corrections.
func (c *AccountCreate) validateProfile() error {
	c.Email = normalizeEmail(c.Email)
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" {
		return Errorf(EINVALID, "name is required")
	}
	if err := checkText("name", c.Name, maxNameLen, false); err != nil {
		return err
	}
	if err := checkEmail(c.Email); err != nil {
		return err
	}
	if err := checkText("company", c.Company, maxNameLen, false); err != nil {
		return err
	}
	if strings.TrimSpace(c.BillingAddress) == "" {
		return Errorf(EINVALID, "billing_address is required")
	}
	if err := checkText("billing_address", c.BillingAddress, maxAddressLen, true); err != nil {
		return err
	}
	return checkPhone(c.Phone)
}

func checkEmail(s string) error {
	if s == "" {
		return Errorf(EINVALID, "email is required")
	}
	if len(s) > maxEmailLen {
		return Errorf(EINVALID, "email is longer than %d bytes", maxEmailLen)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return Errorf(EINVALID, "email is not a valid address")
	}
	return nil
}

func checkPhone(s string) error {
	if len(s) > maxPhoneLen {
		return Errorf(EINVALID, "phone is longer than %d bytes", maxPhoneLen)
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789+-() .", r) {
			return Errorf(EINVALID, "phone may contain only digits, spaces and + - ( ) .")
		}
	}
	return nil
}

func checkPassword(s string) error {
	if len(s) < minPasswordLen {
		return Errorf(EINVALID, "password must be at least %d bytes", minPasswordLen)
	}
	if len(s) > maxPasswordLen {
		return Errorf(EINVALID, "password is longer than %d bytes", maxPasswordLen)
	}
	return nil
}

// Token kinds. Both authenticate the /api/v1 routes as their account.
const (
	// TokenSession backs the dashboard's session cookie; it expires.
	TokenSession = "session"
	// TokenManagement is a long-lived bearer token for scripts.
	TokenManagement = "management"
)

// Token is a session or management token. The secret itself is never
// stored; Prefix is kept so people can tell management tokens apart.
type Token struct {
	ID        string     `json:"id"`
	AccountID string     `json:"account_id"`
	Kind      string     `json:"kind"`
	Name      string     `json:"name,omitempty"`
	Prefix    string     `json:"prefix,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}
