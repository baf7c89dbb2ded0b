package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/switchyard-ai/switchyard/control"
)

// Environment variables of encryption at rest. Keys are read from the
// environment only, never from flags, which other users of the machine can
// read in the process list.
const (
	// envEncryptionKeys lists the keys, "kid:base64key,kid2:base64key",
	// each 32 random bytes.
	envEncryptionKeys = "SWITCHYARD_ENCRYPTION_KEYS"
	// envEncryptionKeyID names the key new values are sealed with;
	// optional when there is one key.
	envEncryptionKeyID = "SWITCHYARD_ENCRYPTION_KEY_ID"
)

// devKeyFile holds the key `switchyard dev` makes for itself.
const devKeyFile = "encryption-dev.key"

// keyPolicy says what a command does without SWITCHYARD_ENCRYPTION_KEYS.
type keyPolicy int

const (
	// keysOptional (admin): no keyring; values stay as they are, sealed
	// ones cannot be read, new ones are stored in plain text.
	keysOptional keyPolicy = iota
	// keysRequired (control, admin rotate-key): refuse to start.
	keysRequired
	// keysDev (dev): make a key once and keep it in the data directory.
	keysDev
)

// loadKeyring reads the keyring from the environment under policy.
func loadKeyring(policy keyPolicy, dataDir string) (*control.Keyring, error) {
	keys, current := os.Getenv(envEncryptionKeys), os.Getenv(envEncryptionKeyID)
	if strings.TrimSpace(keys) == "" {
		switch policy {
		case keysRequired:
			return nil, fmt.Errorf("%s is required: names, emails, companies, billing addresses and phone numbers are encrypted at rest with it. "+
				"Make a key with `openssl rand -base64 32` and set %s=k1:<key>", envEncryptionKeys, envEncryptionKeys)
		case keysDev:
			return devKeyring(dataDir)
		default:
			return nil, nil
		}
	}
	kr, err := control.ParseKeyring(keys, current)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envEncryptionKeys, err)
	}
	return kr, nil
}

// devKeyring reads the development key from the data directory, making it
// on the first run. A key beside the database protects nothing; it keeps
// dev on the code path production runs, and its data readable across
// restarts.
func devKeyring(dataDir string) (*control.Keyring, error) {
	path := filepath.Join(dataDir, devKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, err
		}
		b = []byte(control.NewKeyText("dev") + "\n")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("dev encryption key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("dev encryption key: %w", err)
	}
	slog.Warn("dev: profile fields are sealed with a development key kept beside the database; set " +
		envEncryptionKeys + " outside development")
	return control.ParseKeyring(strings.TrimSpace(string(b)), "")
}

const rotateKeyUsage = `switchyard admin rotate-key [-batch N]

Re-seals every encrypted value (billing addresses, phone numbers) under the
current key, SWITCHYARD_ENCRYPTION_KEY_ID, and seals values still in plain
text. Safe while the service runs. To rotate without downtime:

  1. add the new key to SWITCHYARD_ENCRYPTION_KEYS on every replica and
     restart them (the current key id unchanged);
  2. set SWITCHYARD_ENCRYPTION_KEY_ID to the new key and restart them;
  3. run this command until it reports "remaining": 0;
  4. remove the old key.
`

// runRotateKey is `switchyard admin rotate-key`.
func runRotateKey(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("admin rotate-key", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), rotateKeyUsage); fs.PrintDefaults() }
	var sf storeFlags
	sf.register(fs)
	batch := fs.Int("batch", 500, "values re-sealed per transaction")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sf.keys = keysRequired
	svc, st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	defer svc.Close()
	rep, err := svc.RotateKeys(ctx, *batch)
	auditAdmin(ctx, svc, "rotate-key", "", err)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
