package control

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Secret formats. The prefixes make a leaked secret recognisable to secret
// scanners and to people; the random part carries the entropy.
const (
	// APIKeyPrefix starts every API key: "sk-sy-" and 40 base62 characters
	// (238 bits).
	APIKeyPrefix = "sk-sy-"
	// ManagementTokenPrefix starts every management token.
	ManagementTokenPrefix = "sy-mt-"
	secretRandomLen       = 40
	// displayPrefixLen is how much of a secret is kept in the clear so
	// people can tell their keys apart.
	displayPrefixLen = 12
)

// randomBase62 returns n characters drawn uniformly from base62 by
// rejection sampling, so no character is more likely than another.
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		rand.Read(buf[:])
		for _, b := range buf {
			// 248 = 4*62: bytes above it would bias the modulus.
			if b < 248 && len(out) < n {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out)
}

// newID returns a random identifier with a type prefix ("acct_…"), so ids
// from several replicas never collide and never reveal counts.
func newID(prefix string) string {
	return prefix + "_" + randomBase62(20)
}

// HashSecret returns the hex SHA-256 of a secret. API keys, management
// tokens and sessions are stored and looked up by this hash only; the edge
// computes the same hash to ask for a key snapshot.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// isHexHash reports whether s looks like a HashSecret result.
func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
