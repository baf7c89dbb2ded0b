package httpapi

import (
	"io"
	"net/http"
	"strconv"

	"github.com/switchyard-ai/switchyard/control"
)

// billingRoutes registers the billing API. The webhook is Stripe's: it is
// authenticated by its signature, not by a session or token.
func (h *Handler) billingRoutes(api func(string, http.HandlerFunc)) {
	api("GET /api/v1/billing", h.authed(h.billingState))
	api("POST /api/v1/billing/checkout", h.authed(h.checkout))
	api("PUT /api/v1/billing/auto-topup", h.authed(h.setAutoTopUp))
	api("GET /api/v1/billing/transactions", h.authed(h.transactions))
	api("GET /api/v1/billing/payments", h.authed(h.payments))
	h.mux.HandleFunc("POST /api/v1/billing/webhook", h.webhook)
}

// billingError is h.error that also answers control.EUNAVAILABLE, which
// only billing produces, with 503 and logs its cause.
func (h *Handler) billingError(w http.ResponseWriter, r *http.Request, err error) {
	if control.ErrorCode(err) == control.EUNAVAILABLE {
		h.log.Warn("payment processor unavailable", "request_id", w.Header().Get("X-Request-Id"),
			"route", r.Pattern, "err", err)
		w.Header().Set("Retry-After", "30")
		err = &httpError{http.StatusServiceUnavailable, control.EUNAVAILABLE, control.ErrorMessage(err)}
	}
	h.error(w, r, err)
}

func (h *Handler) billingState(w http.ResponseWriter, r *http.Request, a *control.Account) {
	st, err := h.svc.BillingState(r.Context(), a.ID)
	if err != nil {
		h.billingError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// checkout opens a Stripe Checkout page for a top-up of amount_micros.
func (h *Handler) checkout(w http.ResponseWriter, r *http.Request, a *control.Account) {
	var in struct {
		AmountMicros int64 `json:"amount_micros"`
	}
	if err := decode(w, r, &in, h.cfg.MaxBodyBytes); err != nil {
		h.error(w, r, err)
		return
	}
	cs, err := h.svc.Checkout(r.Context(), a.ID, in.AmountMicros)
	if err != nil {
		h.billingError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": cs.ID, "url": cs.URL, "amount_micros": in.AmountMicros})
}

func (h *Handler) setAutoTopUp(w http.ResponseWriter, r *http.Request, a *control.Account) {
	var in control.AutoTopUp
	if err := decode(w, r, &in, h.cfg.MaxBodyBytes); err != nil {
		h.error(w, r, err)
		return
	}
	st, err := h.svc.SetAutoTopUp(r.Context(), a.ID, in)
	if err != nil {
		h.billingError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// pageQuery reads ?limit= and ?cursor=; the service checks them.
func pageQuery(r *http.Request) (string, int, error) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return "", 0, control.Errorf(control.EINVALID, "limit must be a positive integer")
		}
		limit = n
	}
	return q.Get("cursor"), limit, nil
}

func (h *Handler) transactions(w http.ResponseWriter, r *http.Request, a *control.Account) {
	cursor, limit, err := pageQuery(r)
	if err != nil {
		h.error(w, r, err)
		return
	}
	page, err := h.svc.Transactions(r.Context(), a.ID, cursor, limit)
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (h *Handler) payments(w http.ResponseWriter, r *http.Request, a *control.Account) {
	cursor, limit, err := pageQuery(r)
	if err != nil {
		h.error(w, r, err)
		return
	}
	page, err := h.svc.Payments(r.Context(), a.ID, cursor, limit)
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// webhook applies one Stripe event. 2xx tells Stripe to stop delivering
// it: a duplicate, an ignored type and an unknown account all get 200
// (the last is logged as an alarm); a bad signature 400; a failure of ours
// 500, so Stripe retries.
func (h *Handler) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		h.error(w, r, decodeError(err))
		return
	}
	ev, out, err := h.svc.HandleWebhook(r.Context(), body, r.Header.Get("Stripe-Signature"))
	if err != nil {
		h.billingError(w, r, err)
		return
	}
	outcome := "applied"
	switch {
	case out.Duplicate:
		outcome = "duplicate"
	case out.UnknownAccount:
		outcome = "unknown_account"
	case ev.Kind == control.PaymentIgnored || out.Payment == nil:
		outcome = "ignored"
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "event_id": ev.ID, "outcome": outcome})
}
