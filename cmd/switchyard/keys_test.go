package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
)

func TestLoadKeyring(t *testing.T) {
	key := strings.TrimPrefix(control.NewKeyText("x"), "x:")
	tests := []struct {
		name, keys, current string
		policy              keyPolicy
		wantID              string // "" for no keyring
		wantErr             string
	}{
		{"control needs a key", "", "", keysRequired, "", "SWITCHYARD_ENCRYPTION_KEYS is required"},
		{"admin goes without", "", "", keysOptional, "", ""},
		{"one key", "k1:" + key, "", keysRequired, "k1", ""},
		{"rotation", "k1:" + key + ",k2:" + key, "k2", keysRequired, "k2", ""},
		{"bad keys", "k1:short", "", keysOptional, "", "SWITCHYARD_ENCRYPTION_KEYS"},
		{"configured keys win in dev", "k1:" + key, "", keysDev, "k1", ""},
		{"dev makes its own", "", "", keysDev, "dev", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envEncryptionKeys, tt.keys)
			t.Setenv(envEncryptionKeyID, tt.current)
			kr, err := loadKeyring(tt.policy, t.TempDir())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (kr == nil) != (tt.wantID == "") || kr != nil && kr.CurrentKeyID() != tt.wantID {
				t.Fatalf("keyring %v, want key id %q", kr, tt.wantID)
			}
		})
	}
}

// TestDevKeyringPersists: dev's data stays readable across restarts.
func TestDevKeyringPersists(t *testing.T) {
	t.Setenv(envEncryptionKeys, "")
	dir := t.TempDir()
	first, err := loadKeyring(keysDev, dir)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := first.Seal("1 Dev Street", "acct_dev", control.FieldBillingAddress)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, devKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", info, err)
	}
	second, err := loadKeyring(keysDev, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := second.Open(sealed, "acct_dev", control.FieldBillingAddress); err != nil || got != "1 Dev Street" {
		t.Fatalf("after a restart: %q, %v", got, err)
	}
}

// TestRotateKeyCommand runs `switchyard admin rotate-key` on a database
// sealed under k1 and reads it back with k2 alone.
func TestRotateKeyCommand(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	k1, k2 := control.NewKeyText("k1"), control.NewKeyText("k2")
	t.Setenv(envEncryptionKeys, k1)
	sf := storeFlags{dataDir: dir, keys: keysRequired}
	svc, st, err := sf.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := svc.CreateAccount(ctx, control.AccountCreate{Name: "R", Email: "r@example.com",
		BillingAddress: "1 Rotation Row", Phone: "+1 555 0199", Password: "password1"})
	svc.Close()
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	t.Setenv(envEncryptionKeys, k1+","+k2)
	t.Setenv(envEncryptionKeyID, "k2")
	if err := runAdmin(ctx, []string{"rotate-key", "-data-dir", dir, "-batch", "1"}); err != nil {
		t.Fatal(err)
	}

	t.Setenv(envEncryptionKeys, k2)
	t.Setenv(envEncryptionKeyID, "")
	svc, st, err = sf.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	defer svc.Close()
	got, err := svc.Account(ctx, a.ID)
	if err != nil || got.BillingAddress != "1 Rotation Row" || got.Phone != "+1 555 0199" {
		t.Fatalf("after rotation, with the new key alone: %+v, %v", got, err)
	}
}
