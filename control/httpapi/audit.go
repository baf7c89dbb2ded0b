package httpapi

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/control"
)

// routeActions names the audit action of routes. Every state-changing
// /api/v1 route is audited once its caller is authenticated: under its
// name here, or under its pattern when it has none. A route mapped to ""
// is audited by the service itself (sign-up and sign-in, which know the
// account before any session exists; the spend guard). A GET route is
// audited only when it is listed (exports are access worth recording).
var routeActions = map[string]string{
	"POST /api/v1/signup":                  "",
	"POST /api/v1/login":                   "",
	"POST /api/v1/logout":                  control.ActionLogout,
	"POST /api/v1/tokens":                  control.ActionTokenCreate,
	"POST /api/v1/tokens/{id}/revoke":      control.ActionTokenRevoke,
	"POST /api/v1/keys":                    control.ActionKeyCreate,
	"PATCH /api/v1/keys/{id}":              control.ActionKeyUpdate,
	"POST /api/v1/keys/{id}/revoke":        control.ActionKeyRevoke,
	"POST /api/v1/plugins":                 control.ActionPluginUpload,
	"POST /api/v1/plugins/{id}/activate":   control.ActionPluginActivate,
	"POST /api/v1/plugins/rollback":        control.ActionPluginRollback,
	"POST /api/v1/plugins/deactivate":      control.ActionPluginDeactivate,
	"POST /api/v1/billing/checkout":        control.ActionCheckout,
	"PUT /api/v1/billing/auto-topup":       control.ActionAutoTopUp,
	"PUT /api/v1/spend-guard":              "",
	"PATCH /api/v1/account":                control.ActionProfileUpdate,
	"DELETE /api/v1/account":               control.ActionAccountDeletion,
	"GET /api/v1/account/export":           control.ActionAccountExport,
	"GET /api/v1/account/export/usage.csv": control.ActionAccountExport,
}

// auditScope is what a request's handlers learn for its audit entry: the
// authenticated account, and the target when the handler makes it (a new
// key's id).
type auditScope struct {
	accountID string
	target    string
}

type auditScopeKey struct{}

func scopeOf(r *http.Request) *auditScope {
	s, _ := r.Context().Value(auditScopeKey{}).(*auditScope)
	return s
}

// setAuditTarget names what the request acted on, when the route's path
// does not (a created key or token).
func setAuditTarget(r *http.Request, target string) {
	if s := scopeOf(r); s != nil {
		s.target = target
	}
}

// audited records one audit entry per request to pattern, after it is
// answered, when the route is audited and its caller was authenticated:
// unauthenticated noise must not grow the log.
func (h *Handler) audited(pattern string, next http.Handler) http.Handler {
	action, listed := routeActions[pattern]
	if !listed {
		method, _, _ := strings.Cut(pattern, " ")
		if method == http.MethodGet || method == http.MethodHead {
			return next
		}
		action = pattern
	}
	if action == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scope := &auditScope{}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), auditScopeKey{}, scope)))
		if scope.accountID == "" {
			return
		}
		target := scope.target
		if target == "" {
			target = r.PathValue("id")
		}
		if k := r.URL.Query().Get("key"); isIdent(k) {
			target = strings.TrimSpace(target + " key=" + k)
		}
		err := h.svc.Audit(r.Context(), control.AuditEntry{AccountID: scope.accountID, Action: action,
			Target: target, Result: auditResult(rec.status)})
		if err != nil {
			h.log.Error("audit log write failed", "request_id", w.Header().Get("X-Request-Id"), "err", err)
		}
	})
}

// isIdent admits the ids a client may name in a query (key ids), so that
// nothing else a client sends reaches the log.
func isIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func auditResult(status int) string {
	switch {
	case status < 400:
		return control.AuditOK
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return control.AuditDenied
	case status == http.StatusTooManyRequests:
		return control.AuditThrottled
	}
	return control.AuditFailed
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// clientIP is the address audit entries and sign-in throttling see: the
// connection's peer, or, with Config.ClientIPHeader, what the proxy in
// front says (the last X-Forwarded-For entry, which that proxy appended).
func (h *Handler) clientIP(r *http.Request) string {
	if name := h.cfg.ClientIPHeader; name != "" {
		if v := r.Header.Values(name); len(v) > 0 {
			last := v[len(v)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := strings.TrimSpace(last); net.ParseIP(ip) != nil {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// auditLog lists the caller's own account's audit entries, newest first.
func (h *Handler) auditLog(w http.ResponseWriter, r *http.Request, a *control.Account) {
	cursor, limit, err := pageQuery(r)
	if err != nil {
		h.error(w, r, err)
		return
	}
	page, err := h.svc.AuditLog(r.Context(), a.ID, cursor, limit)
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (h *Handler) spendGuard(w http.ResponseWriter, r *http.Request, a *control.Account) {
	g, err := h.svc.SpendGuard(r.Context(), a.ID)
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (h *Handler) setSpendGuard(w http.ResponseWriter, r *http.Request, a *control.Account) {
	var in struct {
		AutoSuspend bool `json:"auto_suspend"`
	}
	if err := decode(w, r, &in, h.cfg.MaxBodyBytes); err != nil {
		h.error(w, r, err)
		return
	}
	g, err := h.svc.SetAutoSuspend(r.Context(), a.ID, in.AutoSuspend)
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}
