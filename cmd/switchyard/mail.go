package main

import (
	"errors"
	"flag"
	"os"
	"strconv"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/mail"
)

// smtpFlags configure the billing emails' SMTP server for `switchyard
// control`. The password comes from the environment only, so it does not
// show in process listings.
type smtpFlags struct {
	host        string
	port        int
	username    string
	password    string
	from        string
	tls         string
	interval    time.Duration
	maxAttempts int
	topUpURL    string
}

func (f *smtpFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.host, "smtp-host", os.Getenv("SWITCHYARD_SMTP_HOST"), "SMTP server for billing emails; empty keeps them in the outbox (env SWITCHYARD_SMTP_HOST)")
	port, _ := strconv.Atoi(os.Getenv("SWITCHYARD_SMTP_PORT"))
	fs.IntVar(&f.port, "smtp-port", port, "SMTP port; 0 means 465 with -smtp-tls=implicit, else 587 (env SWITCHYARD_SMTP_PORT)")
	fs.StringVar(&f.username, "smtp-username", os.Getenv("SWITCHYARD_SMTP_USERNAME"), "SMTP user for AUTH PLAIN; empty sends without authenticating (env SWITCHYARD_SMTP_USERNAME; the password only from env SWITCHYARD_SMTP_PASSWORD)")
	f.password = os.Getenv("SWITCHYARD_SMTP_PASSWORD")
	fs.StringVar(&f.from, "smtp-from", os.Getenv("SWITCHYARD_SMTP_FROM"), `sender of billing emails, e.g. "Switchyard <billing@example.com>" (env SWITCHYARD_SMTP_FROM)`)
	fs.StringVar(&f.tls, "smtp-tls", envOr("SWITCHYARD_SMTP_TLS", mail.TLSAuto), "auto (STARTTLS when offered), starttls (required), implicit (TLS from the start) or none (env SWITCHYARD_SMTP_TLS)")
	interval, _ := time.ParseDuration(os.Getenv("SWITCHYARD_MAIL_INTERVAL"))
	fs.DurationVar(&f.interval, "mail-interval", interval, "how often the outbox is checked for due emails; 0 means 5s (env SWITCHYARD_MAIL_INTERVAL)")
	attempts, _ := strconv.Atoi(os.Getenv("SWITCHYARD_MAIL_MAX_ATTEMPTS"))
	fs.StringVar(&f.topUpURL, "mail-topup-url", os.Getenv("SWITCHYARD_MAIL_TOPUP_URL"), "link in billing emails to where customers add credits; empty leaves it out (env SWITCHYARD_MAIL_TOPUP_URL)")
	fs.IntVar(&f.maxAttempts, "mail-max-attempts", attempts, "tries before an email is marked failed; 0 means 10 (env SWITCHYARD_MAIL_MAX_ATTEMPTS)")
}

// config returns the outbox sender's configuration; configured is false
// when no SMTP host is set, and emails then stay in the outbox.
func (f *smtpFlags) config() (cfg control.MailConfig, configured bool, err error) {
	cfg = control.MailConfig{Interval: f.interval, MaxAttempts: f.maxAttempts}
	if f.host == "" {
		return cfg, false, nil
	}
	if f.from == "" {
		return cfg, false, errors.New("-smtp-from (or SWITCHYARD_SMTP_FROM) is required with an SMTP host")
	}
	m, err := mail.New(mail.Config{Host: f.host, Port: f.port, Username: f.username, Password: f.password,
		From: f.from, TLS: f.tls})
	if err != nil {
		return cfg, false, err
	}
	cfg.Mailer = m
	return cfg, true, nil
}
