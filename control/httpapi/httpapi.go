// Package httpapi serves the control service over HTTP: the customer JSON
// API under /api/v1 and the edge API under /edge/v1 (see
// internal/edgeapi for its routes and wire types).
//
// Every error is {"error":{"message","code"}} with the status its code maps
// to; internal detail goes to the log under the response's X-Request-Id,
// never to the client.
package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

// Config configures a Handler. The zero value is usable but refuses every
// edge request; each field's default is stated beside it.
type Config struct {
	// EdgeTokens are the bearer tokens edges present. Any of them is
	// accepted, so a token can be rotated without downtime. Empty entries
	// are ignored. Default none: every /edge/v1 request gets 401.
	EdgeTokens []string
	// Logger receives internal errors, with the request id. Default
	// slog.Default().
	Logger *slog.Logger
	// SecureCookies marks the session cookie Secure even on plain HTTP, for
	// a TLS-terminating proxy in front. Default false: Secure exactly when
	// the request arrived over TLS. HSTS follows the same rule.
	SecureCookies bool
	// ClientIPHeader names the header a proxy in front puts the client's
	// address in ("X-Forwarded-For", whose last entry is taken, or
	// "CF-Connecting-IP"); audit entries and sign-in throttling use it.
	// Only set it when every request comes through that proxy, since a
	// client can send the header too. Default "": the connection's peer.
	ClientIPHeader string
	// MaxBodyBytes bounds /api/v1 request bodies. Default 1 MiB.
	MaxBodyBytes int64
	// MaxUsageBatchBytes bounds a usage batch body. Default 32 MiB.
	MaxUsageBatchBytes int64
	// MaxUsageBatchRecords bounds the records of one usage batch. Default
	// 10,000.
	MaxUsageBatchRecords int
	// MetricsToken is the bearer token GET /metrics asks for (Prometheus'
	// text format: requests by route pattern and status, usage batches and
	// records by outcome, database reachability). Default "": /metrics is
	// not served.
	MetricsToken string
	// Dashboard is the web console (control/dashboard), served for "GET /"
	// and the console's pages (DashboardPaths); its data exports are
	// answered by this package's export routes, under the console's
	// session. Default nil: no console, and those paths answer 404.
	Dashboard http.Handler
}

// DashboardPaths are the patterns Config.Dashboard is served for. The
// console's own router answers each method it allows on them.
var DashboardPaths = []string{"GET /{$}", "/static/", "/signup", "/login", "/logout", "/goodbye",
	"/keys", "/keys/", "/usage", "/billing", "/billing/", "/plugins", "/plugins/", "/account", "/account/", "/audit"}

// CSRFToken returns the CSRF token of the session whose cookie holds
// sessionSecret: what a state-changing request must carry in CSRFHeader or,
// from an HTML form, in the field CSRFField. The console puts it in its
// forms.
func CSRFToken(sessionSecret string) string { return csrfToken(sessionSecret) }

// SessionCookie names the dashboard's session cookie.
const SessionCookie = "sy_session"

// Handler is the control service's http.Handler.
type Handler struct {
	svc        *control.Service
	cfg        Config
	log        *slog.Logger
	edgeHashes [][sha256.Size]byte
	mux        *http.ServeMux

	metrics     *metrics
	metricsHash *[sha256.Size]byte
}

var _ http.Handler = (*Handler)(nil)

// New returns the handler for svc. It does no I/O.
func New(svc *control.Service, cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxUsageBatchBytes <= 0 {
		cfg.MaxUsageBatchBytes = 32 << 20
	}
	if cfg.MaxUsageBatchRecords <= 0 {
		cfg.MaxUsageBatchRecords = 10_000
	}
	h := &Handler{svc: svc, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), metrics: newMetrics()}
	if cfg.MetricsToken != "" {
		sum := sha256.Sum256([]byte(cfg.MetricsToken))
		h.metricsHash = &sum
	}
	for _, t := range cfg.EdgeTokens {
		if t != "" {
			h.edgeHashes = append(h.edgeHashes, sha256.Sum256([]byte(t)))
		}
	}
	h.routes()
	return h
}

func (h *Handler) routes() {
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.error(w, r, &httpError{http.StatusForbidden, control.EFORBIDDEN, "cross-origin request refused"})
	}))
	api := func(pattern string, fn http.HandlerFunc) { h.mux.Handle(pattern, csrf.Handler(h.audited(pattern, fn))) }

	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.HandleFunc("GET /metrics", h.serveMetrics)

	api("POST /api/v1/signup", h.signup)
	api("POST /api/v1/login", h.login)
	api("POST /api/v1/logout", h.authed(h.logout))
	api("GET /api/v1/account", h.authed(h.account))
	api("GET /api/v1/ledger", h.authed(h.ledger))
	api("GET /api/v1/tokens", h.authed(h.listTokens))
	api("POST /api/v1/tokens", h.authed(h.createToken))
	api("POST /api/v1/tokens/{id}/revoke", h.authed(h.revokeToken))
	api("GET /api/v1/keys", h.authed(h.listKeys))
	api("POST /api/v1/keys", h.authed(h.createKey))
	api("GET /api/v1/keys/{id}", h.authed(h.getKey))
	api("PATCH /api/v1/keys/{id}", h.authed(h.updateKey))
	api("POST /api/v1/keys/{id}/revoke", h.authed(h.revokeKey))
	api("GET /api/v1/models", h.models)
	api("GET /api/v1/usage", h.authed(h.usage))
	api("GET /api/v1/usage/{request_id}", h.authed(h.usageRecord))
	api("GET /api/v1/plugins", h.authed(h.listPlugins))
	api("POST /api/v1/plugins", h.authed(h.uploadPlugin))
	api("POST /api/v1/plugins/{id}/activate", h.authed(h.activatePlugin))
	api("POST /api/v1/plugins/rollback", h.authed(h.rollbackPlugin))
	api("POST /api/v1/plugins/deactivate", h.authed(h.deactivatePlugin))
	api("GET /api/v1/audit", h.authed(h.auditLog))
	api("GET /api/v1/spend-guard", h.authed(h.spendGuard))
	api("PUT /api/v1/spend-guard", h.authed(h.setSpendGuard))
	h.billingRoutes(api)
	h.rightsRoutes(api)

	h.mux.HandleFunc("GET /edge/v1/keys/{hash}", h.edge(h.edgeKey))
	h.mux.HandleFunc("GET /edge/v1/plugins/{hash}", h.edge(h.edgePlugin))
	h.mux.HandleFunc("GET /edge/v1/catalog", h.edge(h.edgeCatalog))
	h.mux.HandleFunc("POST /edge/v1/usage", h.edge(h.edgeUsage))

	if d := h.cfg.Dashboard; d != nil {
		for _, p := range DashboardPaths {
			h.mux.Handle(p, d)
		}
		// The console's download links reuse the API's streaming exports,
		// audited as the API's are.
		h.mux.Handle("GET /account/export.json",
			csrf.Handler(h.audited("GET /api/v1/account/export", h.authed(h.exportAccount))))
		h.mux.Handle("GET /account/export/usage.csv",
			csrf.Handler(h.audited("GET /api/v1/account/export/usage.csv", h.authed(h.exportUsageCSV))))
	}

	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.error(w, r, &httpError{http.StatusNotFound, control.ENOTFOUND, "no route for this method and path"})
	})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var id [8]byte
	rand.Read(id[:])
	w.Header().Set("X-Request-Id", hex.EncodeToString(id[:]))
	// Every answer here is private to its caller or changes often.
	w.Header().Set("Cache-Control", "no-store")
	if r.TLS != nil || h.cfg.SecureCookies {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	start := time.Now()
	req := r.WithContext(control.WithClient(r.Context(), h.clientIP(r), r.UserAgent()))
	h.mux.ServeHTTP(rec, req)
	// The mux records the pattern it matched on the request it was given.
	route := req.Pattern
	if route == "/" || route == "" {
		route = "unrouted"
	}
	h.metrics.observe(route, rec.status, time.Since(start))
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.Ping(r.Context()); err != nil {
		h.log.Error("health check failed", "request_id", w.Header().Get("X-Request-Id"), "err", err)
		h.error(w, r, &httpError{http.StatusServiceUnavailable, control.EINTERNAL, "database unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// httpError is an error of the HTTP layer itself (size, media type,
// routing) rather than of the domain.
type httpError struct {
	status  int
	code    string
	message string
}

func (e *httpError) Error() string { return e.message }

// Codes of HTTP-level errors that have no domain equivalent.
const (
	codeTooLarge         = "too_large"
	codeUnsupportedMedia = "unsupported_media_type"
)

// statusOf maps domain error codes to HTTP statuses; this is the only place
// that does.
var statusOf = map[string]int{
	control.EINVALID:      http.StatusBadRequest,
	control.ENOTFOUND:     http.StatusNotFound,
	control.ECONFLICT:     http.StatusConflict,
	control.EUNAUTHORIZED: http.StatusUnauthorized,
	control.EFORBIDDEN:    http.StatusForbidden,
	control.EINTERNAL:     http.StatusInternalServerError,
	control.ETHROTTLED:    http.StatusTooManyRequests,
}

// error writes err as the API's error object. Internal errors are logged
// with the request id and reach the client only as "internal error".
func (h *Handler) error(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		code := control.ErrorCode(err)
		he = &httpError{statusOf[code], code, control.ErrorMessage(err)}
		if code == control.EINTERNAL {
			h.log.Error("request failed", "request_id", w.Header().Get("X-Request-Id"),
				"method", r.Method, "route", r.Pattern, "err", err)
		}
	}
	if he.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchyard"`)
	}
	if wait, ok := control.RetryAfter(err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	}
	var body struct {
		Error struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"error"`
	}
	body.Error.Message, body.Error.Code = he.message, he.code
	writeJSON(w, he.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads a JSON request body into dst strictly: JSON media type, at
// most max bytes, no unknown fields, nothing after the value. Requiring
// application/json also keeps plain HTML forms from posting here.
func decode(w http.ResponseWriter, r *http.Request, dst any, max int64) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &httpError{http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Content-Type must be application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		if err == nil {
			return control.Errorf(control.EINVALID, "request body must hold one JSON value")
		}
		return decodeError(err)
	}
	return nil
}

// decodeError describes a JSON decoding failure without echoing the input.
func decodeError(err error) error {
	var maxErr *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &maxErr):
		return &httpError{http.StatusRequestEntityTooLarge, codeTooLarge, "request body is too large"}
	case errors.As(err, &typeErr):
		return control.Errorf(control.EINVALID, "field %s has the wrong type", typeErr.Field)
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return control.Errorf(control.EINVALID, "request body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return control.Errorf(control.EINVALID, "request body has an unknown field")
	default:
		return control.Errorf(control.EINVALID, "request body is not valid JSON")
	}
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	if len(v) < 7 || !strings.EqualFold(v[:7], "bearer ") {
		return "", false
	}
	return strings.TrimSpace(v[7:]), true
}

// edge admits requests bearing one of the edge tokens. Tokens are compared
// as SHA-256 digests in constant time, so neither content nor length leaks
// through timing.
func (h *Handler) edge(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		sum := sha256.Sum256([]byte(tok))
		match := 0
		for i := range h.edgeHashes {
			match |= subtle.ConstantTimeCompare(sum[:], h.edgeHashes[i][:])
		}
		if !ok || match != 1 {
			h.error(w, r, &httpError{http.StatusUnauthorized, control.EUNAUTHORIZED, "invalid edge token"})
			return
		}
		next(w, r)
	}
}
