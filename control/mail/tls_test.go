package mail_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/mail"
	"github.com/switchyard-ai/switchyard/internal/mailtest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, pool
}

// TestTLSAndAuth sends through mailpit in each TLS mode, authenticating
// with AUTH PLAIN, and checks the failures that must not fall back to
// plain text.
func TestTLSAndAuth(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	tlsArgs := []string{"--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-auth-accept-any"}
	tests := []struct {
		name      string
		args      []string
		tls       string
		untrusted bool
		wantClass string
	}{
		{"STARTTLS required and offered", append(tlsArgs, "--smtp-require-starttls"), mail.TLSStartTLS, false, ""},
		{"STARTTLS when offered", tlsArgs, mail.TLSAuto, false, ""},
		{"implicit TLS", append(tlsArgs, "--smtp-require-tls"), mail.TLSImplicit, false, ""},
		{"STARTTLS required, not offered", []string{"--smtp-auth-accept-any", "--smtp-auth-allow-insecure"}, mail.TLSStartTLS, false, "tls"},
		{"untrusted certificate", tlsArgs, mail.TLSAuto, true, "tls"},
		{"implicit TLS against plain SMTP", nil, mail.TLSImplicit, false, "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			smtp := mailtest.New(t)
			smtp.Args = tt.args
			smtp.Start()
			cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
			if tt.untrusted {
				cfg = &tls.Config{ServerName: "127.0.0.1"}
			}
			m, err := mail.New(mail.Config{Host: smtp.Host, Port: smtp.Port, Username: "billing", Password: "s3cret",
				From: "billing@switchyard.test", TLS: tt.tls, TLSConfig: cfg})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = m.Send(ctx, "mail_tls", &control.Email{AccountID: "acct_1", To: "ada@example.com",
				Kind: control.EmailLowBalance, Subject: "Über low", Text: "Balance: $0.10\n", DedupeKey: "k"})
			if tt.wantClass != "" {
				var me *control.MailError
				if !errors.As(err, &me) || me.Class != tt.wantClass || me.Permanent {
					t.Fatalf("err = %v, want a temporary %q MailError", err, tt.wantClass)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			msgs := smtp.WaitMessages(t, 1, 5*time.Second)
			if len(msgs) != 1 {
				t.Fatalf("%d messages", len(msgs))
			}
			got := smtp.Message(t, msgs[0].ID)
			if got.Subject != "Über low" || got.Text != "Balance: $0.10\r\n" && got.Text != "Balance: $0.10\n" {
				t.Errorf("subject %q text %q", got.Subject, got.Text)
			}
		})
	}
}
