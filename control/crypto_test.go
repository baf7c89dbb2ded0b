package control_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
)

func key(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune(b)), 32)))
}

func mustKeyring(t *testing.T, keys, current string) *control.Keyring {
	t.Helper()
	kr, err := control.ParseKeyring(keys, current)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestParseKeyring(t *testing.T) {
	tests := []struct {
		name, keys, current string
		wantCurrent         string
		wantErr             string
	}{
		{"one key is current", "k1:" + key('a'), "", "k1", ""},
		{"named current", "k1:" + key('a') + ", k2:" + key('b'), "k2", "k2", ""},
		{"url-safe unpadded", "k1:" + base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\xfb", 32))), "", "k1", ""},
		{"two keys need a current", "k1:" + key('a') + ",k2:" + key('b'), "", "", "must be named"},
		{"unknown current", "k1:" + key('a'), "k9", "", "not among"},
		{"short key", "k1:" + base64.StdEncoding.EncodeToString([]byte("short")), "", "", "AES-256 needs 32"},
		{"not base64", "k1:***", "", "", "not base64"},
		{"no id", key('a'), "", "", "kid:base64key"},
		{"bad id", "k 1:" + key('a'), "", "", "must be 1 to"},
		{"duplicate id", "k1:" + key('a') + ",k1:" + key('b'), "k1", "", "listed twice"},
		{"empty", " , ", "", "", "at least one key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := control.ParseKeyring(tt.keys, tt.current)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), key('a')) {
					t.Fatalf("the error quotes the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kr.CurrentKeyID() != tt.wantCurrent {
				t.Fatalf("current = %q, want %q", kr.CurrentKeyID(), tt.wantCurrent)
			}
		})
	}
}

func TestKeyringSealOpen(t *testing.T) {
	k1 := mustKeyring(t, "k1:"+key('a'), "")
	sealed, err := k1.Seal("12 St James's Square", "acct_1", control.FieldBillingAddress)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "v1:k1:") || strings.Contains(sealed, "James") {
		t.Fatalf("sealed = %q", sealed)
	}
	if id, ok := control.SealedKeyID(sealed); !ok || id != "k1" {
		t.Fatalf("SealedKeyID = %q, %v", id, ok)
	}
	again, _ := k1.Seal("12 St James's Square", "acct_1", control.FieldBillingAddress)
	if again == sealed {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}

	wrongKey := mustKeyring(t, "k1:"+key('z'), "")
	other := mustKeyring(t, "k2:"+key('a'), "")
	tests := []struct {
		name         string
		kr           *control.Keyring
		value        string
		owner, field string
		want         string
		wantErr      string
	}{
		{"opens", k1, sealed, "acct_1", control.FieldBillingAddress, "12 St James's Square", ""},
		{"plain text passes", k1, "1 Harbor Rd", "acct_1", control.FieldBillingAddress, "1 Harbor Rd", ""},
		{"empty passes", k1, "", "acct_1", control.FieldPhone, "", ""},
		{"another row", k1, sealed, "acct_2", control.FieldBillingAddress, "", "moved or damaged"},
		{"another field", k1, sealed, "acct_1", control.FieldPhone, "", "moved or damaged"},
		{"wrong key", wrongKey, sealed, "acct_1", control.FieldBillingAddress, "", `does not open under key id "k1"`},
		{"missing key", other, sealed, "acct_1", control.FieldBillingAddress, "", `key id "k1", which is not configured`},
		{"no keyring", nil, sealed, "acct_1", control.FieldBillingAddress, "", "no encryption key is configured"},
		{"damaged", k1, sealed[:len(sealed)-2] + "AA", "acct_1", control.FieldBillingAddress, "", "moved or damaged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.kr.Open(tt.value, tt.owner, tt.field)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if control.ErrorCode(err) != control.EINTERNAL {
					t.Fatalf("code = %s: a key failure is internal, never shown to clients", control.ErrorCode(err))
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Open = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
