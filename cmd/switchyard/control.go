package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/dashboard"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/control/libsql"
	"github.com/switchyard-ai/switchyard/control/pluginhost"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

// storeFlags locate the database; control, admin and dev share them.
type storeFlags struct {
	dataDir        string
	dbURL          string
	authToken      string
	credit         int64
	pluginMaxBytes int
	// plugins checks plugin uploads; nil (admin) refuses them.
	plugins control.PluginValidator
	// mail sends the email outbox; the zero value (admin) sends nothing.
	mail control.MailConfig
	// links go into billing emails, which are queued whatever mail says.
	links control.BillingLinks
	// stripe, when set (control, dev), takes card top-ups.
	stripe *stripeFlags
	// paymentsOn is set by open when stripe configured card top-ups, so
	// the console offers them.
	paymentsOn bool
	// keys says what to do without SWITCHYARD_ENCRYPTION_KEYS; see
	// loadKeyring.
	keys keyPolicy
	// retention, when set (control, admin retention run), sets the
	// retention job's periods and interval.
	retention *retentionFlags
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dataDir, "data-dir", envOr("SWITCHYARD_DATA_DIR", "data"), "directory of the embedded database (env SWITCHYARD_DATA_DIR)")
	fs.StringVar(&f.dbURL, "db-url", os.Getenv("SWITCHYARD_DB_URL"), "database URL: file:..., libsql://... or https://...; empty means the file switchyard.db in -data-dir (env SWITCHYARD_DB_URL)")
	f.authToken = os.Getenv("SWITCHYARD_DB_AUTH_TOKEN")
	credit, _ := strconv.ParseInt(os.Getenv("SWITCHYARD_SIGNUP_CREDIT_MICROS"), 10, 64)
	fs.Int64Var(&f.credit, "signup-credit-micros", credit, "credit granted to each new account, in micro-dollars (env SWITCHYARD_SIGNUP_CREDIT_MICROS)")
	maxBytes, _ := strconv.Atoi(os.Getenv("SWITCHYARD_PLUGIN_MAX_BYTES"))
	fs.IntVar(&f.pluginMaxBytes, "plugin-max-bytes", maxBytes, "largest plugin module accepted; 0 means 16 MiB, the native edge's limit (env SWITCHYARD_PLUGIN_MAX_BYTES)")
}

// startPluginChecks gives the service a plugin host to check uploads with,
// under the limits the native edge runs them with. The returned function
// closes it.
func (f *storeFlags) startPluginChecks(ctx context.Context) (func(), error) {
	h, err := host.New(ctx, host.Config{MaxModuleBytes: int64(f.pluginMaxBytes)})
	if err != nil {
		return nil, err
	}
	f.plugins = pluginhost.NewValidator(h)
	return func() { h.Close(context.Background()) }, nil
}

// openServing opens the service with plugin upload checks, for the
// commands that serve the API; close releases both.
func (f *storeFlags) openServing(ctx context.Context) (svc *control.Service, close func(), err error) {
	stopChecks, err := f.startPluginChecks(ctx)
	if err != nil {
		return nil, nil, err
	}
	svc, st, err := f.open(ctx)
	if err != nil {
		stopChecks()
		return nil, nil, err
	}
	return svc, func() { svc.Close(); st.Close(); stopChecks() }, nil
}

// open opens the store, applies migrations and starts the service.
func (f *storeFlags) open(ctx context.Context) (*control.Service, *libsql.Store, error) {
	url := f.dbURL
	if url == "" {
		url = libsql.FileURL(f.dataDir)
	}
	keyring, err := loadKeyring(f.keys, f.dataDir)
	if err != nil {
		return nil, nil, err
	}
	st, err := libsql.Open(ctx, url, libsql.Options{AuthToken: f.authToken})
	if err != nil {
		return nil, nil, err
	}
	cfg := control.Config{StartingCreditMicros: f.credit, Plugins: f.plugins, PluginMaxBytes: f.pluginMaxBytes,
		Mail: f.mail, Notifier: &control.BillingEmails{Outbox: st, Links: f.links},
		Abuse: control.AbuseConfig{Links: f.links}, Keyring: keyring}
	if f.retention != nil {
		cfg.Retention = f.retention.cfg
	}
	if f.stripe != nil {
		on, err := f.stripe.apply(&cfg)
		if err != nil {
			st.Close()
			return nil, nil, err
		}
		f.paymentsOn = on
		if !on {
			slog.Warn("card top-ups are off: set SWITCHYARD_STRIPE_SECRET_KEY and SWITCHYARD_STRIPE_WEBHOOK_SECRET to take payments")
		}
	}
	svc := control.NewService(st, cfg)
	if err := svc.Start(ctx); err != nil {
		st.Close()
		return nil, nil, err
	}
	return svc, st, nil
}

func runControl(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("control", flag.ContinueOnError)
	var sf storeFlags
	sf.register(fs)
	listen := fs.String("listen", envOr("SWITCHYARD_CONTROL_LISTEN", "127.0.0.1:8081"), "address to serve on (env SWITCHYARD_CONTROL_LISTEN)")
	tokens := fs.String("edge-tokens", os.Getenv("SWITCHYARD_EDGE_TOKENS"), "comma-separated bearer tokens edges may use; several allow rotation (env SWITCHYARD_EDGE_TOKENS)")
	metricsToken := fs.String("metrics-token", os.Getenv("SWITCHYARD_METRICS_TOKEN"), "bearer token for GET /metrics (Prometheus text); empty serves no /metrics; prefer the env var, which process lists do not show (env SWITCHYARD_METRICS_TOKEN)")
	secure := fs.Bool("secure-cookies", os.Getenv("SWITCHYARD_SECURE_COOKIES") == "true", "mark session cookies Secure behind a TLS-terminating proxy (env SWITCHYARD_SECURE_COOKIES=true)")
	var tf tlsFlags
	tf.register(fs)
	clientIPHeader := fs.String("client-ip-header", os.Getenv("SWITCHYARD_CLIENT_IP_HEADER"), "header a proxy in front puts the client's address in (X-Forwarded-For, CF-Connecting-IP), for audit entries and sign-in throttling; only when every request comes through that proxy (env SWITCHYARD_CLIENT_IP_HEADER)")
	var mf smtpFlags
	mf.register(fs)
	sf.stripe = &stripeFlags{}
	sf.stripe.register(fs)
	sf.keys = keysRequired
	sf.retention = &retentionFlags{}
	if err := sf.retention.register(fs, true); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	mailCfg, mailOn, err := mf.config()
	if err != nil {
		return err
	}
	sf.mail, sf.links = mailCfg, control.BillingLinks{TopUpURL: mf.topUpURL}
	if !mailOn {
		slog.Warn("mail is not configured: billing emails stay in the outbox until -smtp-host (SWITCHYARD_SMTP_HOST) is set")
	}
	edgeTokens := splitList(*tokens)
	if len(edgeTokens) == 0 {
		return errors.New("-edge-tokens (or SWITCHYARD_EDGE_TOKENS) is required: edges could not connect without one")
	}
	tlsCfg, err := tf.config()
	if err != nil {
		return err
	}
	svc, closeSvc, err := sf.openServing(ctx)
	if err != nil {
		return err
	}
	defer closeSvc()
	ln, err := listenService("control service", *listen, tlsCfg)
	if err != nil {
		return err
	}
	console, err := dashboard.New(svc, dashboard.Config{SecureCookies: *secure, PaymentsEnabled: sf.paymentsOn})
	if err != nil {
		return err
	}
	return serveHTTP(ctx, ln, httpapi.New(svc, httpapi.Config{EdgeTokens: edgeTokens, SecureCookies: *secure,
		ClientIPHeader: *clientIPHeader, Dashboard: console, MetricsToken: *metricsToken}))
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
