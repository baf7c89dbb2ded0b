package main

import (
	"flag"
	"testing"
	"time"
)

func TestSMTPFlags(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		configured bool
		wantErr    bool
	}{
		{"unset keeps mail in the outbox", nil, nil, false, false},
		{"from the environment", map[string]string{"SWITCHYARD_SMTP_HOST": "smtp.example.com",
			"SWITCHYARD_SMTP_FROM": "billing@example.com", "SWITCHYARD_SMTP_PORT": "2525",
			"SWITCHYARD_SMTP_TLS": "starttls", "SWITCHYARD_MAIL_INTERVAL": "2s"}, nil, true, false},
		{"from flags", nil, []string{"-smtp-host", "smtp.example.com", "-smtp-from", "Billing <b@example.com>",
			"-smtp-tls", "implicit"}, true, false},
		{"host without from", map[string]string{"SWITCHYARD_SMTP_HOST": "smtp.example.com"}, nil, false, true},
		{"bad TLS mode", nil, []string{"-smtp-host", "h", "-smtp-from", "b@example.com", "-smtp-tls", "sometimes"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"SWITCHYARD_SMTP_HOST", "SWITCHYARD_SMTP_PORT", "SWITCHYARD_SMTP_USERNAME",
				"SWITCHYARD_SMTP_PASSWORD", "SWITCHYARD_SMTP_FROM", "SWITCHYARD_SMTP_TLS", "SWITCHYARD_MAIL_INTERVAL",
				"SWITCHYARD_MAIL_MAX_ATTEMPTS"} {
				t.Setenv(k, tt.env[k])
			}
			fs := flag.NewFlagSet("control", flag.ContinueOnError)
			var f smtpFlags
			f.register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			cfg, on, err := f.config()
			if (err != nil) != tt.wantErr || on != tt.configured {
				t.Fatalf("configured=%v err=%v; want configured=%v wantErr=%v", on, err, tt.configured, tt.wantErr)
			}
			if on != (cfg.Mailer != nil) {
				t.Errorf("configured=%v but Mailer=%v", on, cfg.Mailer)
			}
			if tt.env["SWITCHYARD_MAIL_INTERVAL"] == "2s" && cfg.Interval != 2*time.Second {
				t.Errorf("interval = %v", cfg.Interval)
			}
		})
	}
}
