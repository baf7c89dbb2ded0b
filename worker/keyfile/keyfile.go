// Package keyfile resolves API keys from a local JSON file, for development
// and tests before a control service exists.
package keyfile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/switchyard-ai/switchyard/worker"
)

// Entry is one key in the file. Give either Secret or SecretSHA256 (hex);
// the hash form keeps the secret itself out of the file.
type Entry struct {
	ID            string   `json:"id"`
	AccountID     string   `json:"account_id"`
	Secret        string   `json:"secret,omitempty"`
	SecretSHA256  string   `json:"secret_sha256,omitempty"`
	AllowedModels []string `json:"allowed_models,omitempty"`
	// RequestsPerMinute and TokensPerMinute limit the key; 0 is unlimited.
	RequestsPerMinute int `json:"requests_per_minute,omitempty"`
	TokensPerMinute   int `json:"tokens_per_minute,omitempty"`
	// ExpiresAt ends the key's validity; absent never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Revoked refuses the key with a clear message instead of "invalid".
	Revoked bool `json:"revoked,omitempty"`
}

// File is the file's shape: {"keys":[...]}.
type File struct {
	Keys []Entry `json:"keys"`
}

// Resolver holds keys by the SHA-256 of their secret, so secrets are not
// kept in memory in the clear after loading.
type Resolver struct {
	byHash  map[[32]byte]*worker.Key
	revoked map[[32]byte]bool
}

var _ worker.KeyResolver = (*Resolver)(nil)

// Load reads a key file strictly.
func Load(path string) (*Resolver, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("keyfile %s: %w", path, err)
	}
	return New(f.Keys)
}

// New builds a resolver from entries.
func New(entries []Entry) (*Resolver, error) {
	r := &Resolver{byHash: make(map[[32]byte]*worker.Key, len(entries)), revoked: make(map[[32]byte]bool)}
	for i, e := range entries {
		var h [32]byte
		switch {
		case e.ID == "":
			return nil, fmt.Errorf("keyfile: key %d has no id", i)
		case e.Secret != "" && e.SecretSHA256 != "":
			return nil, fmt.Errorf("keyfile: key %s: give secret or secret_sha256, not both", e.ID)
		case e.Secret != "":
			h = sha256.Sum256([]byte(e.Secret))
		case e.SecretSHA256 != "":
			b, err := hex.DecodeString(e.SecretSHA256)
			if err != nil || len(b) != 32 {
				return nil, fmt.Errorf("keyfile: key %s: secret_sha256 must be 64 hex digits", e.ID)
			}
			copy(h[:], b)
		default:
			return nil, fmt.Errorf("keyfile: key %s has no secret", e.ID)
		}
		if _, dup := r.byHash[h]; dup {
			return nil, fmt.Errorf("keyfile: key %s repeats a secret", e.ID)
		}
		r.byHash[h] = &worker.Key{
			ID: e.ID, AccountID: e.AccountID, AllowedModels: e.AllowedModels, ExpiresAt: e.ExpiresAt,
			Limits: worker.KeyLimits{RequestsPerMinute: e.RequestsPerMinute, TokensPerMinute: e.TokensPerMinute},
		}
		r.revoked[h] = e.Revoked
	}
	return r, nil
}

// Resolve looks a secret up by its hash. Matching on a hash rather than the
// secret means lookup timing reveals nothing about valid secrets.
func (r *Resolver) Resolve(_ context.Context, secret string) (*worker.Key, error) {
	h := sha256.Sum256([]byte(secret))
	if k, ok := r.byHash[h]; ok {
		if r.revoked[h] {
			return nil, worker.ErrKeyRevoked
		}
		return k, nil
	}
	return nil, worker.ErrUnknownKey
}
