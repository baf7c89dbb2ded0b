package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

// rightsRoutes serves the data rights of the privacy policy: access and
// export, correction, deletion.
func (h *Handler) rightsRoutes(api func(string, http.HandlerFunc)) {
	api("PATCH /api/v1/account", h.authed(h.updateProfile))
	api("DELETE /api/v1/account", h.authed(h.deleteAccount))
	api("GET /api/v1/account/export", h.authed(h.exportAccount))
	api("GET /api/v1/account/export/usage.csv", h.authed(h.exportUsageCSV))
}

func (h *Handler) updateProfile(w http.ResponseWriter, r *http.Request, a *control.Account) {
	var in control.ProfileUpdate
	if err := decode(w, r, &in, h.cfg.MaxBodyBytes); err != nil {
		h.error(w, r, err)
		return
	}
	out, err := h.svc.UpdateProfile(r.Context(), a.ID, in)
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteAccount closes the caller's account once the password confirms
// it, and ends the browser session.
func (h *Handler) deleteAccount(w http.ResponseWriter, r *http.Request, a *control.Account) {
	var in struct {
		Password string `json:"password"`
	}
	if err := decode(w, r, &in, h.cfg.MaxBodyBytes); err != nil {
		h.error(w, r, err)
		return
	}
	if in.Password == "" {
		h.error(w, r, control.Errorf(control.EINVALID, "password is required to delete the account"))
		return
	}
	closure, err := h.svc.CloseAccount(r.Context(), a.ID, in.Password)
	if err != nil {
		h.error(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil || h.cfg.SecureCookies})
	writeJSON(w, http.StatusOK, closure)
}

// exportAccount answers with control.AccountExport plus "usage_records",
// streamed: a large account's usage never sits in memory whole. A failure
// after the first byte aborts the response, so a client never mistakes a
// cut document for a whole one.
func (h *Handler) exportAccount(w http.ResponseWriter, r *http.Request, a *control.Account) {
	x, err := h.svc.AccountExport(r.Context(), a.ID)
	if err != nil {
		h.error(w, r, err)
		return
	}
	head, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		h.error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="switchyard-account-`+a.ID+`.json"`)
	w.WriteHeader(http.StatusOK)
	// head ends with "\n}": the usage records go in before the brace.
	w.Write(head[:len(head)-2])
	w.Write([]byte(",\n  \"usage_records\": ["))
	first := true
	err = h.svc.EachUsageRecord(r.Context(), a.ID, func(u *control.UsageRecord) error {
		b, err := json.Marshal(u)
		if err != nil {
			return err
		}
		if !first {
			w.Write([]byte(","))
		}
		first = false
		w.Write([]byte("\n    "))
		_, err = w.Write(b)
		return err
	})
	if err != nil {
		h.log.Error("export failed mid-stream", "request_id", w.Header().Get("X-Request-Id"), "err", err)
		panic(http.ErrAbortHandler)
	}
	w.Write([]byte("\n  ]\n}\n"))
}

// usageCSVHeader names the columns of usage.csv.
var usageCSVHeader = []string{"request_id", "started_at", "received_at", "key_id", "endpoint", "model", "served_model",
	"provider", "stream", "status", "error_type", "finish_reason", "input_tokens", "cached_input_tokens",
	"cache_write_tokens", "output_tokens", "reasoning_tokens", "estimated", "latency_ms", "ttfb_ms", "attempts",
	"cost_micros", "priced_by", "tags"}

func (h *Handler) exportUsageCSV(w http.ResponseWriter, r *http.Request, a *control.Account) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="switchyard-usage-`+a.ID+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(usageCSVHeader)
	err := h.svc.EachUsageRecord(r.Context(), a.ID, func(u *control.UsageRecord) error {
		tags := ""
		if len(u.Tags) > 0 {
			b, err := json.Marshal(u.Tags)
			if err != nil {
				return err
			}
			tags = string(b)
		}
		i := strconv.Itoa
		cw.Write([]string{cell(u.RequestID), u.StartedAt.Format(time.RFC3339Nano), u.ReceivedAt.Format(time.RFC3339Nano),
			cell(u.KeyID), cell(u.Endpoint), cell(u.Model), cell(u.ServedModel), cell(u.Provider),
			strconv.FormatBool(u.Stream), i(u.Status), cell(u.ErrorType), cell(u.FinishReason), i(u.InputTokens),
			i(u.CachedInputTokens), i(u.CacheWriteTokens), i(u.OutputTokens), i(u.ReasoningTokens),
			strconv.FormatBool(u.Estimated), strconv.FormatInt(u.LatencyMs, 10), strconv.FormatInt(u.TTFBMs, 10), i(u.Attempts),
			strconv.FormatInt(u.CostMicros, 10), cell(u.PricedBy), cell(tags)})
		return cw.Error()
	})
	if err != nil {
		h.log.Error("usage export failed mid-stream", "request_id", w.Header().Get("X-Request-Id"), "err", err)
		panic(http.ErrAbortHandler)
	}
	cw.Flush()
}

// cell keeps a text value from being read as a formula by a spreadsheet
// that opens the file: tags, for one, are whatever a plugin wrote.
func cell(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}
