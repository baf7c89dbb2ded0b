package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
)

// tlsFlags name the certificate a service serves TLS with; control and
// edge share them.
type tlsFlags struct {
	cert string
	key  string
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cert, "tls-cert", os.Getenv("SWITCHYARD_TLS_CERT"), "PEM certificate chain to serve TLS with; empty serves plain HTTP (env SWITCHYARD_TLS_CERT)")
	fs.StringVar(&f.key, "tls-key", os.Getenv("SWITCHYARD_TLS_KEY"), "PEM private key of -tls-cert (env SWITCHYARD_TLS_KEY)")
}

// config loads the certificate: nil without one, an error when only one of
// the two files is given or they do not load.
func (f *tlsFlags) config() (*tls.Config, error) {
	if f.cert == "" && f.key == "" {
		return nil, nil
	}
	if f.cert == "" || f.key == "" {
		return nil, errors.New("-tls-cert and -tls-key (SWITCHYARD_TLS_CERT, SWITCHYARD_TLS_KEY) go together")
	}
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return serverTLS(cert), nil
}

// serverTLS is the TLS every service serves: 1.2 at least, the privacy
// policy's promise, with Go's default (forward-secret, AEAD) suites.
func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// listenService listens on addr, with TLS when cfg is set, and says which: a
// service on plain HTTP away from loopback gets a warning, since its
// session cookies, API keys and tokens then cross the network in clear
// unless a TLS proxy is in front.
func listenService(service, addr string, cfg *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	bound := ln.Addr().String()
	if cfg != nil {
		slog.Info(service+" serving TLS", "addr", bound, "min_version", "1.2")
		return tls.NewListener(ln, cfg), nil
	}
	if isLoopback(ln.Addr()) {
		slog.Info(service+" serving plain HTTP on loopback", "addr", bound)
	} else {
		slog.Warn(service+" serving plain HTTP, not TLS: give -tls-cert and -tls-key, or put a TLS proxy in front", "addr", bound)
	}
	return ln, nil
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}
