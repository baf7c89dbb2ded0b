package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

type accountHandler func(w http.ResponseWriter, r *http.Request, a *control.Account)

// authed admits requests carrying a management token (Authorization:
// Bearer) or a session cookie. A bearer header wins, so a script's token
// is never mistaken for a browser session. A state-changing request
// authenticated by the cookie must also carry the session's CSRF token
// (csrf.go); a bearer token cannot be sent by another site, so it needs
// none.
func (h *Handler) authed(next accountHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		session, cookie := sessionSecret(r)
		if !ok && cookie {
			token = session
		}
		a, err := h.svc.Authenticate(r.Context(), token)
		if err != nil {
			h.error(w, r, err)
			return
		}
		if s := scopeOf(r); s != nil {
			s.accountID = a.ID
		}
		if !ok && !safeMethod(r.Method) && !validCSRF(r, session) {
			h.error(w, r, &httpError{http.StatusForbidden, control.EFORBIDDEN,
				"missing or invalid CSRF token: send the " + CSRFHeader + " header the sign-in answered with"})
			return
		}
		next(w, r, a)
	}
}

// sessionSecret returns the session cookie's value, unless the request
// carries an Authorization header (which then decides).
func sessionSecret(r *http.Request) (string, bool) {
	if r.Header.Get("Authorization") != "" {
		return "", false
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return "", false
	}
	return c.Value, true
}

// sessionAccount is an Account as the session's owner sees it: with the
// CSRF token its page must send back, also in the X-CSRF-Token header.
type sessionAccount struct {
	*control.Account
	CSRFToken string `json:"csrf_token,omitempty"`
}

func withCSRF(w http.ResponseWriter, a *control.Account, sessionSecret string) sessionAccount {
	if sessionSecret == "" {
		return sessionAccount{Account: a}
	}
	tok := csrfToken(sessionSecret)
	w.Header().Set(CSRFHeader, tok)
	return sessionAccount{Account: a, CSRFToken: tok}
}

func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, s *control.Session) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    s.Token,
		Path:     "/",
		MaxAge:   int(s.TTL / time.Second),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   r.TLS != nil || h.cfg.SecureCookies,
	})
}

// signup creates an account and signs it in.
func (h *Handler) signup(w http.ResponseWriter, r *http.Request) {
	var in control.AccountCreate
	if err := decode(w, r, &in, h.cfg.MaxBodyBytes); err != nil {
		h.error(w, r, err)
		return
	}
	a, s, err := h.svc.Signup(r.Context(), in)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.setSession(w, r, s)
	writeJSON(w, http.StatusCreated, withCSRF(w, a, s.Token))
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in, h.cfg.MaxBodyBytes); err != nil {
		h.error(w, r, err)
		return
	}
	a, s, err := h.svc.Login(r.Context(), in.Email, in.Password)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.setSession(w, r, s)
	writeJSON(w, http.StatusOK, withCSRF(w, a, s.Token))
}

// logout ends the browser session, if any; a management token is left
// alone (revoke it explicitly).
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, a *control.Account) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := h.svc.Logout(r.Context(), a.ID, c.Value); err != nil {
			h.error(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil || h.cfg.SecureCookies})
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request, a *control.Account) {
	session, _ := sessionSecret(r)
	writeJSON(w, http.StatusOK, withCSRF(w, a, session))
}

func (h *Handler) ledger(w http.ResponseWriter, r *http.Request, a *control.Account) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			h.error(w, r, control.Errorf(control.EINVALID, "limit must be between 1 and 1000"))
			return
		}
		limit = n
	}
	entries, err := h.svc.Ledger(r.Context(), a.ID, limit)
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"balance_micros": a.BalanceMicros, "data": entries})
}

func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request, a *control.Account) {
	tokens, err := h.svc.ManagementTokens(r.Context(), a.ID)
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": nonNil(tokens)})
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, a *control.Account) {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(w, r, &in, h.cfg.MaxBodyBytes); err != nil {
		h.error(w, r, err)
		return
	}
	t, secret, err := h.svc.CreateManagementToken(r.Context(), a.ID, in.Name)
	if err != nil {
		h.error(w, r, err)
		return
	}
	setAuditTarget(r, t.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"token": t, "secret": secret})
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, a *control.Account) {
	if err := h.svc.RevokeManagementToken(r.Context(), a.ID, r.PathValue("id")); err != nil {
		h.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, a *control.Account) {
	keys, err := h.svc.Keys(r.Context(), a.ID)
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": nonNil(keys)})
}

func (h *Handler) createKey(w http.ResponseWriter, r *http.Request, a *control.Account) {
	var in control.KeyCreate
	if err := decode(w, r, &in, h.cfg.MaxBodyBytes); err != nil {
		h.error(w, r, err)
		return
	}
	k, secret, err := h.svc.CreateKey(r.Context(), a.ID, in)
	if err != nil {
		h.error(w, r, err)
		return
	}
	setAuditTarget(r, k.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"key": k, "secret": secret})
}

func (h *Handler) getKey(w http.ResponseWriter, r *http.Request, a *control.Account) {
	h.keyResult(w, r)(h.svc.Key(r.Context(), a.ID, r.PathValue("id")))
}

func (h *Handler) updateKey(w http.ResponseWriter, r *http.Request, a *control.Account) {
	var in control.KeyUpdate
	if err := decode(w, r, &in, h.cfg.MaxBodyBytes); err != nil {
		h.error(w, r, err)
		return
	}
	h.keyResult(w, r)(h.svc.UpdateKey(r.Context(), a.ID, r.PathValue("id"), in))
}

func (h *Handler) revokeKey(w http.ResponseWriter, r *http.Request, a *control.Account) {
	h.keyResult(w, r)(h.svc.RevokeKey(r.Context(), a.ID, r.PathValue("id")))
}

func (h *Handler) keyResult(w http.ResponseWriter, r *http.Request) func(*control.APIKey, error) {
	return func(k *control.APIKey, err error) {
		if err != nil {
			h.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, k)
	}
}

// models lists the catalog with prices; it is public, as prices are.
func (h *Handler) models(w http.ResponseWriter, r *http.Request) {
	cat, err := h.svc.Catalog(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cat)
}

// usage aggregates the account's usage over [from, to). from and to take
// RFC 3339 times or dates; a date-only to includes that whole day.
func (h *Handler) usage(w http.ResponseWriter, r *http.Request, a *control.Account) {
	q := control.UsageQuery{AccountID: a.ID, GroupBy: r.URL.Query().Get("group_by")}
	var err error
	if q.From, err = parseTime(r.URL.Query().Get("from"), false); err != nil {
		h.error(w, r, control.Errorf(control.EINVALID, "from must be an RFC 3339 time or a date"))
		return
	}
	if q.To, err = parseTime(r.URL.Query().Get("to"), true); err != nil {
		h.error(w, r, control.Errorf(control.EINVALID, "to must be an RFC 3339 time or a date"))
		return
	}
	rep, err := h.svc.Usage(r.Context(), q)
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// parseTime reads an RFC 3339 time or a date (UTC midnight; the next
// midnight when endOfDay). Empty means zero, for the service's default.
func parseTime(s string, endOfDay bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, err
	}
	if endOfDay {
		t = t.Add(24 * time.Hour)
	}
	return t, nil
}

func (h *Handler) usageRecord(w http.ResponseWriter, r *http.Request, a *control.Account) {
	rec, err := h.svc.UsageRecord(r.Context(), a.ID, r.PathValue("request_id"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
