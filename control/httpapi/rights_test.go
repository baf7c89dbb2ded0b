package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/internal/syncbuf"
)

// newSealedServer is newServer with encryption at rest on.
func newSealedServer(t *testing.T) *server {
	t.Helper()
	path := controltest.DBPath(t)
	clock := controltest.NewClock(controltest.Epoch)
	st := controltest.OpenStore(t, path)
	kr, err := control.ParseKeyring("k1:"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)), "")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := control.NewService(st, control.Config{Clock: clock, Password: controltest.FastPasswords,
		Catalog: controltest.Catalog(), Keyring: kr, Logger: log})
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(httpapi.New(svc, httpapi.Config{EdgeTokens: []string{edgeToken}, Logger: log}))
	t.Cleanup(ts.Close)
	return &server{Server: ts, path: path, store: st, clock: clock, svc: svc, logs: logs}
}

// person is a customer whose every personal value is unique enough to be
// searched for in the database file's bytes.
type person struct {
	name, email, company, address, phone, password string
}

func newPerson(tag string) person {
	return person{
		name:     "Hedy Lamarr " + tag,
		email:    "hedy." + tag + "@frequency-hopping.example",
		company:  "Spread Spectrum Works " + tag,
		address:  "1 Torpedo Guidance Lane " + tag,
		phone:    "+1 310 555 0" + tag[:3],
		password: "secret communication system",
	}
}

func (p person) values() []string { return []string{p.name, p.email, p.company, p.address, p.phone} }

func signupPerson(t *testing.T, s *server, p person) (*client, *control.Account) {
	t.Helper()
	c := s.client(t)
	var a control.Account
	c.must(http.StatusCreated, "POST", "/api/v1/signup", map[string]string{
		"name": p.name, "email": p.email, "company": p.company, "billing_address": p.address, "phone": p.phone,
		"password": p.password,
	}).decode(t, &a)
	return c, &a
}

func ingest(t *testing.T, s *server, records ...edgeapi.UsageRecord) {
	t.Helper()
	var res edgeapi.UsageResult
	s.edge(t).must(http.StatusOK, "POST", "/edge/v1/usage", edgeapi.UsageBatch{EdgeID: "test", Records: records}).decode(t, &res)
	if res.Accepted != len(records) {
		t.Fatalf("usage: %+v", res)
	}
}

// exportDoc is the export document as a client reads it.
type exportDoc struct {
	control.AccountExport
	UsageRecords []control.UsageRecord `json:"usage_records"`
}

func TestAccountExport(t *testing.T) {
	s := newSealedServer(t)
	p := newPerson("100")
	c, a := signupPerson(t, s, p)
	k := createKey(t, c, map[string]any{"name": "exporter"})
	if _, err := s.svc.GrantCredits(context.Background(), a.ID, 5_000_000, "welcome", ""); err != nil {
		t.Fatal(err)
	}
	r1 := record("req-export-1", k.Key, s.clock.Now().Add(-time.Minute))
	r2 := record("req-export-2", k.Key, s.clock.Now().Add(-30*time.Second))
	r2.Tags = map[string]string{"route": "=HYPERLINK(\"x\")"}
	ingest(t, s, r1, r2)
	// Another tenant's records must not appear.
	other, _ := signup(t, s, "other@example.com")
	ok := createKey(t, other, map[string]any{"name": "theirs"})
	ingest(t, s, record("req-other", ok.Key, s.clock.Now().Add(-time.Minute)))

	resp := c.must(http.StatusOK, "GET", "/api/v1/account/export", nil)
	if cd := resp.header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
		t.Errorf("Content-Disposition %q", cd)
	}
	var doc exportDoc
	resp.decode(t, &doc)
	if doc.Format != control.ExportFormat {
		t.Errorf("format %q", doc.Format)
	}
	if doc.Account.Email != p.email || doc.Account.BillingAddress != p.address || doc.Account.Phone != p.phone ||
		doc.Account.Name != p.name || doc.Account.Company != p.company {
		t.Errorf("account %+v, want %+v", doc.Account, p)
	}
	if len(doc.APIKeys) != 1 || doc.APIKeys[0].ID != k.Key.ID {
		t.Errorf("api_keys %+v", doc.APIKeys)
	}
	if bytes.Contains(resp.body, []byte(control.HashSecret(k.Secret))) || bytes.Contains(resp.body, []byte(k.Secret)) {
		t.Error("the export holds a key's secret or its hash")
	}
	if len(doc.Tokens) == 0 {
		t.Error("the export lists no sessions")
	}
	if len(doc.UsageRecords) != 2 || doc.UsageRecords[0].RequestID != "req-export-1" || doc.UsageRecords[1].RequestID != "req-export-2" {
		t.Errorf("usage_records %+v", doc.UsageRecords)
	}
	kinds := map[string]bool{}
	for _, e := range doc.Ledger {
		kinds[e.Kind] = true
	}
	if !kinds[control.LedgerAdjustment] || !kinds[control.LedgerUsage] {
		t.Errorf("ledger %+v", doc.Ledger)
	}
	if len(doc.KeySpend) != 1 || doc.KeySpend[0].SpendMicros == 0 {
		t.Errorf("key_spend %+v", doc.KeySpend)
	}
	for _, field := range []string{`"payments": []`, `"plugins": []`, `"emails": []`, `"audit_log": [`, `"usage_rollups": []`} {
		if !bytes.Contains(resp.body, []byte(field)) {
			t.Errorf("the export lacks %s", field)
		}
	}
	if len(doc.AuditLog) == 0 {
		t.Error("the export holds no audit entries (sign-up, key creation)")
	}

	resp = c.must(http.StatusOK, "GET", "/api/v1/account/export/usage.csv", nil)
	if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type %q", ct)
	}
	rows, err := csv.NewReader(bytes.NewReader(resp.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0][0] != "request_id" || rows[1][0] != "req-export-1" || rows[2][0] != "req-export-2" {
		t.Fatalf("usage.csv:\n%s", resp.body)
	}
	if tags := rows[2][len(rows[2])-1]; !strings.HasPrefix(tags, "{") {
		t.Errorf("tags cell %q", tags)
	}

	// Both need an account.
	anon := s.client(t)
	for _, path := range []string{"/api/v1/account/export", "/api/v1/account/export/usage.csv"} {
		if r := anon.do("GET", path, nil); r.status != http.StatusUnauthorized {
			t.Errorf("%s without a session: %d", path, r.status)
		}
	}
}

func TestProfileCorrection(t *testing.T) {
	s := newSealedServer(t)
	p := newPerson("200")
	c, _ := signupPerson(t, s, p)
	signupPerson(t, s, newPerson("201"))

	str := func(s string) *string { return &s }
	tests := []struct {
		name   string
		body   any
		status int
		inMsg  string
		check  func(a control.Account) bool
	}{
		{"name", map[string]any{"name": "  Hedy Kiesler  "}, 200, "", func(a control.Account) bool { return a.Name == "Hedy Kiesler" }},
		{"address and phone", control.ProfileUpdate{BillingAddress: str("2 Frequency Way\nVienna"), Phone: str("+43 1 234")}, 200, "",
			func(a control.Account) bool {
				return a.BillingAddress == "2 Frequency Way\nVienna" && a.Phone == "+43 1 234"
			}},
		{"remove phone", map[string]any{"phone": ""}, 200, "", func(a control.Account) bool { return a.Phone == "" }},
		{"empty name", map[string]any{"name": " "}, 400, "name is required", nil},
		{"empty address", map[string]any{"billing_address": ""}, 400, "billing_address is required", nil},
		{"bad phone", map[string]any{"phone": "call me"}, 400, "phone may contain only", nil},
		{"long company", map[string]any{"company": strings.Repeat("x", 201)}, 400, "company is longer", nil},
		{"control characters", map[string]any{"name": "a\x00b"}, 400, "name contains control characters", nil},
		{"bad email", map[string]any{"email": "not an address", "current_password": p.password}, 400, "email is not a valid", nil},
		{"email without password", map[string]any{"email": "new@example.com"}, 400, "current_password is required", nil},
		{"email with a wrong password", map[string]any{"email": "new@example.com", "current_password": "wrong password"}, 403, "not correct", nil},
		{"email taken", map[string]any{"email": newPerson("201").email, "current_password": p.password}, 409, "", nil},
		{"unknown field", map[string]any{"status": "active"}, 400, "unknown field", nil},
		{"email", map[string]any{"email": "  Hedy.New@Example.com ", "current_password": p.password}, 200, "",
			func(a control.Account) bool { return a.Email == "hedy.new@example.com" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("PATCH", "/api/v1/account", tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.inMsg != "" && !strings.Contains(string(r.body), tt.inMsg) {
				t.Errorf("answer %s, want %q in it", r.body, tt.inMsg)
			}
			if tt.check != nil {
				var got, read control.Account
				r.decode(t, &got)
				c.must(http.StatusOK, "GET", "/api/v1/account", nil).decode(t, &read)
				if !tt.check(got) || !tt.check(read) {
					t.Errorf("answered %+v, reads %+v", got, read)
				}
			}
		})
	}
	// Corrections and exports are in the audit log.
	c.must(http.StatusOK, "GET", "/api/v1/account/export/usage.csv", nil)
	var doc exportDoc
	c.must(http.StatusOK, "GET", "/api/v1/account/export", nil).decode(t, &doc)
	actions := map[string]int{}
	for _, e := range doc.AuditLog {
		actions[e.Action]++
	}
	if actions[control.ActionProfileUpdate] == 0 || actions[control.ActionAccountExport] == 0 {
		t.Errorf("audit log actions %v", actions)
	}

	// The new email signs in; the old one no longer does.
	s.client(t).must(http.StatusOK, "POST", "/api/v1/login", map[string]string{"email": "hedy.new@example.com", "password": p.password})
	s.client(t).must(http.StatusUnauthorized, "POST", "/api/v1/login", map[string]string{"email": p.email, "password": p.password})
}

// TestAccountDeletion checks the deletion promise: the account closes at
// once, personal data is erased (from the database file's bytes too), and
// payment records stay, holding nothing personal.
func TestAccountDeletion(t *testing.T) {
	ctx := context.Background()
	s := newSealedServer(t)
	p := newPerson("300")
	c, a := signupPerson(t, s, p)
	k := createKey(t, c, map[string]any{"name": "Hedy's production key"})
	var tok struct {
		Secret string `json:"secret"`
	}
	c.must(http.StatusCreated, "POST", "/api/v1/tokens", map[string]string{"name": "script"}).decode(t, &tok)
	if _, err := s.svc.GrantCredits(ctx, a.ID, 5_000_000, "welcome", ""); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, record("req-del-1", k.Key, s.clock.Now().Add(-time.Minute)))
	now := s.clock.Now()
	if _, err := s.store.ApplyPaymentEvent(ctx, &control.PaymentEvent{ID: "evt_del_1", Type: "payment_intent.succeeded",
		Kind: control.PaymentPaid, PaymentKind: control.PaymentKindCheckout, AccountID: a.ID, CustomerID: "cus_del_1",
		PaymentIntentID: "pi_del_1", AmountCents: 1000, Currency: "usd", CreatedAt: now}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.EnqueueEmail(ctx, control.Email{AccountID: a.ID, To: p.email, Kind: control.EmailTopUpReceipt,
		Subject: "Your receipt", Text: "Dear " + p.name + ", thank you.", DedupeKey: "receipt:del"}); err != nil {
		t.Fatal(err)
	}
	script := &client{t: t, base: s.URL, http: &http.Client{Timeout: 30 * time.Second}, token: tok.Secret}
	script.must(http.StatusOK, "GET", "/api/v1/account/export", nil)

	c.must(http.StatusForbidden, "DELETE", "/api/v1/account", map[string]string{"password": "not the password"})
	c.must(http.StatusBadRequest, "DELETE", "/api/v1/account", map[string]string{})
	var closure control.Closure
	resp := c.must(http.StatusOK, "DELETE", "/api/v1/account", map[string]string{"password": p.password})
	resp.decode(t, &closure)
	if closure.KeysRevoked != 1 || closure.TokensDeleted < 2 || closure.UsageDeleted != 1 || closure.EmailsDeleted != 1 ||
		closure.PaymentsRetained != 1 {
		t.Errorf("closure %+v", closure)
	}
	if !strings.Contains(resp.header.Get("Set-Cookie"), httpapi.SessionCookie+"=;") {
		t.Errorf("the session cookie is not cleared: %q", resp.header.Get("Set-Cookie"))
	}

	// Closed at once: no session, token or password works.
	c.must(http.StatusUnauthorized, "GET", "/api/v1/account/export", nil)
	script.must(http.StatusUnauthorized, "GET", "/api/v1/account", nil)
	s.client(t).must(http.StatusUnauthorized, "POST", "/api/v1/login", map[string]string{"email": p.email, "password": p.password})
	var snap edgeapi.KeySnapshot
	s.edge(t).must(http.StatusOK, "GET", "/edge/v1/keys/"+control.HashSecret(k.Secret), nil).decode(t, &snap)
	if snap.Status != edgeapi.KeyRevoked {
		t.Errorf("the key's snapshot says %q", snap.Status)
	}
	acct, err := s.svc.Account(ctx, a.ID)
	if err != nil || acct.Status != control.AccountClosed || acct.ClosedAt == nil || acct.Email == p.email {
		t.Errorf("tombstone %+v, %v", acct, err)
	}
	if err := s.svc.SetAccountStatus(ctx, a.ID, control.AccountActive); control.ErrorCode(err) != control.ENOTFOUND {
		t.Errorf("reopening a closed account: %v", err)
	}

	// The payment record stays, and holds nothing personal.
	db, err := sql.Open("libsql", "file:"+filepath.ToSlash(s.path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT * FROM payments WHERE account_id = ?`, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	payments := 0
	for rows.Next() {
		payments++
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row, _ := json.Marshal(vals)
		for _, v := range p.values() {
			if bytes.Contains(row, []byte(v)) {
				t.Errorf("the retained payment holds %q", v)
			}
		}
	}
	rows.Close()
	if payments != 1 {
		t.Errorf("%d payment records after deletion, want the 1 kept for 7 years", payments)
	}

	var deletions int
	if err := db.QueryRow(`SELECT count(*) FROM audit_log WHERE account_id = ? AND action = ? AND result = 'ok'`, a.ID,
		control.ActionAccountDeletion).Scan(&deletions); err != nil || deletions != 1 {
		t.Errorf("%d deletion entries in the audit log (%v), want 1", deletions, err)
	}

	// No personal value is left in the database file or its log.
	raw := dbBytes(t, s.path)
	for _, v := range append(p.values(), "Hedy's production key") {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("the database file still holds %q", v)
		}
	}
	if !bytes.Contains(raw, []byte("pi_del_1")) {
		t.Error("the byte scan does not find the retained payment: it proves nothing")
	}

	// The address is free for a new account.
	signupPerson(t, s, p)
}

func dbBytes(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestDeletedAccountKeysStopAtEdge: an edge that cached a deleted
// account's key serves it at most until the snapshot's TTL runs out.
func TestDeletedAccountKeysStopAtEdge(t *testing.T) {
	env := edgetest.Start(t, edgetest.Options{Control: true})
	tn := env.Control.Signup(t, "leaving@example.com")
	tn.Grant(t, 10_000_000)
	_, secret := tn.CreateKey(t, control.KeyCreate{Name: "soon gone"})
	call := func() (int, string) {
		t.Helper()
		status, _, body := env.Chat(t, secret)
		return status, string(body)
	}
	if status, body := call(); status != http.StatusOK {
		t.Fatalf("before deletion: %d %s", status, body)
	}
	tn.Must(t, http.StatusOK, http.MethodDelete, "/api/v1/account", map[string]string{"password": "correct horse battery staple"}, nil)
	env.KeyClock.Advance(snapshotTTL + time.Second)
	status, body := call()
	if status != http.StatusUnauthorized || !strings.Contains(body, "key_revoked") {
		t.Fatalf("after deletion and one TTL: %d %s, want 401 key_revoked", status, body)
	}
	if status, _ := tn.Do(t, http.MethodGet, "/api/v1/account/export", nil, nil); status != http.StatusUnauthorized {
		t.Errorf("export after deletion: %d", status)
	}
}
