package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/control"
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
	return svc, func() { st.Close(); stopChecks() }, nil
}

// open opens the store, applies migrations and starts the service.
func (f *storeFlags) open(ctx context.Context) (*control.Service, *libsql.Store, error) {
	url := f.dbURL
	if url == "" {
		url = libsql.FileURL(f.dataDir)
	}
	st, err := libsql.Open(ctx, url, libsql.Options{AuthToken: f.authToken})
	if err != nil {
		return nil, nil, err
	}
	svc := control.NewService(st, control.Config{StartingCreditMicros: f.credit, Plugins: f.plugins, PluginMaxBytes: f.pluginMaxBytes})
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
	secure := fs.Bool("secure-cookies", os.Getenv("SWITCHYARD_SECURE_COOKIES") == "true", "mark session cookies Secure behind a TLS-terminating proxy (env SWITCHYARD_SECURE_COOKIES=true)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	edgeTokens := splitList(*tokens)
	if len(edgeTokens) == 0 {
		return errors.New("-edge-tokens (or SWITCHYARD_EDGE_TOKENS) is required: edges could not connect without one")
	}
	svc, closeSvc, err := sf.openServing(ctx)
	if err != nil {
		return err
	}
	defer closeSvc()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	slog.Info("control service listening", "addr", ln.Addr().String())
	return serveHTTP(ctx, ln, httpapi.New(svc, httpapi.Config{EdgeTokens: edgeTokens, SecureCookies: *secure}))
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
