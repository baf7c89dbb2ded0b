package dashboard

import (
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// signupForm is the sign-up form's values, echoed back (but the password)
// when it is refused.
type signupForm struct {
	Name, Email, Company, BillingAddress, Phone string
}

func (c *Console) signupPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "signup", view{Title: "Create an account", Data: signupForm{}})
}

func (c *Console) signup(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	f := signupForm{Name: r.PostFormValue("name"), Email: r.PostFormValue("email"),
		Company: r.PostFormValue("company"), BillingAddress: r.PostFormValue("billing_address"),
		Phone: r.PostFormValue("phone")}
	_, sess, err := c.svc.Signup(r.Context(), control.AccountCreate{Name: f.Name, Email: f.Email, Company: f.Company,
		BillingAddress: f.BillingAddress, Phone: f.Phone, Password: r.PostFormValue("password")})
	if err != nil {
		c.formError(w, r, "signup", view{Title: "Create an account", Data: f}, err)
		return
	}
	c.setSession(w, r, sess)
	redirect(w, r, "/keys", "welcome")
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", view{Title: "Sign in"})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	email := r.PostFormValue("email")
	_, sess, err := c.svc.Login(r.Context(), email, r.PostFormValue("password"))
	if err != nil {
		c.formError(w, r, "login", view{Title: "Sign in", Data: email}, err)
		return
	}
	c.setSession(w, r, sess)
	http.Redirect(w, r, "/keys", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	if err := c.svc.Logout(r.Context(), s.account.ID, s.secret); err != nil {
		c.fail(w, r, s, err)
		return "", err
	}
	c.clearSession(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return "", nil
}

func (c *Console) goodbye(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "goodbye", view{Title: "Account deleted"})
}

// formError shows a refused form again with the service's reason.
// Internal errors go through fail, which never shows their detail.
func (c *Console) formError(w http.ResponseWriter, r *http.Request, page string, v view, err error) {
	status, ok := refusal(err, control.EINVALID, control.ECONFLICT, control.EUNAUTHORIZED, control.EFORBIDDEN,
		control.ETHROTTLED, control.EUNAVAILABLE)
	if !ok {
		var tooLarge *http.MaxBytesError
		if !errors.As(err, &tooLarge) {
			c.fail(w, r, nil, err)
			return
		}
		status, err = http.StatusRequestEntityTooLarge, control.Errorf(control.EINVALID, "the form is too large")
	}
	v.Error = sentence(control.ErrorMessage(err))
	c.render(w, r, status, page, v)
}

// refusalStatus is the status a page answers a refused request with, by
// the error's code.
var refusalStatus = map[string]int{
	control.EINVALID:      http.StatusBadRequest,
	control.ECONFLICT:     http.StatusConflict,
	control.EUNAUTHORIZED: http.StatusUnauthorized,
	control.EFORBIDDEN:    http.StatusForbidden,
	control.ENOTFOUND:     http.StatusNotFound,
	control.ETHROTTLED:    http.StatusTooManyRequests,
	control.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// refusal reports the status for err when its code is one of codes: a
// refusal the page explains itself. Any other error goes to fail.
func refusal(err error, codes ...string) (int, bool) {
	code := control.ErrorCode(err)
	if !slices.Contains(codes, code) {
		return 0, false
	}
	return refusalStatus[code], true
}

// sentence makes a service message read as one on a page.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// keysData is the keys page.
type keysData struct {
	Keys []control.APIKey
	// NewKey and NewSecret are set on the answer to a creation, the one
	// time the secret is shown.
	NewKey    *control.APIKey
	NewSecret string
	// Form is the creation form's values: empty, or those just refused.
	Form keyForm
}

// keyForm is the values of a key's fields as the visitor typed them, so
// that a refused form comes back as it was sent. The creation form and
// the edit page share the fields (templates/_key-fields.html).
type keyForm struct {
	Name, RPM, TPM, MonthlyCap, AllowedModels string
}

func keyFormOf(r *http.Request) keyForm {
	return keyForm{Name: r.PostFormValue("name"), RPM: r.PostFormValue("rpm"), TPM: r.PostFormValue("tpm"),
		MonthlyCap: r.PostFormValue("monthly_cap"), AllowedModels: r.PostFormValue("allowed_models")}
}

// keyFormFrom is a stored key's values, as the edit page starts.
func keyFormFrom(k *control.APIKey) keyForm {
	f := keyForm{Name: k.Name, MonthlyCap: amountField(k.Limits.MonthlySpendCapMicros),
		AllowedModels: strings.Join(k.AllowedModels, ", ")}
	if k.Limits.RequestsPerMinute > 0 {
		f.RPM = strconv.Itoa(k.Limits.RequestsPerMinute)
	}
	if k.Limits.TokensPerMinute > 0 {
		f.TPM = strconv.Itoa(k.Limits.TokensPerMinute)
	}
	return f
}

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.showKeys(w, r, s, http.StatusOK, keysData{}, "")
}

func (c *Console) showKeys(w http.ResponseWriter, r *http.Request, s *session, status int, d keysData, errMsg string) {
	keys, err := c.svc.Keys(r.Context(), s.account.ID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Keys = keys
	v := s.view("API keys", "keys")
	v.Flash, v.Error, v.Data = flashOf(r), errMsg, d
	if d.NewKey != nil {
		v.Flash = ""
	}
	c.render(w, r, status, "keys", v)
}

func (c *Console) createKey(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	in, err := keyCreate(r)
	if err == nil {
		var k *control.APIKey
		var secret string
		if k, secret, err = c.svc.CreateKey(r.Context(), s.account.ID, in); err == nil {
			c.showKeys(w, r, s, http.StatusCreated, keysData{NewKey: k, NewSecret: secret}, "")
			return k.ID, nil
		}
	}
	if control.ErrorCode(err) != control.EINVALID {
		c.fail(w, r, s, err)
		return "", err
	}
	c.showKeys(w, r, s, http.StatusBadRequest, keysData{Form: keyFormOf(r)}, sentence(control.ErrorMessage(err)))
	return "", err
}

// keyCreate reads the key form, of a new key or an edited one. Empty
// limits mean none.
func keyCreate(r *http.Request) (control.KeyCreate, error) {
	in := control.KeyCreate{Name: r.PostFormValue("name")}
	var err error
	if in.Limits.RequestsPerMinute, err = formInt(r, "rpm", "requests per minute"); err != nil {
		return in, err
	}
	if in.Limits.TokensPerMinute, err = formInt(r, "tpm", "tokens per minute"); err != nil {
		return in, err
	}
	if v := strings.TrimSpace(r.PostFormValue("monthly_cap")); v != "" {
		if in.Limits.MonthlySpendCapMicros, err = parseDollars(v); err != nil {
			return in, control.Errorf(control.EINVALID, "the monthly spend cap must be an amount in dollars, like 25 or 25.50")
		}
	}
	in.AllowedModels = strings.FieldsFunc(r.PostFormValue("allowed_models"), func(c rune) bool {
		return c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t'
	})
	return in, nil
}

// keyUpdate reads the edit form as keyCreate reads the new-key form. The
// form holds every field, so every field is set: an empty limit removes
// it and no models allows every model.
func keyUpdate(r *http.Request) (control.KeyUpdate, error) {
	in, err := keyCreate(r)
	if err != nil {
		return control.KeyUpdate{}, err
	}
	models := in.AllowedModels
	if models == nil {
		models = []string{}
	}
	return control.KeyUpdate{Name: &in.Name, Limits: &in.Limits, AllowedModels: &models}, nil
}

// keyEditData is the edit page of a key.
type keyEditData struct {
	Key  *control.APIKey
	Form keyForm
}

func (c *Console) editKeyPage(w http.ResponseWriter, r *http.Request, s *session) {
	k, err := c.editableKey(r, s)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.showKeyEdit(w, r, s, http.StatusOK, k, keyFormFrom(k), "")
}

func (c *Console) showKeyEdit(w http.ResponseWriter, r *http.Request, s *session, status int, k *control.APIKey, f keyForm, errMsg string) {
	v := s.view("Edit key “"+k.Name+"”", "keys")
	v.Error, v.Data = errMsg, keyEditData{Key: k, Form: f}
	c.render(w, r, status, "key-edit", v)
}

func (c *Console) updateKey(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	k, err := c.editableKey(r, s)
	if err != nil {
		c.fail(w, r, s, err)
		return r.PathValue("id"), err
	}
	u, err := keyUpdate(r)
	if err == nil {
		_, err = c.svc.UpdateKey(r.Context(), s.account.ID, k.ID, u)
	}
	if err != nil {
		if control.ErrorCode(err) != control.EINVALID {
			c.fail(w, r, s, err)
			return k.ID, err
		}
		c.showKeyEdit(w, r, s, http.StatusBadRequest, k, keyFormOf(r), sentence(control.ErrorMessage(err)))
		return k.ID, err
	}
	redirect(w, r, "/keys", "key-updated")
	return k.ID, nil
}

// editableKey returns the key the path names unless it is revoked: a
// revoked key never works again, so a change to it would mean nothing.
func (c *Console) editableKey(r *http.Request, s *session) (*control.APIKey, error) {
	k, err := c.svc.Key(r.Context(), s.account.ID, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if k.Status == edgeapi.KeyRevoked {
		return nil, control.Errorf(control.ECONFLICT, "the key “%s” was revoked, so it can no longer be changed; create a new key instead", k.Name)
	}
	return k, nil
}

func formInt(r *http.Request, field, what string) (int, error) {
	v := strings.TrimSpace(r.PostFormValue(field))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, control.Errorf(control.EINVALID, "%s must be a whole number, or empty for no limit", what)
	}
	return n, nil
}

func (c *Console) revokeKey(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	id := r.PathValue("id")
	if _, err := c.svc.RevokeKey(r.Context(), s.account.ID, id); err != nil {
		c.fail(w, r, s, err)
		return id, err
	}
	redirect(w, r, "/keys", "key-revoked")
	return id, nil
}

// transactionsPerPage is how many ledger entries the billing page lists
// at a time.
const transactionsPerPage = 50

// billingData is the billing page.
type billingData struct {
	PaymentsEnabled bool
	State           *control.BillingState
	// Transactions are one page of the ledger, newest first: the newest
	// when Before is empty, else those older than the entry Before names
	// (a TransactionPage cursor, from the ?before= query).
	Transactions []control.Transaction
	Before       string
	// Older is the cursor of the next, older page; empty on the last.
	Older    string
	Payments []control.Payment
	// Amount echoes a refused top-up amount.
	Amount string
}

func (c *Console) billingPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := s.view("Credits and billing", "billing")
	v.Flash = flashOf(r)
	c.showBilling(w, r, s, http.StatusOK, v, billingData{Before: r.URL.Query().Get("before")})
}

func (c *Console) showBilling(w http.ResponseWriter, r *http.Request, s *session, status int, v view, d billingData) {
	ctx := r.Context()
	st, err := c.svc.BillingState(ctx, s.account.ID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	tx, err := c.svc.Transactions(ctx, s.account.ID, d.Before, transactionsPerPage)
	if control.ErrorCode(err) == control.EINVALID {
		err = control.Errorf(control.EINVALID, "this link to older transactions is not one the billing page made; open Credits to start again from the newest")
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	pays, err := c.svc.Payments(ctx, s.account.ID, "", 20)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.PaymentsEnabled, d.State, d.Transactions, d.Older, d.Payments = c.cfg.PaymentsEnabled, st, tx.Data, tx.NextCursor, pays.Data
	v.Data = d
	c.render(w, r, status, "billing", v)
}

func (c *Console) billingError(w http.ResponseWriter, r *http.Request, s *session, d billingData, err error) {
	status, ok := refusal(err, control.EINVALID, control.ECONFLICT, control.EUNAVAILABLE)
	if !ok {
		c.fail(w, r, s, err)
		return
	}
	if status == http.StatusServiceUnavailable {
		c.log.Warn("payment processor unavailable", "err", err)
	}
	v := s.view("Credits and billing", "billing")
	v.Error = sentence(control.ErrorMessage(err))
	c.showBilling(w, r, s, status, v, d)
}

func (c *Console) topUp(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	amount := strings.TrimSpace(r.PostFormValue("amount"))
	micros, err := parseDollars(amount)
	if err != nil {
		err = control.Errorf(control.EINVALID, "the amount must be in dollars, like 20 or 20.50")
		c.billingError(w, r, s, billingData{Amount: amount}, err)
		return "", err
	}
	cs, err := c.svc.Checkout(r.Context(), s.account.ID, micros)
	if err != nil {
		if control.ErrorCode(err) == control.EINVALID {
			// The service words bounds in micro-dollars, for the API.
			err = control.Errorf(control.EINVALID, "%s is not an amount we can take: %s", dollars(micros),
				control.ErrorMessage(err))
		}
		c.billingError(w, r, s, billingData{Amount: amount}, err)
		return "", err
	}
	v := s.view("Continue to payment", "billing")
	v.Data = struct {
		URL    string
		Amount int64
	}{cs.URL, micros}
	c.render(w, r, http.StatusOK, "checkout", v)
	return cs.ID, nil
}

func (c *Console) autoTopUp(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	a := control.AutoTopUp{Enabled: r.PostFormValue("enabled") == "on"}
	var err error
	if a.ThresholdMicros, err = parseDollars(orZero(r.PostFormValue("threshold"))); err != nil {
		err = control.Errorf(control.EINVALID, "the threshold must be an amount in dollars")
	} else if a.AmountMicros, err = parseDollars(orZero(r.PostFormValue("amount"))); err != nil {
		err = control.Errorf(control.EINVALID, "the top-up amount must be an amount in dollars")
	}
	if err == nil {
		_, err = c.svc.SetAutoTopUp(r.Context(), s.account.ID, a)
	}
	if err != nil {
		c.billingError(w, r, s, billingData{}, err)
		return "", err
	}
	redirect(w, r, "/billing", "auto-topup")
	return "", nil
}

func orZero(s string) string {
	if strings.TrimSpace(s) == "" {
		return "0"
	}
	return s
}

// pluginsData is the plugins page.
type pluginsData struct {
	Plugins []pluginRow
	// Keys are the account's active keys, which a change may apply to
	// alone, each with the plugin it runs.
	Keys []keyPlugin
	// Scope is the key the changes apply to, "" for the account default.
	Scope string
	// Uploaded is set on the answer to an upload that warned.
	Uploaded *control.PluginUploaded
	// PluginError is why an upload was refused.
	PluginError string
	MaxBytes    int
	// Models are the catalog's model ids, which the try form suggests.
	Models []string
	// Trial is the try form's values: the defaults, or those just tried.
	Trial trialForm
	// Tried is the outcome of the trial just run.
	Tried *trialOutcome
}

// trialForm is the try form's values.
type trialForm struct {
	PluginID string
	Model    string
	// Headers are "name: value" lines.
	Headers string
	Stream  bool
}

// trialOutcome is what the try form shows: the decision, or why there is
// none.
type trialOutcome struct {
	Result *control.PluginTrialResult
	// Decision is the decision as indented JSON.
	Decision string
	// Failure is why the call failed or the edge would refuse its
	// decision, as a sentence.
	Failure string
	// Error is why the trial could not run (a bad header line).
	Error string
	// CallTime is how long the call took, in words.
	CallTime string
	// Summary says what the decision does, in words.
	Summary string
}

func (c *Console) pluginsPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := s.view("Plugins", "plugins")
	v.Flash = flashOf(r)
	// The key selects an option only if it is one of the account's.
	c.showPlugins(w, r, s, http.StatusOK, v, pluginsData{Scope: r.URL.Query().Get("key")})
}

// pluginRow is a plugin version with the names of the keys it runs for
// in place of the account default.
type pluginRow struct {
	control.Plugin
	KeyNames []string
}

// keyPlugin is an active key and what runs for it: a version of its own
// (Own), else the account default (Default, nil when none runs).
type keyPlugin struct {
	Key          control.APIKey
	Own, Default *control.Plugin
}

func (c *Console) showPlugins(w http.ResponseWriter, r *http.Request, s *session, status int, v view, d pluginsData) {
	ps, err := c.svc.Plugins(r.Context(), s.account.ID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	keys, err := c.svc.Keys(r.Context(), s.account.ID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	cat, err := c.svc.Catalog(r.Context())
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	d.Plugins, d.Keys = pluginRows(ps, keys)
	d.MaxBytes = c.svc.MaxPluginBytes()
	for _, m := range cat.Models {
		d.Models = append(d.Models, m.ID)
	}
	if d.Trial.Model == "" {
		d.Trial.Model = control.DefaultTrialModel(cat)
	}
	if d.Trial.PluginID == "" {
		d.Trial.PluginID = tryFirst(ps)
	}
	v.Data = d
	c.render(w, r, status, "plugins", v)
}

// pluginRows names the keys each version runs for, and says what runs for
// each active key. A revoked key that still has a version of its own is
// named in its version's row, not listed as a key.
func pluginRows(ps []control.Plugin, keys []control.APIKey) ([]pluginRow, []keyPlugin) {
	names := make(map[string]string, len(keys))
	for _, k := range keys {
		names[k.ID] = k.Name
	}
	rows := make([]pluginRow, len(ps))
	own := map[string]*control.Plugin{}
	var def *control.Plugin
	for i := range ps {
		p := &ps[i]
		rows[i].Plugin = *p
		if p.Active {
			def = p
		}
		for _, id := range p.ActiveKeys {
			own[id] = p
			rows[i].KeyNames = append(rows[i].KeyNames, cmp.Or(names[id], id))
		}
		slices.Sort(rows[i].KeyNames)
	}
	var active []keyPlugin
	for _, k := range keys {
		if k.Status == edgeapi.KeyActive {
			active = append(active, keyPlugin{Key: k, Own: own[k.ID], Default: def})
		}
	}
	return rows, active
}

func (c *Console) uploadPlugin(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	in := control.PluginUpload{Name: strings.TrimSpace(r.FormValue("name")), Fail: r.FormValue("fail"),
		WantsBody: r.FormValue("wants_body") == "on"}
	if hs := strings.TrimSpace(r.FormValue("headers")); hs != "" {
		in.Headers = strings.FieldsFunc(hs, func(c rune) bool { return c == ',' || c == ' ' })
	}
	var err error
	if f, _, ferr := r.FormFile("module"); ferr != nil {
		err = control.Errorf(control.EINVALID, "choose the plugin's .wasm file to upload")
	} else {
		in.Module, err = io.ReadAll(f)
		f.Close()
	}
	var out *control.PluginUploaded
	if err == nil {
		out, err = c.svc.UploadPlugin(r.Context(), s.account.ID, in)
	}
	if err != nil {
		if code := control.ErrorCode(err); code != control.EINVALID && code != control.EFORBIDDEN {
			c.fail(w, r, s, err)
			return "", err
		}
		c.showPlugins(w, r, s, http.StatusBadRequest, s.view("Plugins", "plugins"),
			pluginsData{PluginError: sentence(control.ErrorMessage(err))})
		return "", err
	}
	if len(out.Warnings) == 0 {
		redirect(w, r, "/plugins", "uploaded")
		return out.Plugin.ID, nil
	}
	c.showPlugins(w, r, s, http.StatusCreated, s.view("Plugins", "plugins"), pluginsData{Uploaded: out})
	return out.Plugin.ID, nil
}

// pluginScope reads the key a plugin change applies to ("" for the
// account default) and checks that it is one of the account's, so that
// another key is refused in words rather than as a missing page. The
// audit target names the key as the API's does ("plg_… key=key_…").
func (c *Console) pluginScope(r *http.Request, s *session, target string) (keyID, audited string, err error) {
	keyID = r.PostFormValue("key")
	if keyID == "" {
		return "", target, nil
	}
	if _, err := c.svc.Key(r.Context(), s.account.ID, keyID); err != nil {
		if control.ErrorCode(err) == control.ENOTFOUND {
			err = control.Errorf(control.EINVALID, "the key chosen is not one of this account's keys; choose a key from the list")
		}
		return "", target, err
	}
	return keyID, strings.TrimSpace(target + " key=" + keyID), nil
}

// pluginChangeFailed shows the plugins page with why a change was refused,
// keeping the key chosen; other errors go to fail.
func (c *Console) pluginChangeFailed(w http.ResponseWriter, r *http.Request, s *session, keyID string, err error) {
	status, ok := refusal(err, control.EINVALID, control.ECONFLICT)
	if !ok {
		c.fail(w, r, s, err)
		return
	}
	v := s.view("Plugins", "plugins")
	v.Error = sentence(control.ErrorMessage(err))
	c.showPlugins(w, r, s, status, v, pluginsData{Scope: keyID})
}

// changed answers a plugin change with the plugins page and the flash for
// its scope: name for the account default, "key-"+name for one key, whose
// page keeps the key chosen.
func changed(w http.ResponseWriter, r *http.Request, keyID, name string) {
	if keyID == "" {
		redirect(w, r, "/plugins", name)
		return
	}
	redirect(w, r, "/plugins?key="+url.QueryEscape(keyID), "key-"+name)
}

func (c *Console) activatePlugin(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	keyID, target, err := c.pluginScope(r, s, r.PathValue("id"))
	if err == nil {
		_, err = c.svc.ActivatePlugin(r.Context(), s.account.ID, r.PathValue("id"), keyID)
	}
	if err != nil {
		if control.ErrorCode(err) == control.ENOTFOUND {
			c.fail(w, r, s, err)
			return target, err
		}
		c.pluginChangeFailed(w, r, s, keyID, err)
		return target, err
	}
	changed(w, r, keyID, "activated")
	return target, nil
}

func (c *Console) rollbackPlugin(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	keyID, target, err := c.pluginScope(r, s, "")
	if err == nil {
		_, err = c.svc.RollbackPlugin(r.Context(), s.account.ID, keyID)
	}
	if control.ErrorCode(err) == control.ECONFLICT {
		err = control.Errorf(control.ECONFLICT, "there is nothing earlier to roll back to")
		if keyID != "" {
			err = control.Errorf(control.ECONFLICT, "the key chosen has no earlier change of its own to roll back to; to make it follow the account default again, turn its plugin off")
		}
	}
	if err != nil {
		c.pluginChangeFailed(w, r, s, keyID, err)
		return target, err
	}
	changed(w, r, keyID, "rolled-back")
	return target, nil
}

func (c *Console) deactivatePlugin(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	keyID, target, err := c.pluginScope(r, s, "")
	if err == nil {
		err = c.svc.DeactivatePlugin(r.Context(), s.account.ID, keyID)
	}
	if err != nil {
		c.pluginChangeFailed(w, r, s, keyID, err)
		return target, err
	}
	changed(w, r, keyID, "deactivated")
	return target, nil
}

func (c *Console) accountPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := s.view("Account", "account")
	v.Flash = flashOf(r)
	v.Data = s.account
	c.render(w, r, http.StatusOK, "account", v)
}

func (c *Console) updateProfile(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	field := func(name string) *string { v := r.PostFormValue(name); return &v }
	u := control.ProfileUpdate{Name: field("name"), Email: field("email"), Company: field("company"),
		BillingAddress: field("billing_address"), Phone: field("phone"),
		CurrentPassword: r.PostFormValue("current_password")}
	if _, err := c.svc.UpdateProfile(r.Context(), s.account.ID, u); err != nil {
		edited := *s.account
		edited.Name, edited.Email, edited.Company, edited.BillingAddress, edited.Phone =
			*u.Name, *u.Email, *u.Company, *u.BillingAddress, *u.Phone
		v := s.view("Account", "account")
		v.Data = &edited
		c.accountError(w, r, s, v, err)
		return "", err
	}
	redirect(w, r, "/account", "profile")
	return "", nil
}

func (c *Console) accountError(w http.ResponseWriter, r *http.Request, s *session, v view, err error) {
	switch control.ErrorCode(err) {
	case control.EINVALID, control.ECONFLICT, control.EFORBIDDEN:
		c.formError(w, r, "account", v, err)
	default:
		c.fail(w, r, s, err)
	}
}

func (c *Console) deleteAccount(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	var err error
	switch {
	case r.PostFormValue("confirm") != "on":
		err = control.Errorf(control.EINVALID, "tick the box to confirm that you want the account deleted")
	case r.PostFormValue("password") == "":
		err = control.Errorf(control.EINVALID, "enter your password to delete the account")
	default:
		_, err = c.svc.CloseAccount(r.Context(), s.account.ID, r.PostFormValue("password"))
	}
	if err != nil {
		v := s.view("Account", "account")
		v.Data = s.account
		c.accountError(w, r, s, v, err)
		return "", err
	}
	c.clearSession(w, r)
	http.Redirect(w, r, "/goodbye", http.StatusSeeOther)
	return "", nil
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) {
	page, err := c.svc.AuditLog(r.Context(), s.account.ID, r.URL.Query().Get("cursor"), 100)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := s.view("Audit log", "audit")
	v.Data = page
	c.render(w, r, http.StatusOK, "audit", v)
}

// limitsOf describes a key's limits in a few words.
func limitsOf(l edgeapi.Limits) string {
	var parts []string
	if l.RequestsPerMinute > 0 {
		parts = append(parts, strconv.Itoa(l.RequestsPerMinute)+" req/min")
	}
	if l.TokensPerMinute > 0 {
		parts = append(parts, strconv.Itoa(l.TokensPerMinute)+" tokens/min")
	}
	if l.MonthlySpendCapMicros > 0 {
		parts = append(parts, dollars(l.MonthlySpendCapMicros)+"/month")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// tryFirst is the version the try form selects at first: the one the
// account runs, else the newest.
func tryFirst(ps []control.Plugin) string {
	for _, p := range ps {
		if p.Active {
			return p.ID
		}
	}
	if len(ps) > 0 {
		return ps[0].ID
	}
	return ""
}

// tryPlugin runs a plugin version once and shows the outcome on the
// plugins page. A plugin that fails is an outcome, not an error of the
// form.
func (c *Console) tryPlugin(w http.ResponseWriter, r *http.Request, s *session) (string, error) {
	f := trialForm{PluginID: r.PostFormValue("plugin"), Model: strings.TrimSpace(r.PostFormValue("model")),
		Headers: r.PostFormValue("headers"), Stream: r.PostFormValue("stream") == "on"}
	in := control.PluginTrial{Model: f.Model, Stream: f.Stream}
	headers, err := headerLines(f.Headers)
	var res *control.PluginTrialResult
	if err == nil {
		in.Headers = headers
		res, err = c.svc.TryPlugin(r.Context(), s.account.ID, f.PluginID, in)
	}
	if err != nil {
		if control.ErrorCode(err) != control.EINVALID {
			c.fail(w, r, s, err)
			return f.PluginID, err
		}
		c.showPlugins(w, r, s, http.StatusBadRequest, s.view("Plugins", "plugins"),
			pluginsData{Trial: f, Tried: &trialOutcome{Error: sentence(control.ErrorMessage(err))}})
		return f.PluginID, err
	}
	out := &trialOutcome{Result: res, Failure: sentence(res.Failure), CallTime: callTime(res.CallTimeMicros)}
	if res.Decision != nil {
		b, err := json.MarshalIndent(res.Decision, "", "  ")
		if err != nil {
			c.fail(w, r, s, err)
			return f.PluginID, err
		}
		out.Decision = string(b)
		if res.Failure == "" {
			out.Summary = summary(res)
		}
	}
	f.Model = res.Request.Model
	c.showPlugins(w, r, s, http.StatusOK, s.view("Plugins", "plugins"), pluginsData{Trial: f, Tried: out})
	return f.PluginID, nil
}

// headerLines reads the try form's "name: value" lines; blank lines are
// skipped.
func headerLines(text string) (map[string]string, error) {
	headers := map[string]string{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, control.Errorf(control.EINVALID, "write each header as name: value, one a line")
		}
		headers[strings.ToLower(strings.TrimSpace(name))] = strings.TrimSpace(value)
	}
	return headers, nil
}

// callTime says a call's duration at the precision that matters against
// a 10 ms deadline.
func callTime(micros int64) string {
	if micros < 1000 {
		return strconv.FormatInt(micros, 10) + " µs"
	}
	return strconv.FormatFloat(float64(micros)/1000, 'f', 2, 64) + " ms"
}

// summary says what a decision would do to the request.
func summary(res *control.PluginTrialResult) string {
	d := res.Decision
	if d.Action == abi.ActionReject {
		return "The plugin refuses the request with status " + strconv.Itoa(d.RejectStatus()) + ": " + d.Message
	}
	model := d.Model
	if model == "" {
		model = res.Request.Model
	}
	return "The plugin routes the request to " + model + "."
}
