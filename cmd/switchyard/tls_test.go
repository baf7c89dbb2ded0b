package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir and
// returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "switchyard test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

func TestTLSFlags(t *testing.T) {
	cert, key, _ := selfSigned(t, t.TempDir())
	tests := []struct {
		name    string
		f       tlsFlags
		wantTLS bool
		wantErr string
	}{
		{"none: plain HTTP", tlsFlags{}, false, ""},
		{"both", tlsFlags{cert: cert, key: key}, true, ""},
		{"cert alone", tlsFlags{cert: cert}, false, "go together"},
		{"key alone", tlsFlags{key: key}, false, "go together"},
		{"missing file", tlsFlags{cert: cert + ".nope", key: key}, false, "TLS certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.f.config()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || (cfg != nil) != tc.wantTLS {
				t.Fatalf("config %v, err %v", cfg, err)
			}
			if cfg != nil && cfg.MinVersion != tls.VersionTLS12 {
				t.Errorf("min version %x", cfg.MinVersion)
			}
		})
	}
}

// TestServeTLS serves both kinds of server the commands run (net/http for
// control, fasthttp for the edge) over a generated certificate: TLS 1.2
// and 1.3 clients get answers, a TLS 1.1 client is refused.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, roots := selfSigned(t, t.TempDir())
	f := tlsFlags{cert: certFile, key: keyFile}
	cfg, err := f.config()
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]func(ctx context.Context, ln net.Listener) error{
		"net/http": func(ctx context.Context, ln net.Listener) error {
			return serveHTTP(ctx, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.TLS == nil {
					http.Error(w, "no TLS state", 500)
					return
				}
				io.WriteString(w, "ok")
			}))
		},
		"fasthttp": func(ctx context.Context, ln net.Listener) error {
			return serveFast(ctx, ln, &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
				if !c.IsTLS() {
					c.Error("no TLS", 500)
					return
				}
				c.WriteString("ok")
			}})
		},
	}
	for name, serve := range servers {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			ln, err := listenService("test", "127.0.0.1:0", cfg)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- serve(ctx, ln) }()
			t.Cleanup(func() { cancel(); <-done })
			url := "https://" + ln.Addr().String() + "/"
			get := func(minV, maxV uint16) (string, error) {
				c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
					RootCAs: roots, MinVersion: minV, MaxVersion: maxV}}}
				resp, err := c.Get(url)
				if err != nil {
					return "", err
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b), nil
			}
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				if body, err := get(v, v); err != nil || body != "ok" {
					t.Errorf("TLS %x: %q %v", v, body, err)
				}
			}
			if _, err := get(tls.VersionTLS10, tls.VersionTLS11); err == nil {
				t.Error("a TLS 1.1 client was served")
			}
			if resp, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Error("plain HTTP was served on the TLS port")
				}
			}
		})
	}
}
