package dashboard

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

var funcs = template.FuncMap{
	"dollars":  dollars,
	"cost":     cost,
	"amount":   amountField,
	"num":      number,
	"date":     func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"datetime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"action":   actionLabel,
	"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"limits":   limitsOf,
	"join":     strings.Join,
	"bytes":    byteSize,
	"ms":       func(n int64) string { return number(n) + " ms" },
	"ptrtime":  optionalTime,
	"dict":     dict,
	"describe": describe,
	"cents":    func(c int64) string { return dollars(c * control.MicrosPerCent) },
	"upper":    strings.ToUpper,
}

// describe says what a ledger entry was in words.
func describe(t control.Transaction) string {
	switch t.Kind {
	case control.LedgerUsage:
		return "API usage"
	case control.LedgerTopUp:
		if t.Payment != nil && t.Payment.Kind == control.PaymentKindAutoTopUp {
			return "Automatic top-up"
		}
		return "Top-up by card"
	case control.LedgerRefund:
		return "Refund"
	}
	if t.Note != "" {
		return "Adjustment: " + t.Note
	}
	return "Adjustment"
}

// dict passes several values to a nested template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// dollars formats micro-dollars as "$1,234.56", rounded to the cent; an
// amount that would round to $0.00 is shown to the micro-dollar instead,
// so a small spend never reads as none.
func dollars(micros int64) string {
	if micros != 0 && micros > -control.MicrosPerCent/2 && micros < control.MicrosPerCent/2 {
		return cost(micros)
	}
	sign := ""
	if micros < 0 {
		sign, micros = "-", -micros
	}
	cents := (micros + control.MicrosPerCent/2) / control.MicrosPerCent
	return fmt.Sprintf("%s$%s.%02d", sign, number(cents/100), cents%100)
}

// cost formats a single request's cost, which is often under a cent, to
// the micro-dollar with trailing zeros dropped.
func cost(micros int64) string {
	sign := ""
	if micros < 0 {
		sign, micros = "-", -micros
	}
	frac := strings.TrimRight(fmt.Sprintf("%06d", micros%1_000_000), "0")
	if len(frac) < 2 {
		frac += strings.Repeat("0", 2-len(frac))
	}
	return fmt.Sprintf("%s$%s.%s", sign, number(micros/1_000_000), frac)
}

// amountField formats micro-dollars for an amount input: "20.00".
func amountField(micros int64) string {
	if micros == 0 {
		return ""
	}
	return strconv.FormatFloat(float64(micros)/1e6, 'f', 2, 64)
}

// number formats an integer with thousands separators.
func number(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.Itoa(n) + " B"
}

func optionalTime(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}

// parseDollars reads an amount typed in dollars ("20", "20.5", "$1,020.50")
// exactly, to the micro-dollar, without going through floating point.
func parseDollars(s string) (int64, error) {
	s = strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(s), "$"), ",", "")
	whole, frac, _ := strings.Cut(s, ".")
	invalid := control.Errorf(control.EINVALID, "not an amount in dollars")
	if whole == "" && frac == "" || len(whole) > 10 || len(frac) > 6 {
		return 0, invalid
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, invalid
			}
		}
	}
	var micros int64
	if whole != "" {
		n, err := strconv.ParseInt(whole, 10, 64)
		if err != nil {
			return 0, invalid
		}
		micros = n * 1_000_000
	}
	if frac != "" {
		n, _ := strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		micros += n
	}
	return micros, nil
}

// actionLabels name audit actions in words; an action not listed shows as
// its code.
var actionLabels = map[string]string{
	control.ActionSignup:           "Signed up",
	control.ActionLogin:            "Signed in",
	control.ActionLoginThrottled:   "Sign-in attempts throttled",
	control.ActionLogout:           "Signed out",
	control.ActionKeyCreate:        "Created an API key",
	control.ActionKeyUpdate:        "Changed an API key",
	control.ActionKeyRevoke:        "Revoked an API key",
	control.ActionTokenCreate:      "Created a management token",
	control.ActionTokenRevoke:      "Revoked a management token",
	control.ActionPluginUpload:     "Uploaded a plugin",
	control.ActionPluginActivate:   "Activated a plugin",
	control.ActionPluginRollback:   "Rolled a plugin back",
	control.ActionPluginDeactivate: "Turned a plugin off",
	control.ActionPluginTry:        "Tried a plugin",
	control.ActionCheckout:         "Started a card top-up",
	control.ActionAutoTopUp:        "Changed auto top-up",
	control.ActionPaymentApplied:   "Payment received",
	control.ActionSpendGuard:       "Changed the spend guard",
	control.ActionSpendFlagged:     "Unusual spend flagged",
	control.ActionAccountSuspend:   "Account suspended",
	control.ActionAccountRestore:   "Account restored",
	control.ActionAccountExport:    "Exported the account's data",
	control.ActionAccountDeletion:  "Closed the account",
	control.ActionProfileUpdate:    "Changed the profile",
}

func actionLabel(code string) string {
	if l, ok := actionLabels[code]; ok {
		return l
	}
	return code
}
