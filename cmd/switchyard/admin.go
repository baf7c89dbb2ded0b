package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

const adminUsage = `switchyard admin <command> [flags]

Operator commands on the control database; each prints JSON.

  accounts        list accounts
  create-account  -email -name -password [-company -address -phone]
  grant           -account ID -micros N [-note TEXT -ref ID]   (a repeated -ref grants once)
  create-key      -account ID -name NAME [-rpm N -tpm N -cap-micros N -models a,b]
  set-price       -model ID -input N -output N [-cached N -context N -kind chat|embedding]
  usage           [-account ID] [-from RFC3339 -to RFC3339] [-group-by day|model|key]
  models          list the catalog
  suspend         ACCOUNT_ID -reason TEXT   (the edge refuses its keys within the snapshot TTL, 30s)
  restore         ACCOUNT_ID                (reinstates it and clears its spend flag)
  audit           [-account ID] [-limit N] [-cursor C]   the audit log, newest first
  rotate-key      [-batch N]   re-seal encrypted fields under SWITCHYARD_ENCRYPTION_KEY_ID
  retention run   [-retention-usage 90d ...]   run the retention job now; prints what it deleted

Every command is recorded in the audit log with actor "operator".
`

// runAdmin runs one operator command against the database directly, so it
// works for scripts whether or not a control service is running.
func runAdmin(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, adminUsage)
		return errors.New("missing command")
	}
	cmd, args := args[0], args[1:]
	if cmd == "rotate-key" {
		return runRotateKey(operatorContext(ctx), args)
	}
	if cmd == "retention" {
		return runAdminRetention(operatorContext(ctx), args, os.Stdout)
	}
	var target string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		target, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("admin "+cmd, flag.ContinueOnError)
	var sf storeFlags
	sf.register(fs)
	var (
		email    = fs.String("email", "", "account email")
		name     = fs.String("name", "", "account or key name")
		password = fs.String("password", "", "account password")
		company  = fs.String("company", "", "company")
		address  = fs.String("address", "", "billing address")
		phone    = fs.String("phone", "", "phone")
		account  = fs.String("account", "", "account id")
		micros   = fs.Int64("micros", 0, "amount in micro-dollars")
		note     = fs.String("note", "", "ledger note")
		ref      = fs.String("ref", "", "idempotency reference")
		rpm      = fs.Int("rpm", 0, "requests per minute (0 unlimited)")
		tpm      = fs.Int("tpm", 0, "tokens per minute (0 unlimited)")
		capM     = fs.Int64("cap-micros", 0, "monthly spend cap in micro-dollars (0 none)")
		models   = fs.String("models", "", "comma-separated allowed models (empty all)")
		model    = fs.String("model", "", "model id provider/model")
		input    = fs.Int64("input", 0, "input price, micro-dollars per million tokens")
		output   = fs.Int64("output", 0, "output price, micro-dollars per million tokens")
		cached   = fs.Int64("cached", 0, "cached input price, micro-dollars per million tokens")
		context_ = fs.Int("context", 0, "context length in tokens")
		kind     = fs.String("kind", "", "chat or embedding")
		from     = fs.String("from", "", "usage from (RFC3339), default 30 days ago")
		to       = fs.String("to", "", "usage to (RFC3339), default now")
		groupBy  = fs.String("group-by", "day", "usage grouping: day, model or key")
		reason   = fs.String("reason", "", "why the account is suspended (audit log only)")
		limit    = fs.Int("limit", 0, "audit entries per page (default 100, at most 1000)")
		cursor   = fs.String("cursor", "", "audit page cursor (next_cursor of the previous page)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if target == "" {
		target = fs.Arg(0)
	}
	if target == "" {
		target = *account
	}
	ctx = operatorContext(ctx)
	svc, st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var out any
	switch cmd {
	case "accounts":
		out, err = svc.Accounts(ctx)
	case "create-account":
		out, err = svc.CreateAccount(ctx, control.AccountCreate{Name: *name, Email: *email, Password: *password, Company: *company, BillingAddress: *address, Phone: *phone})
	case "grant":
		out, err = svc.GrantCredits(ctx, *account, *micros, *note, *ref)
	case "create-key":
		k, secret, kerr := svc.CreateKey(ctx, *account, control.KeyCreate{
			Name: *name, AllowedModels: splitList(*models),
			Limits: edgeLimits(*rpm, *tpm, *capM),
		})
		out, err = map[string]any{"key": k, "secret": secret, "note": "the secret is shown only now"}, kerr
	case "set-price":
		var version int
		version, err = svc.PutModel(ctx, control.Model{ID: *model, Kind: *kind, ContextLength: *context_, InputPrice: *input, OutputPrice: *output, CachedInputPrice: *cached})
		out = map[string]int{"catalog_version": version}
	case "models":
		out, err = svc.Catalog(ctx)
	case "suspend":
		if strings.TrimSpace(*reason) == "" {
			return errors.New("suspend needs -reason")
		}
		err = svc.SuspendAccount(ctx, target, *reason)
		out = map[string]string{"account_id": target, "status": control.AccountSuspended}
	case "restore":
		err = svc.RestoreAccount(ctx, target)
		out = map[string]string{"account_id": target, "status": control.AccountActive}
	case "audit":
		out, err = svc.AuditLog(ctx, *account, *cursor, *limit)
	case "usage":
		q := control.UsageQuery{AccountID: *account, GroupBy: *groupBy, To: time.Now().UTC()}
		q.From = q.To.AddDate(0, 0, -30)
		if *from != "" {
			if q.From, err = time.Parse(time.RFC3339, *from); err != nil {
				return fmt.Errorf("-from: %w", err)
			}
		}
		if *to != "" {
			if q.To, err = time.Parse(time.RFC3339, *to); err != nil {
				return fmt.Errorf("-to: %w", err)
			}
		}
		out, err = svc.Usage(ctx, q)
	default:
		fmt.Fprint(os.Stderr, adminUsage)
		return fmt.Errorf("unknown admin command %q", cmd)
	}
	if cmd != "suspend" && cmd != "restore" {
		// suspend and restore are recorded by the service, with the reason.
		auditAdmin(ctx, svc, cmd, target, err)
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func edgeLimits(rpm, tpm int, capMicros int64) edgeapi.Limits {
	return edgeapi.Limits{RequestsPerMinute: rpm, TokensPerMinute: tpm, MonthlySpendCapMicros: capMicros}
}

// operatorContext marks what the command does as the operator's, from
// this machine and user, for the audit log.
func operatorContext(ctx context.Context) context.Context {
	who := "switchyard admin"
	if u := os.Getenv("USER"); u != "" {
		who += " (user " + u + ")"
	}
	return control.WithClient(control.WithActor(ctx, control.ActorOperator), "local", who)
}

// auditAdmin records an admin command; a failure to record is reported on
// stderr but does not change the command's outcome.
func auditAdmin(ctx context.Context, svc *control.Service, cmd, accountID string, cmdErr error) {
	result := control.AuditOK
	if cmdErr != nil {
		result = control.AuditFailed
	}
	if err := svc.Audit(ctx, control.AuditEntry{AccountID: accountID, Action: "admin." + cmd, Target: accountID,
		Result: result}); err != nil {
		fmt.Fprintf(os.Stderr, "switchyard admin: audit log: %v\n", err)
	}
}
