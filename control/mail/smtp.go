// Package mail sends the control service's outbox over SMTP: a
// control.Mailer built on net/smtp.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

// TLS modes.
const (
	// TLSAuto upgrades with STARTTLS when the server offers it and carries
	// on in plain text when not. net/smtp refuses to send a password in
	// plain text except to localhost, so a server that stops offering
	// STARTTLS cannot be used to read it.
	TLSAuto = "auto"
	// TLSStartTLS requires STARTTLS.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, usually port 465).
	TLSImplicit = "implicit"
	// TLSNone never uses TLS: for a relay on the same host.
	TLSNone = "none"
)

// Config is how to reach the SMTP server. Host and From are required.
type Config struct {
	Host string
	// Port defaults to 465 with TLSImplicit and 587 otherwise.
	Port int
	// Username, when set, authenticates with AUTH PLAIN. Default none.
	Username string
	Password string
	// From is the sender address, with or without a display name:
	// "Switchyard <billing@example.com>".
	From string
	// TLS is TLSAuto (the default), TLSStartTLS, TLSImplicit or TLSNone.
	TLS string
	// TLSConfig overrides the TLS client settings. Default: verify the
	// server's certificate for Host.
	TLSConfig *tls.Config
	// LocalName is the name sent with EHLO. Default "localhost".
	LocalName string
}

// SMTP is a control.Mailer. It opens one connection per email: billing
// emails are rare, and a pooled connection would only add a state to go
// stale.
type SMTP struct {
	cfg  Config
	from *netmail.Address
}

var _ control.Mailer = (*SMTP)(nil)

// New checks cfg and returns a mailer. It does no I/O.
func New(cfg Config) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail: SMTP host is required")
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSAuto
	}
	switch cfg.TLS {
	case TLSAuto, TLSStartTLS, TLSNone:
		if cfg.Port == 0 {
			cfg.Port = 587
		}
	case TLSImplicit:
		if cfg.Port == 0 {
			cfg.Port = 465
		}
	default:
		return nil, fmt.Errorf("mail: TLS mode %q is not one of auto, starttls, implicit, none", cfg.TLS)
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("mail: port %d is out of range", cfg.Port)
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	}
	if cfg.LocalName == "" {
		cfg.LocalName = "localhost"
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: from address: %w", err)
	}
	return &SMTP{cfg: cfg, from: from}, nil
}

// Addr is the server's host:port.
func (m *SMTP) Addr() string { return net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port)) }

// Send delivers e. Failures are *control.MailError; a recipient the server
// refuses with a 5xx code is permanent.
func (m *SMTP) Send(ctx context.Context, id string, e *control.Email) error {
	msg, err := m.compose(id, e, time.Now())
	if err != nil {
		return &control.MailError{Class: "compose", Permanent: true, Err: err}
	}
	conn, err := m.dial(ctx)
	if err != nil {
		return err
	}
	// net/smtp takes no context: a deadline on the connection bounds the
	// whole conversation, and cancelling closes it.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	err = m.converse(conn, e.To, msg)
	if err != nil && ctx.Err() != nil {
		return &control.MailError{Class: "timeout", Err: ctx.Err()}
	}
	return err
}

func (m *SMTP) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", m.Addr())
	if err != nil {
		return nil, &control.MailError{Class: "connect", Err: err}
	}
	if m.cfg.TLS != TLSImplicit {
		return conn, nil
	}
	tc := tls.Client(conn, m.cfg.TLSConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, &control.MailError{Class: "tls", Err: err}
	}
	return tc, nil
}

func (m *SMTP) converse(conn net.Conn, to string, msg []byte) error {
	c, err := smtp.NewClient(conn, m.cfg.Host)
	if err != nil {
		conn.Close()
		return &control.MailError{Class: "connect", Err: err}
	}
	defer c.Close()
	if err := c.Hello(m.cfg.LocalName); err != nil {
		return &control.MailError{Class: "connect", Err: err}
	}
	if m.cfg.TLS == TLSAuto || m.cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(m.cfg.TLSConfig); err != nil {
				return &control.MailError{Class: "tls", Err: err}
			}
		} else if m.cfg.TLS == TLSStartTLS {
			return &control.MailError{Class: "tls", Err: errors.New("server does not offer STARTTLS")}
		}
	}
	if m.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, m.cfg.Host)); err != nil {
			return &control.MailError{Class: "auth", Err: err}
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return &control.MailError{Class: "sender", Err: err}
	}
	if err := c.Rcpt(to); err != nil {
		return &control.MailError{Class: "recipient", Permanent: isPermanent(err), Err: err}
	}
	w, err := c.Data()
	if err != nil {
		return &control.MailError{Class: "data", Err: err}
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return &control.MailError{Class: "data", Err: err}
	}
	if err := w.Close(); err != nil {
		return &control.MailError{Class: "data", Err: err}
	}
	// The server has the email; a failing QUIT changes nothing.
	c.Quit()
	return nil
}

// isPermanent reports a 5xx SMTP reply.
func isPermanent(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500 && te.Code < 600
}

// compose builds the RFC 5322 message: quoted-printable UTF-8 text, with an
// HTML alternative when there is one.
func (m *SMTP) compose(id string, e *control.Email, now time.Time) ([]byte, error) {
	for _, v := range []string{e.To, e.Subject, id} {
		if strings.ContainsAny(v, "\r\n") {
			return nil, errors.New("a header value contains a line break")
		}
	}
	domain := "switchyard.invalid"
	if _, d, ok := strings.Cut(m.from.Address, "@"); ok && d != "" {
		domain = d
	}
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", m.from.String())
	header("To", (&netmail.Address{Address: e.To}).String())
	header("Subject", mime.QEncoding.Encode("utf-8", e.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+id+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated")
	if e.HTML == "" {
		writePart(&b, "text/plain", e.Text)
		return b.Bytes(), nil
	}
	boundary := randomBoundary()
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, p := range []struct{ typ, body string }{{"text/plain", e.Text}, {"text/html", e.HTML}} {
		b.WriteString("--" + boundary + "\r\n")
		writePart(&b, p.typ, p.body)
		b.WriteString("\r\n") // belongs to the delimiter, not the body
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// writePart writes a part's content headers and its quoted-printable body.
func writePart(b *bytes.Buffer, typ, body string) {
	b.WriteString("Content-Type: " + typ + "; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(b)
	qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")))
	qp.Close()
}

func randomBoundary() string {
	var buf [16]byte
	rand.Read(buf[:])
	return "sy-" + hex.EncodeToString(buf[:])
}
