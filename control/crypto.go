package control

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
)

// Sealed values are stored as
//
//	v1:<key id>:<base64url without padding of nonce(12) || ciphertext || tag(16)>
//
// sealed with AES-256-GCM under the named key. The associated data is the
// owner (an account id) and the field name, so a value copied into another
// row, or into another field of the same row, does not open.
const sealedVersion = "v1"

const (
	sealKeyBytes   = 32
	sealNonceBytes = 12
	sealTagBytes   = 16
	maxSealKeyID   = 32
)

// Keyring seals and opens values stored at rest: account names, emails,
// companies, billing addresses and phone numbers and queued emails today, and any other secret a row holds
// (provider keys, once customers can bring their own) through the same
// Seal and Open.
//
// It holds one or more AES-256 keys by id. Seal always uses the current
// key; Open uses whichever key the value names, so during a rotation
// values sealed under the old and the new key both read. A Keyring is
// immutable and safe for concurrent use.
type Keyring struct {
	current string
	aeads   map[string]cipher.AEAD
	// lookups are HMAC keys derived from each key, for EmailKey.
	lookups map[string][]byte
}

// NewKeyring returns a keyring over keys (key id → 32 raw bytes) that
// seals with current.
//
// # Errors
//
// EINVALID when keys is empty, a key is not 32 bytes, a key id is not 1
// to 32 of [A-Za-z0-9_-], or current names no key.
func NewKeyring(keys map[string][]byte, current string) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, Errorf(EINVALID, "an encryption keyring needs at least one key")
	}
	kr := &Keyring{current: current, aeads: make(map[string]cipher.AEAD, len(keys)), lookups: make(map[string][]byte, len(keys))}
	for id, key := range keys {
		if !validKeyID(id) {
			return nil, Errorf(EINVALID, "encryption key id %q must be 1 to %d of A-Z a-z 0-9 _ -", id, maxSealKeyID)
		}
		if len(key) != sealKeyBytes {
			return nil, Errorf(EINVALID, "encryption key %q is %d bytes; AES-256 needs %d", id, len(key), sealKeyBytes)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("control: encryption key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("control: encryption key %q: %w", id, err)
		}
		kr.aeads[id] = aead
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte("switchyard email lookup v1"))
		kr.lookups[id] = mac.Sum(nil)
	}
	if _, ok := kr.aeads[current]; !ok {
		return nil, Errorf(EINVALID, "the current encryption key id %q is not among the configured keys", current)
	}
	return kr, nil
}

// EmailKey is how the store finds an account by its email address while
// the address itself is sealed: keyed hashes of the normalised address
// (HMAC-SHA-256 under a key derived from each encryption key, written
// "<key id>:<base64url>"), and the address itself for rows written before
// sealing or without a keyring.
type EmailKey struct {
	// Current is the hash to store: under the current key; "" without a
	// keyring.
	Current string
	// Any holds the hash under every key of the keyring, Current first:
	// a row not yet rotated holds one of the others.
	Any []string
	// Plain is the normalised address.
	Plain string
}

// EmailKey returns the lookup hashes of the normalised address email. A nil
// keyring gives only Plain.
func (k *Keyring) EmailKey(email string) EmailKey {
	key := EmailKey{Plain: email}
	if k == nil {
		return key
	}
	key.Current = k.emailHash(k.current, email)
	key.Any = append(key.Any, key.Current)
	for _, id := range k.KeyIDs() {
		if id != k.current {
			key.Any = append(key.Any, k.emailHash(id, email))
		}
	}
	return key
}

func (k *Keyring) emailHash(id, email string) string {
	mac := hmac.New(sha256.New, k.lookups[id])
	mac.Write([]byte(email))
	return id + ":" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// ParseKeyring reads keys written as "kid1:base64key,kid2:base64key"
// (standard or URL-safe base64, padded or not, of 32 bytes each; spaces
// around entries are ignored) and seals with current. An empty current is
// allowed only when there is exactly one key, which is then current.
func ParseKeyring(keys, current string) (*Keyring, error) {
	m := map[string][]byte{}
	for _, entry := range strings.Split(keys, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, Errorf(EINVALID, "encryption keys must be written kid:base64key, separated by commas")
		}
		if _, dup := m[id]; dup {
			return nil, Errorf(EINVALID, "encryption key id %q is listed twice", id)
		}
		key, err := decodeKey(strings.TrimSpace(b64))
		if err != nil {
			return nil, Errorf(EINVALID, "encryption key %q is not base64", id)
		}
		m[id] = key
	}
	if len(m) == 0 {
		return nil, Errorf(EINVALID, "an encryption keyring needs at least one key")
	}
	current = strings.TrimSpace(current)
	if current == "" {
		if len(m) != 1 {
			return nil, Errorf(EINVALID, "with %d encryption keys, the current key id must be named", len(m))
		}
		for id := range m {
			current = id
		}
	}
	return NewKeyring(m, current)
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// NewKeyText returns a fresh random key in the form ParseKeyring reads,
// "id:base64key".
func NewKeyText(id string) string {
	key := make([]byte, sealKeyBytes)
	rand.Read(key)
	return id + ":" + base64.StdEncoding.EncodeToString(key)
}

func validKeyID(id string) bool {
	if id == "" || len(id) > maxSealKeyID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CurrentKeyID is the id of the key Seal uses.
func (k *Keyring) CurrentKeyID() string { return k.current }

// KeyIDs lists the configured key ids, sorted.
func (k *Keyring) KeyIDs() []string {
	ids := make([]string, 0, len(k.aeads))
	for id := range k.aeads {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func sealAD(owner, field string) []byte {
	return []byte(sealedVersion + "\x00" + owner + "\x00" + field)
}

// Seal encrypts plaintext under the current key for field of owner. The
// empty string stays empty: there is nothing to hide in it, and an empty
// optional field then costs nothing.
func (k *Keyring) Seal(plaintext, owner, field string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	aead := k.aeads[k.current]
	buf := make([]byte, sealNonceBytes, sealNonceBytes+len(plaintext)+sealTagBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("control: seal: %w", err)
	}
	buf = aead.Seal(buf, buf[:sealNonceBytes], []byte(plaintext), sealAD(owner, field))
	return sealedVersion + ":" + k.current + ":" + base64.RawURLEncoding.EncodeToString(buf), nil
}

// Open decrypts a value Seal returned for the same owner and field. A
// value that is not in the sealed form is returned as it is: rows written
// before encryption at rest hold plain text until `switchyard admin
// rotate-key` seals them.
//
// # Errors
//
// An internal error (never shown to clients) naming the key id when the
// value is sealed under a key the keyring lacks, or does not
// authenticate: a wrong key, a value moved from another row or field, or
// a damaged one.
func (k *Keyring) Open(value, owner, field string) (string, error) {
	id, data, ok := parseSealed(value)
	if !ok {
		return value, nil
	}
	if k == nil {
		return "", fmt.Errorf("control: %s of %s is sealed under key id %q, and no encryption key is configured", field, owner, id)
	}
	aead, ok := k.aeads[id]
	if !ok {
		return "", fmt.Errorf("control: %s of %s is sealed under key id %q, which is not configured (configured: %s)",
			field, owner, id, strings.Join(k.KeyIDs(), ", "))
	}
	plain, err := aead.Open(nil, data[:sealNonceBytes], data[sealNonceBytes:], sealAD(owner, field))
	if err != nil {
		return "", fmt.Errorf("control: %s of %s does not open under key id %q: the key is wrong, or the value was moved or damaged", field, owner, id)
	}
	return string(plain), nil
}

// SealedKeyID returns the key id a sealed value names, and false for a
// value that is not sealed (plain text or empty).
func SealedKeyID(value string) (string, bool) {
	id, _, ok := parseSealed(value)
	return id, ok
}

func parseSealed(value string) (id string, data []byte, ok bool) {
	rest, found := strings.CutPrefix(value, sealedVersion+":")
	if !found {
		return "", nil, false
	}
	id, b64, found := strings.Cut(rest, ":")
	if !found || !validKeyID(id) {
		return "", nil, false
	}
	data, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || len(data) < sealNonceBytes+sealTagBytes {
		return "", nil, false
	}
	return id, data, true
}
