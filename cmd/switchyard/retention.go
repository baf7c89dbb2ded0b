package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

// retentionFlags set the retention periods (control, admin retention run)
// and, for control, how often the job runs.
type retentionFlags struct {
	cfg control.RetentionConfig
}

// register adds the flags, each defaulting to its environment variable,
// else the privacy policy's period. It fails on a malformed variable.
func (f *retentionFlags) register(fs *flag.FlagSet, withInterval bool) error {
	opts := []struct {
		name, env string
		v         *time.Duration
		def       time.Duration
		what      string
	}{
		{"retention-usage", "SWITCHYARD_RETENTION_USAGE", &f.cfg.Usage, control.DefaultUsageRetention,
			"how long per-request usage records are kept before they are rolled up per day and deleted"},
		{"retention-closed-accounts", "SWITCHYARD_RETENTION_CLOSED_ACCOUNTS", &f.cfg.ClosedAccounts,
			control.DefaultClosedAccountRetention, "how long a closed account's remaining data is kept after closure"},
		{"retention-payments", "SWITCHYARD_RETENTION_PAYMENTS", &f.cfg.Payments, control.DefaultPaymentRetention,
			"how long payment records and Stripe events are kept"},
		{"retention-audit", "SWITCHYARD_RETENTION_AUDIT", &f.cfg.Audit, control.DefaultAuditRetention,
			"how long audit log entries are kept"},
		{"retention-emails", "SWITCHYARD_RETENTION_EMAILS", &f.cfg.Emails, control.DefaultEmailRetention,
			"how long sent and failed outbox emails are kept"},
	}
	if withInterval {
		opts = append(opts, struct {
			name, env string
			v         *time.Duration
			def       time.Duration
			what      string
		}{"retention-interval", "SWITCHYARD_RETENTION_INTERVAL", &f.cfg.Interval, time.Hour,
			"how often the retention job runs; 0 turns it off"})
	}
	for _, o := range opts {
		*o.v = o.def
		if s := os.Getenv(o.env); s != "" {
			d, err := parseDays(s)
			if err != nil {
				return fmt.Errorf("%s: %w", o.env, err)
			}
			*o.v = d
		}
		fs.Var((*daysValue)(o.v), o.name, o.what+`, like "90d" or "12h" (env `+o.env+`)`)
	}
	return nil
}

// daysValue is a duration flag that also takes whole days ("90d"), the
// unit retention periods are stated in.
type daysValue time.Duration

func (d *daysValue) Set(s string) error {
	v, err := parseDays(s)
	*d = daysValue(v)
	return err
}

func (d *daysValue) String() string {
	v := time.Duration(*d)
	if v != 0 && v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return v.String()
}

func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 32)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither days (90d) nor a duration (12h)", s)
	}
	return d, nil
}

const retentionUsage = `switchyard admin retention run [flags]

Runs the retention job once, now, and prints what it deleted per category
as JSON. Safe while control services run: of concurrent runs one works and
the others report "skipped".
`

// runAdminRetention is `switchyard admin retention run`.
func runAdminRetention(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprint(os.Stderr, retentionUsage)
		return errors.New(`the retention command is "retention run"`)
	}
	fs := flag.NewFlagSet("admin retention run", flag.ContinueOnError)
	var sf storeFlags
	sf.register(fs)
	sf.retention = &retentionFlags{}
	if err := sf.retention.register(fs, false); err != nil {
		return err
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	svc, st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	defer svc.Close()
	rep, err := svc.RunRetention(ctx)
	auditAdmin(ctx, svc, "retention.run", "", err)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
