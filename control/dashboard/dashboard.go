// Package dashboard is the control service's web console: server-rendered
// HTML pages over control.Service for signing up and in, API keys, usage,
// credits, plugins, the account's data rights and its audit log.
//
// It needs no JavaScript: every action is an HTML form that posts to the
// console's own path and answers with a redirect (or, where a result is
// shown once, a page). One small embedded script adds a copy button.
// Sessions are the API's (the sy_session cookie), so signing in to either
// signs in to both; forms carry the session's CSRF token as the API
// computes it (httpapi.CSRFToken). Mount it with httpapi.Config.Dashboard,
// which also supplies the client's address to the audit log.
package dashboard

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/httpapi"
)

// templateFS holds one file per page, the layout every page fills in, and
// files named _*.html with templates pages share.
//
//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the console. The zero value is usable; each field's
// default is stated beside it.
type Config struct {
	// SecureCookies marks the session cookie Secure even on plain HTTP,
	// for a TLS-terminating proxy in front; use the same value as
	// httpapi.Config.SecureCookies. Default false: Secure exactly when the
	// request arrived over TLS.
	SecureCookies bool
	// ProductName titles every page. Default "Switchyard".
	ProductName string
	// PaymentsEnabled shows the card top-up and auto top-up forms; set it
	// when the service has a control.Config.Payments. Default false: the
	// billing page says card payments are not available here.
	PaymentsEnabled bool
	// Clock tells the time for usage ranges and relative dates; use the
	// service's. Default control.SystemClock.
	Clock control.Clock
	// Logger receives internal errors. Default slog.Default().
	Logger *slog.Logger
	// MaxUploadBytes bounds a plugin upload form. Default the service's
	// MaxPluginBytes plus 64 KiB for the other fields.
	MaxUploadBytes int64
}

// Console is the console's http.Handler.
type Console struct {
	svc   *control.Service
	cfg   Config
	log   *slog.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux
}

var _ http.Handler = (*Console)(nil)

// New returns the console over svc. It parses the embedded templates and
// does no I/O.
//
// # Errors
//
// A template that does not parse, which is a bug of this package.
func New(svc *control.Service, cfg Config) (http.Handler, error) {
	if cfg.ProductName == "" {
		cfg.ProductName = "Switchyard"
	}
	if cfg.Clock == nil {
		cfg.Clock = control.SystemClock
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = int64(svc.MaxPluginBytes()) + 64<<10
	}
	c := &Console{svc: svc, cfg: cfg, log: cfg.Logger, pages: map[string]*template.Template{}, mux: http.NewServeMux()}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return nil, fmt.Errorf("dashboard: parse %s: %w", n, err)
		}
		c.pages[base] = t
	}
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	xo := http.NewCrossOriginProtection()
	xo.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.refuse(w, r, "This form was sent from another site, so it was refused.")
	}))
	handle := func(pattern string, h http.Handler) { c.mux.Handle(pattern, xo.Handler(h)) }
	static, _ := fs.Sub(staticFS, "static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(http.FileServerFS(static))))

	handle("GET /{$}", c.page(func(w http.ResponseWriter, r *http.Request, _ *session) {
		http.Redirect(w, r, "/keys", http.StatusSeeOther)
	}))
	handle("GET /signup", http.HandlerFunc(c.signupPage))
	handle("POST /signup", http.HandlerFunc(c.signup))
	handle("GET /login", http.HandlerFunc(c.loginPage))
	handle("POST /login", http.HandlerFunc(c.login))
	handle("GET /goodbye", http.HandlerFunc(c.goodbye))
	handle("POST /logout", c.form(control.ActionLogout, c.logout))

	handle("GET /keys", c.page(c.keysPage))
	handle("POST /keys", c.form(control.ActionKeyCreate, c.createKey))
	handle("GET /keys/{id}/edit", c.page(c.editKeyPage))
	handle("POST /keys/{id}", c.form(control.ActionKeyUpdate, c.updateKey))
	handle("POST /keys/{id}/revoke", c.form(control.ActionKeyRevoke, c.revokeKey))
	handle("GET /usage", c.page(c.usagePage))
	handle("GET /billing", c.page(c.billingPage))
	handle("POST /billing/topup", c.form(control.ActionCheckout, c.topUp))
	handle("POST /billing/auto-topup", c.form(control.ActionAutoTopUp, c.autoTopUp))
	handle("GET /plugins", c.page(c.pluginsPage))
	handle("POST /plugins", c.upload(c.uploadPlugin))
	handle("POST /plugins/try", c.form(control.ActionPluginTry, c.tryPlugin))
	handle("POST /plugins/{id}/activate", c.form(control.ActionPluginActivate, c.activatePlugin))
	handle("POST /plugins/rollback", c.form(control.ActionPluginRollback, c.rollbackPlugin))
	handle("POST /plugins/deactivate", c.form(control.ActionPluginDeactivate, c.deactivatePlugin))
	handle("GET /account", c.page(c.accountPage))
	handle("POST /account", c.form(control.ActionProfileUpdate, c.updateProfile))
	handle("POST /account/delete", c.form(control.ActionAccountDeletion, c.deleteAccount))
	handle("GET /audit", c.page(c.auditPage))
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Pages are private to their viewer; a framing site could trick a
	// click on a form.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	c.mux.ServeHTTP(w, r)
}

// staticFiles lets browsers keep the stylesheet and script for a day.
func staticFiles(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		next.ServeHTTP(w, r)
	})
}

// session is a signed-in visitor: the account and the session's CSRF
// token, which every form of the page carries.
type session struct {
	account *control.Account
	secret  string
	csrf    string
}

// signedIn returns the request's session, or nil when its cookie is
// missing, unknown or expired.
func (c *Console) signedIn(r *http.Request) (*session, error) {
	ck, err := r.Cookie(httpapi.SessionCookie)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	a, err := c.svc.Authenticate(r.Context(), ck.Value)
	if control.ErrorCode(err) == control.EUNAUTHORIZED {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &session{account: a, secret: ck.Value, csrf: httpapi.CSRFToken(ck.Value)}, nil
}

type pageHandler func(w http.ResponseWriter, r *http.Request, s *session)

// page admits signed-in visitors and sends the others to the sign-in page.
func (c *Console) page(next pageHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.signedIn(r)
		if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		if s == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		next(w, r, s)
	})
}

// formHandler carries out one form and answers it. It returns what the
// audit entry names as the target and the error, if any, it showed.
type formHandler func(w http.ResponseWriter, r *http.Request, s *session) (target string, err error)

// form admits a signed-in visitor's URL-encoded form that carries the
// session's CSRF token, and records the action in the audit log as the API
// records its own routes.
func (c *Console) form(action string, next formHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/x-www-form-urlencoded" {
			c.refuse(w, r, "This page takes HTML forms only.")
			return
		}
		c.checked(w, r, action, r.PostFormValue(httpapi.CSRFField), next)
	})
}

// upload is form for the multipart plugin upload, whose CSRF token is a
// field of the multipart body.
func (c *Console) upload(next formHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, c.cfg.MaxUploadBytes)
		if err := r.ParseMultipartForm(c.cfg.MaxUploadBytes); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				c.refuse(w, r, fmt.Sprintf("The upload is larger than %d bytes.", c.cfg.MaxUploadBytes))
				return
			}
			c.refuse(w, r, "This page takes a multipart form with the module file.")
			return
		}
		c.checked(w, r, control.ActionPluginUpload, r.FormValue(httpapi.CSRFField), next)
	})
}

func (c *Console) checked(w http.ResponseWriter, r *http.Request, action, token string, next formHandler) {
	s, err := c.signedIn(r)
	if err != nil {
		c.fail(w, r, nil, err)
		return
	}
	if s == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) != 1 {
		c.record(r.Context(), s.account.ID, action, "", control.Errorf(control.EFORBIDDEN, "missing CSRF token"))
		c.refuse(w, r, "This form is missing its security token, or it is from an earlier session. Go back, reload the page and try again.")
		return
	}
	target, err := next(w, r, s)
	c.record(r.Context(), s.account.ID, action, target, err)
}

// record appends an audit entry; a failure to write it is logged, never
// shown, since what it records is done.
func (c *Console) record(ctx context.Context, accountID, action, target string, err error) {
	result := control.AuditOK
	switch control.ErrorCode(err) {
	case "":
	case control.EUNAUTHORIZED, control.EFORBIDDEN:
		result = control.AuditDenied
	case control.ETHROTTLED:
		result = control.AuditThrottled
	default:
		result = control.AuditFailed
	}
	e := control.AuditEntry{AccountID: accountID, Action: action, Target: target, Result: result, Detail: "console"}
	if err := c.svc.Audit(ctx, e); err != nil {
		c.log.Error("audit log write failed", "action", action, "err", err)
	}
}

// view is what every page template receives.
type view struct {
	Product string
	Title   string
	// Nav is the current section, marked in the navigation.
	Nav     string
	Account *control.Account
	CSRF    string
	Flash   string
	Error   string
	Data    any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	t := c.pages[name]
	v.Product = c.cfg.ProductName
	var buf strings.Builder
	if err := t.Execute(&buf, v); err != nil {
		c.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(buf.String()))
}

func (s *session) view(title, nav string) view {
	return view{Title: title, Nav: nav, Account: s.account, CSRF: s.csrf}
}

// refuse answers 403 with a page that says why.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, why string) {
	c.render(w, r, http.StatusForbidden, "error", view{Title: "Refused", Error: why})
}

// fail answers an error the visitor cannot fix from the form: internal
// errors are logged and shown only as such.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	status := http.StatusInternalServerError
	msg := "Something went wrong on our side. Please try again in a moment."
	switch control.ErrorCode(err) {
	case control.ENOTFOUND:
		status, msg = http.StatusNotFound, "Not found: "+control.ErrorMessage(err)
	case control.EFORBIDDEN:
		status, msg = http.StatusForbidden, sentence(control.ErrorMessage(err))
	case control.EINVALID:
		status, msg = http.StatusBadRequest, sentence(control.ErrorMessage(err))
	case control.ECONFLICT:
		status, msg = http.StatusConflict, sentence(control.ErrorMessage(err))
	case control.EUNAVAILABLE:
		status, msg = http.StatusServiceUnavailable, sentence(control.ErrorMessage(err))
	default:
		c.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	v := view{Title: "Error", Error: msg}
	if s != nil {
		v = s.view("Error", "")
		v.Error = msg
	}
	c.render(w, r, status, "error", v)
}

// flashes are the messages a redirect may ask its page to show. Only
// these codes travel in the URL, so no text a visitor typed is reflected.
var flashes = map[string]string{
	"welcome":         "Welcome! Create your first API key below.",
	"key-revoked":     "The key was revoked. Requests with it are refused once edges refresh their cache.",
	"key-updated":     "The key was saved. Edges apply its new limits once they refresh their cache.",
	"auto-topup":      "Auto top-up settings saved.",
	"activated":       "The plugin is active for every key that has no plugin of its own.",
	"rolled-back":     "Every key without a plugin of its own is back to what ran before.",
	"deactivated":     "The account runs no plugin now; keys with a plugin of their own keep it.",
	"key-activated":   "The plugin is active for the key you chose.",
	"key-rolled-back": "The key you chose is back to what it ran before.",
	"key-deactivated": "The key you chose follows the account's plugin again.",
	"profile":         "Your profile was saved.",
	"uploaded":        "The plugin passed its checks and was saved. Activate it to run it.",
}

// checkoutReturns are the messages for Stripe Checkout's return to the
// billing page (control.BillingConfig's SuccessURL and CancelURL).
var checkoutReturns = map[string]string{
	"success": "Thank you! Your payment is being confirmed; the credits appear here in a moment.",
	"cancel":  "The top-up was canceled; nothing was charged.",
}

// redirect answers a form with a redirect to path, which may have a query,
// showing flash there.
func redirect(w http.ResponseWriter, r *http.Request, path, flash string) {
	if flash != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "ok=" + url.QueryEscape(flash)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

func flashOf(r *http.Request) string {
	if m, ok := checkoutReturns[r.URL.Query().Get("checkout")]; ok && r.URL.Path == "/billing" {
		return m
	}
	return flashes[r.URL.Query().Get("ok")]
}

func (c *Console) setSession(w http.ResponseWriter, r *http.Request, s *control.Session) {
	http.SetCookie(w, &http.Cookie{Name: httpapi.SessionCookie, Value: s.Token, Path: "/",
		MaxAge: int(s.TTL / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || c.cfg.SecureCookies})
}

func (c *Console) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: httpapi.SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil || c.cfg.SecureCookies})
}

func (c *Console) now() time.Time { return c.cfg.Clock.Now().UTC() }
