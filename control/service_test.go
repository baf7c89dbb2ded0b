package control_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/wasmtest"
	"github.com/switchyard-ai/switchyard/plugins/abi"
)

type env struct {
	ctx   context.Context
	path  string
	clock *controltest.Clock
	store control.Store
	svc   *control.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clock := controltest.NewClock(controltest.Epoch)
	path := controltest.DBPath(t)
	st := controltest.OpenStore(t, path)
	return &env{ctx: context.Background(), path: path, clock: clock, store: st, svc: controltest.NewService(t, st, clock)}
}

func (e *env) key(t *testing.T, a *control.Account, in control.KeyCreate) (*control.APIKey, string) {
	t.Helper()
	if in.Name == "" {
		in.Name = "test key"
	}
	k, secret, err := e.svc.CreateKey(e.ctx, a.ID, in)
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return k, secret
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := control.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func TestCreateAccount(t *testing.T) {
	e := newEnv(t)
	valid := control.AccountCreate{Name: "Ada Lovelace", Email: "Ada@Example.com", Company: "Analytical Engines",
		BillingAddress: "12 St James's Square\nLondon", Phone: "+44 20 7946 0000", Password: "difference engine"}
	a, err := e.svc.CreateAccount(e.ctx, valid)
	if err != nil {
		t.Fatal(err)
	}
	if a.Email != "ada@example.com" || a.Status != control.AccountActive || a.BalanceMicros != 0 || !a.CreatedAt.Equal(controltest.Epoch) {
		t.Fatalf("account = %+v", a)
	}
	tests := []struct {
		name   string
		mutate func(in *control.AccountCreate)
		code   string
	}{
		{"email taken, in any case", func(in *control.AccountCreate) { in.Email = "ADA@example.COM" }, control.ECONFLICT},
		{"no name", func(in *control.AccountCreate) { in.Name = "  " }, control.EINVALID},
		{"name with control character", func(in *control.AccountCreate) { in.Name = "Ada\x1b[2J" }, control.EINVALID},
		{"long name", func(in *control.AccountCreate) { in.Name = strings.Repeat("a", 201) }, control.EINVALID},
		{"no email", func(in *control.AccountCreate) { in.Email = "" }, control.EINVALID},
		{"email with display name", func(in *control.AccountCreate) { in.Email = "Ada <ada2@example.com>" }, control.EINVALID},
		{"not an email", func(in *control.AccountCreate) { in.Email = "ada" }, control.EINVALID},
		{"no billing address", func(in *control.AccountCreate) { in.BillingAddress = "" }, control.EINVALID},
		{"phone with letters", func(in *control.AccountCreate) { in.Phone = "call me" }, control.EINVALID},
		{"short password", func(in *control.AccountCreate) { in.Password = "1234567" }, control.EINVALID},
		{"huge password", func(in *control.AccountCreate) { in.Password = strings.Repeat("p", 1025) }, control.EINVALID},
		{"invalid UTF-8 company", func(in *control.AccountCreate) { in.Company = "\xff\xfe" }, control.EINVALID},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := valid
			if tt.code != control.ECONFLICT {
				in.Email = fmt.Sprintf("case%d@example.com", i)
			}
			tt.mutate(&in)
			_, err := e.svc.CreateAccount(e.ctx, in)
			wantCode(t, err, tt.code)
		})
	}
}

func TestStartingCredit(t *testing.T) {
	clock := controltest.NewClock(controltest.Epoch)
	st := controltest.OpenStore(t, controltest.DBPath(t))
	svc := control.NewService(st, control.Config{Clock: clock, Password: controltest.FastPasswords, StartingCreditMicros: 5_000_000})
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := mustAccount(t, svc, "new@example.com", 0)
	if a.BalanceMicros != 5_000_000 {
		t.Fatalf("balance = %d", a.BalanceMicros)
	}
	entries, err := svc.Ledger(context.Background(), a.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Kind != control.LedgerAdjustment || entries[0].AmountMicros != 5_000_000 ||
		entries[0].BalanceAfterMicros != 5_000_000 {
		t.Fatalf("ledger = %+v", entries)
	}
}

func TestLoginAndSessions(t *testing.T) {
	e := newEnv(t)
	a := mustAccount(t, e.svc, "user@example.com", 0)
	_, _, errWrong := e.svc.Login(e.ctx, "user@example.com", "wrong password")
	_, _, errUnknown := e.svc.Login(e.ctx, "nobody@example.com", "correct horse battery")
	wantCode(t, errWrong, control.EUNAUTHORIZED)
	wantCode(t, errUnknown, control.EUNAUTHORIZED)
	if errWrong.Error() != errUnknown.Error() {
		t.Fatalf("wrong password and unknown email differ: %q vs %q", errWrong, errUnknown)
	}

	got, s, err := e.svc.Login(e.ctx, " USER@example.com ", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || !s.ExpiresAt.Equal(controltest.Epoch.Add(14*24*time.Hour)) {
		t.Fatalf("login = %+v, %+v", got, s)
	}
	if who, err := e.svc.Authenticate(e.ctx, s.Token); err != nil || who.ID != a.ID {
		t.Fatalf("authenticate = %v, %v", who, err)
	}
	e.clock.Advance(14*24*time.Hour - time.Second)
	if _, err := e.svc.Authenticate(e.ctx, s.Token); err != nil {
		t.Fatalf("session died early: %v", err)
	}
	e.clock.Advance(time.Second)
	_, err = e.svc.Authenticate(e.ctx, s.Token)
	wantCode(t, err, control.EUNAUTHORIZED)

	_, s2, err := e.svc.Login(e.ctx, "user@example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(e.ctx, a.ID, s2.Token); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Authenticate(e.ctx, s2.Token)
	wantCode(t, err, control.EUNAUTHORIZED)

	tok, secret, err := e.svc.CreateManagementToken(e.ctx, a.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, control.ManagementTokenPrefix) || tok.Prefix != secret[:12] {
		t.Fatalf("token %+v for secret %q", tok, secret)
	}
	e.clock.Advance(365 * 24 * time.Hour)
	if _, err := e.svc.Authenticate(e.ctx, secret); err != nil {
		t.Fatalf("management tokens do not expire: %v", err)
	}
	if err := e.svc.RevokeManagementToken(e.ctx, a.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Authenticate(e.ctx, secret)
	wantCode(t, err, control.EUNAUTHORIZED)
	wantCode(t, e.svc.RevokeManagementToken(e.ctx, a.ID, tok.ID), control.ENOTFOUND)
}

func TestKeySnapshot(t *testing.T) {
	e := newEnv(t)
	a := mustAccount(t, e.svc, "owner@example.com", 3_000_000)
	exp := controltest.Epoch.Add(48 * time.Hour)
	limits := edgeapi.Limits{RequestsPerMinute: 60, TokensPerMinute: 100_000, MonthlySpendCapMicros: 50_000_000}
	k, secret := e.key(t, a, control.KeyCreate{Name: "prod", Limits: limits,
		AllowedModels: []string{"openai/gpt-4o-mini"}, ExpiresAt: &exp})
	if !strings.HasPrefix(secret, "sk-sy-") || len(secret) != 46 || k.Prefix != secret[:12] {
		t.Fatalf("secret %q, prefix %q", secret, k.Prefix)
	}
	hash := control.HashSecret(secret)

	snap, err := e.svc.KeySnapshot(e.ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	want := edgeapi.KeySnapshot{KeyID: k.ID, AccountID: a.ID, Status: edgeapi.KeyActive,
		AllowedModels: []string{"openai/gpt-4o-mini"}, ExpiresAt: &exp, Limits: limits,
		Balance: edgeapi.BalanceOK, BalanceMicros: 3_000_000}
	if fmt.Sprint(*snap) != fmt.Sprint(want) || !snap.ExpiresAt.Equal(exp) {
		t.Fatalf("snapshot = %+v\nwant       %+v", *snap, want)
	}

	steps := []struct {
		name    string
		do      func(t *testing.T)
		status  string
		balance string
	}{
		{"spend brings the balance low", func(t *testing.T) {
			ingest(t, e, withCost(usageRecord("req_s1", k, e.clock.Now()), 2_500_000))
		}, edgeapi.KeyActive, edgeapi.BalanceLow},
		{"more spend exhausts it", func(t *testing.T) {
			ingest(t, e, withCost(usageRecord("req_s2", k, e.clock.Now()), 600_000))
		}, edgeapi.KeyActive, edgeapi.BalanceExhausted},
		{"a top-up restores it", func(t *testing.T) {
			if _, err := e.svc.AddLedgerEntry(e.ctx, control.LedgerEntry{AccountID: a.ID, Kind: control.LedgerTopUp,
				AmountMicros: 10_000_000, Ref: "cs_test_1"}); err != nil {
				t.Fatal(err)
			}
		}, edgeapi.KeyActive, edgeapi.BalanceOK},
		{"suspending the account suspends the key", func(t *testing.T) {
			if err := e.svc.SetAccountStatus(e.ctx, a.ID, control.AccountSuspended); err != nil {
				t.Fatal(err)
			}
		}, edgeapi.KeySuspended, edgeapi.BalanceOK},
		{"reinstating it restores the key", func(t *testing.T) {
			if err := e.svc.SetAccountStatus(e.ctx, a.ID, control.AccountActive); err != nil {
				t.Fatal(err)
			}
		}, edgeapi.KeyActive, edgeapi.BalanceOK},
		{"the key expires on time", func(t *testing.T) { e.clock.Set(exp) }, edgeapi.KeyExpired, edgeapi.BalanceOK},
		{"revocation outranks expiry", func(t *testing.T) {
			if _, err := e.svc.RevokeKey(e.ctx, a.ID, k.ID); err != nil {
				t.Fatal(err)
			}
		}, edgeapi.KeyRevoked, edgeapi.BalanceOK},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do(t)
			snap, err := e.svc.KeySnapshot(e.ctx, hash)
			if err != nil {
				t.Fatal(err)
			}
			if snap.Status != st.status || snap.Balance != st.balance {
				t.Fatalf("status %s balance %s (%d), want %s %s", snap.Status, snap.Balance, snap.BalanceMicros, st.status, st.balance)
			}
		})
	}

	_, err = e.svc.KeySnapshot(e.ctx, control.HashSecret("sk-sy-unknown"))
	wantCode(t, err, control.ENOTFOUND)
	_, err = e.svc.KeySnapshot(e.ctx, strings.ToUpper(hash))
	wantCode(t, err, control.EINVALID)
}

func TestKeyMonthSpend(t *testing.T) {
	e := newEnv(t)
	a := mustAccount(t, e.svc, "owner@example.com", 100_000_000)
	k, secret := e.key(t, a, control.KeyCreate{})
	other, _ := e.key(t, a, control.KeyCreate{})
	hash := control.HashSecret(secret)
	march := time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC)
	e.clock.Set(march)
	ingest(t, e,
		withCost(usageRecord("req_m1", k, march.Add(-time.Hour)), 1_000),
		withCost(usageRecord("req_m2", k, march), 2_000),
		withCost(usageRecord("req_m3", other, march), 4_000),
	)
	if s := snapshot(t, e, hash); s.MonthSpendMicros != 3_000 {
		t.Fatalf("March spend = %d, want 3000", s.MonthSpendMicros)
	}
	e.clock.Set(time.Date(2026, 4, 1, 0, 0, 30, 0, time.UTC))
	if s := snapshot(t, e, hash); s.MonthSpendMicros != 0 {
		t.Fatalf("April spend before any request = %d", s.MonthSpendMicros)
	}
	// A late March record reported in April counts for March, not April.
	ingest(t, e,
		withCost(usageRecord("req_m4", k, march.Add(30*time.Second)), 8_000),
		withCost(usageRecord("req_a1", k, e.clock.Now()), 16_000),
	)
	if s := snapshot(t, e, hash); s.MonthSpendMicros != 16_000 {
		t.Fatalf("April spend = %d, want 16000", s.MonthSpendMicros)
	}
	got, err := e.svc.Key(e.ctx, a.ID, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(e.clock.Now()) {
		t.Fatalf("last used = %v, want %v", got.LastUsedAt, e.clock.Now())
	}
}

func TestKeyManagement(t *testing.T) {
	e := newEnv(t)
	a := mustAccount(t, e.svc, "a@example.com", 0)
	b := mustAccount(t, e.svc, "b@example.com", 0)
	past := controltest.Epoch.Add(-time.Minute)
	tests := []struct {
		name string
		in   control.KeyCreate
		code string
	}{
		{"minimal", control.KeyCreate{Name: "k"}, ""},
		{"no name", control.KeyCreate{}, control.EINVALID},
		{"negative rpm", control.KeyCreate{Name: "k", Limits: edgeapi.Limits{RequestsPerMinute: -1}}, control.EINVALID},
		{"negative cap", control.KeyCreate{Name: "k", Limits: edgeapi.Limits{MonthlySpendCapMicros: -1}}, control.EINVALID},
		{"expired at birth", control.KeyCreate{Name: "k", ExpiresAt: &past}, control.EINVALID},
		{"model with space", control.KeyCreate{Name: "k", AllowedModels: []string{"gpt 4"}}, control.EINVALID},
		{"too many models", control.KeyCreate{Name: "k", AllowedModels: make([]string, 101)}, control.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e.svc.CreateKey(e.ctx, a.ID, tt.in)
			wantCode(t, err, tt.code)
		})
	}

	k, _ := e.key(t, a, control.KeyCreate{Name: "first"})
	e.clock.Advance(time.Second)
	k2, _ := e.key(t, a, control.KeyCreate{Name: "second"})
	keys, err := e.svc.Keys(e.ctx, a.ID)
	if err != nil || len(keys) != 3 || keys[0].ID != k2.ID {
		t.Fatalf("keys = %+v, %v", keys, err)
	}
	if keys, _ := e.svc.Keys(e.ctx, b.ID); len(keys) != 0 {
		t.Fatalf("another account sees %d keys", len(keys))
	}
	_, err = e.svc.Key(e.ctx, b.ID, k.ID)
	wantCode(t, err, control.ENOTFOUND)
	_, err = e.svc.RevokeKey(e.ctx, b.ID, k.ID)
	wantCode(t, err, control.ENOTFOUND)

	name := "renamed"
	models := []string{"anthropic/claude-haiku-4-5"}
	limits := edgeapi.Limits{TokensPerMinute: 5000}
	up, err := e.svc.UpdateKey(e.ctx, a.ID, k.ID, control.KeyUpdate{Name: &name, AllowedModels: &models, Limits: &limits})
	if err != nil {
		t.Fatal(err)
	}
	if up.Name != name || fmt.Sprint(up.AllowedModels) != fmt.Sprint(models) || up.Limits != limits {
		t.Fatalf("updated = %+v", up)
	}
	all := []string{}
	up, err = e.svc.UpdateKey(e.ctx, a.ID, k.ID, control.KeyUpdate{AllowedModels: &all})
	if err != nil || len(up.AllowedModels) != 0 || up.Name != name {
		t.Fatalf("updated = %+v, %v", up, err)
	}
	rev, err := e.svc.RevokeKey(e.ctx, a.ID, k.ID)
	if err != nil || rev.Status != edgeapi.KeyRevoked || rev.RevokedAt == nil {
		t.Fatalf("revoked = %+v, %v", rev, err)
	}
	first := *rev.RevokedAt
	_, err = e.svc.UpdateKey(e.ctx, a.ID, k.ID, control.KeyUpdate{Limits: &edgeapi.Limits{}})
	wantCode(t, err, control.ECONFLICT)
	if got, _ := e.svc.Key(e.ctx, a.ID, k.ID); got.Limits != limits {
		t.Fatalf("a revoked key's limits changed to %+v", got.Limits)
	}
	e.clock.Advance(time.Hour)
	rev, err = e.svc.RevokeKey(e.ctx, a.ID, k.ID)
	if err != nil || !rev.RevokedAt.Equal(first) {
		t.Fatalf("second revoke moved the time: %+v, %v", rev, err)
	}
}

func TestGrantCredits(t *testing.T) {
	e := newEnv(t)
	a := mustAccount(t, e.svc, "a@example.com", 0)
	if _, err := e.svc.GrantCredits(e.ctx, a.ID, 7_000_000, "welcome", "promo-2026"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.GrantCredits(e.ctx, a.ID, 7_000_000, "welcome again", "promo-2026")
	wantCode(t, err, control.ECONFLICT)
	if _, err := e.svc.GrantCredits(e.ctx, a.ID, -2_000_000, "correction", ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		entry control.LedgerEntry
		code  string
	}{
		{"zero", control.LedgerEntry{AccountID: a.ID, Kind: control.LedgerAdjustment}, control.EINVALID},
		{"usage by hand", control.LedgerEntry{AccountID: a.ID, Kind: control.LedgerUsage, AmountMicros: -1}, control.EINVALID},
		{"huge", control.LedgerEntry{AccountID: a.ID, Kind: control.LedgerTopUp, AmountMicros: 1 << 62}, control.EINVALID},
		{"unknown account", control.LedgerEntry{AccountID: "acct_nope", Kind: control.LedgerRefund, AmountMicros: 1}, control.ENOTFOUND},
		{"ref with spaces", control.LedgerEntry{AccountID: a.ID, Kind: control.LedgerTopUp, AmountMicros: 1, Ref: "a b"}, control.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.AddLedgerEntry(e.ctx, tt.entry)
			wantCode(t, err, tt.code)
		})
	}
	checkBalance(t, e, a.ID, 5_000_000)
}

func TestCatalog(t *testing.T) {
	e := newEnv(t)
	cat, err := e.svc.Catalog(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cat.Version != 1 || len(cat.Models) != len(controltest.Catalog()) {
		t.Fatalf("seeded catalog: version %d, %d models", cat.Version, len(cat.Models))
	}
	mini := cat.Find("openai/gpt-4o-mini")
	if mini == nil || mini.Provider != "openai" || mini.Upstream != "gpt-4o-mini" || mini.Kind != control.ModelChat ||
		mini.InputPrice != 150_000 || mini.OutputPrice != 600_000 || mini.CachedInputPrice != 75_000 || mini.ContextLength != 128_000 {
		t.Fatalf("gpt-4o-mini = %+v", mini)
	}
	if m := cat.Find("google/gemini-embedding-001"); m == nil || m.Kind != control.ModelEmbedding {
		t.Fatalf("embedding model = %+v", m)
	}

	// A second replica starting later does not seed again.
	if err := control.NewService(e.store, control.Config{Clock: e.clock}).Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		do      func() (int, error)
		code    string
		version int
	}{
		{"new price", func() (int, error) {
			return e.svc.PutModel(e.ctx, control.Model{ID: "openai/gpt-4o-mini", ContextLength: 128_000, InputPrice: 300_000, OutputPrice: 1_200_000})
		}, "", 2},
		{"new model", func() (int, error) {
			return e.svc.PutModel(e.ctx, control.Model{ID: "mistral/large", InputPrice: 2_000_000, OutputPrice: 6_000_000})
		}, "", 3},
		{"bad id", func() (int, error) { return e.svc.PutModel(e.ctx, control.Model{ID: "noprovider"}) }, control.EINVALID, 0},
		{"bad kind", func() (int, error) { return e.svc.PutModel(e.ctx, control.Model{ID: "a/b", Kind: "image"}) }, control.EINVALID, 0},
		{"negative price", func() (int, error) { return e.svc.PutModel(e.ctx, control.Model{ID: "a/b", InputPrice: -1}) }, control.EINVALID, 0},
		{"delete", func() (int, error) { return e.svc.DeleteModel(e.ctx, "mistral/large") }, "", 4},
		{"delete unknown", func() (int, error) { return e.svc.DeleteModel(e.ctx, "mistral/large") }, control.ENOTFOUND, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := tt.do()
			wantCode(t, err, tt.code)
			if v != tt.version {
				t.Fatalf("version = %d, want %d", v, tt.version)
			}
		})
	}
	cat, _ = e.svc.Catalog(e.ctx)
	if cat.Version != 4 || cat.Find("mistral/large") != nil || cat.Find("openai/gpt-4o-mini").InputPrice != 300_000 {
		t.Fatalf("catalog after edits: %+v", cat)
	}
}

func TestPlugins(t *testing.T) {
	e := newEnv(t)
	a := mustAccount(t, e.svc, "a@example.com", 1)
	other := mustAccount(t, e.svc, "b@example.com", 1)
	k1, secret1 := e.key(t, a, control.KeyCreate{})
	_, secret2 := e.key(t, a, control.KeyCreate{})
	otherKey, _ := e.key(t, other, control.KeyCreate{})
	upload := func(name, fail, decision string) *control.Plugin {
		t.Helper()
		out, err := e.svc.UploadPlugin(e.ctx, a.ID, control.PluginUpload{Name: name, Fail: fail,
			Headers: []string{"X-Tenant-Tier"}, Module: wasmtest.Decision(decision)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Plugin
	}
	v1 := upload("policy", "", `{"action":"route","tags":{"v":"1"}}`)
	v2 := upload("policy", abi.FailClosed, `{"action":"route","tags":{"v":"2"}}`)
	other1 := upload("other", "", `{"action":"route"}`)
	if v1.Version != 1 || v2.Version != 2 || other1.Version != 1 || v1.Fail != abi.FailOpen || v2.Fail != abi.FailClosed {
		t.Fatalf("versions: %+v %+v %+v", v1, v2, other1)
	}
	if len(v1.Headers) != 1 || v1.Headers[0] != "x-tenant-tier" {
		t.Fatalf("headers %v, want lower-cased", v1.Headers)
	}
	// plugin reports what runs for each key: its hash, "" for none.
	plugin := func(secret string) string {
		t.Helper()
		return snapshot(t, e, control.HashSecret(secret)).PluginHash
	}
	if plugin(secret1) != "" {
		t.Fatal("an upload activated a plugin")
	}

	steps := []struct {
		name            string
		do              func() error
		key1, key2      *control.Plugin
		wantRollbackErr bool
	}{
		{"activate v1 for the account", func() error { _, err := e.svc.ActivatePlugin(e.ctx, a.ID, v1.ID, ""); return err }, v1, v1, false},
		{"activate v2 for the account", func() error { _, err := e.svc.ActivatePlugin(e.ctx, a.ID, v2.ID, ""); return err }, v2, v2, false},
		{"activating again records nothing", func() error { _, err := e.svc.ActivatePlugin(e.ctx, a.ID, v2.ID, ""); return err }, v2, v2, false},
		{"another plugin for key 1 only", func() error { _, err := e.svc.ActivatePlugin(e.ctx, a.ID, other1.ID, k1.ID); return err }, other1, v2, false},
		{"rollback steps the account back to v1", func() error { _, err := e.svc.RollbackPlugin(e.ctx, a.ID, ""); return err }, other1, v1, false},
		{"deactivating key 1 makes it follow the account", func() error { return e.svc.DeactivatePlugin(e.ctx, a.ID, k1.ID) }, v1, v1, false},
		{"rollback of key 1 restores its own plugin", func() error { _, err := e.svc.RollbackPlugin(e.ctx, a.ID, k1.ID); return err }, other1, v1, false},
		{"deactivate the account", func() error { return e.svc.DeactivatePlugin(e.ctx, a.ID, "") }, other1, nil, false},
		{"rollback undoes the deactivation", func() error { _, err := e.svc.RollbackPlugin(e.ctx, a.ID, ""); return err }, other1, v1, false},
		{"nothing earlier than the first activation", func() error { _, err := e.svc.RollbackPlugin(e.ctx, a.ID, ""); return err }, other1, v1, true},
	}
	for _, st := range steps {
		err := st.do()
		if st.wantRollbackErr {
			wantCode(t, err, control.ECONFLICT)
		} else if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for i, want := range []*control.Plugin{st.key1, st.key2} {
			wantHash := ""
			if want != nil {
				wantHash = want.Hash
			}
			if got := plugin([]string{secret1, secret2}[i]); got != wantHash {
				t.Fatalf("%s: key %d runs %q, want %q", st.name, i+1, got, wantHash)
			}
		}
	}

	s := snapshot(t, e, control.HashSecret(secret2))
	if s.PluginFail != abi.FailOpen || len(s.PluginHeaders) != 1 || s.PluginHeaders[0] != "x-tenant-tier" {
		t.Fatalf("snapshot plugin policy = %q %v", s.PluginFail, s.PluginHeaders)
	}
	list, err := e.svc.Plugins(e.ctx, a.ID)
	if err != nil || len(list) != 3 {
		t.Fatalf("plugins = %+v, %v", list, err)
	}
	for _, p := range list {
		wantActive, wantKeys := p.ID == v1.ID, 0
		if p.ID == other1.ID {
			wantKeys = 1
		}
		if p.Active != wantActive || len(p.ActiveKeys) != wantKeys {
			t.Fatalf("plugin %s v%d: active %v on keys %v", p.Name, p.Version, p.Active, p.ActiveKeys)
		}
	}
	got, err := e.svc.PluginModule(e.ctx, v1.Hash)
	if err != nil || string(got) != string(wasmtest.Decision(`{"action":"route","tags":{"v":"1"}}`)) {
		t.Fatalf("module = %q, %v", got, err)
	}

	t.Run("refusals", func(t *testing.T) {
		_, err := e.svc.PluginModule(e.ctx, control.HashSecret("nothing"))
		wantCode(t, err, control.ENOTFOUND)
		_, err = e.svc.ActivatePlugin(e.ctx, other.ID, v1.ID, "")
		wantCode(t, err, control.ENOTFOUND)
		_, err = e.svc.ActivatePlugin(e.ctx, a.ID, v1.ID, otherKey.ID)
		wantCode(t, err, control.ENOTFOUND)
		valid := control.PluginUpload{Name: "p", Module: wasmtest.Decision(`{"action":"route"}`)}
		for _, tt := range []struct {
			name   string
			mutate func(*control.PluginUpload)
		}{
			{"no name", func(in *control.PluginUpload) { in.Name = "" }},
			{"name with a space", func(in *control.PluginUpload) { in.Name = "my plugin" }},
			{"unknown fail policy", func(in *control.PluginUpload) { in.Fail = "sometimes" }},
			{"credential header", func(in *control.PluginUpload) { in.Headers = []string{"Authorization"} }},
			{"not a header name", func(in *control.PluginUpload) { in.Headers = []string{"x y"} }},
			{"empty module", func(in *control.PluginUpload) { in.Module = nil }},
			{"not WebAssembly", func(in *control.PluginUpload) { in.Module = []byte("\x00asm\x01\x00\x00\x00 junk") }},
		} {
			in := valid
			tt.mutate(&in)
			_, err := e.svc.UploadPlugin(e.ctx, a.ID, in)
			if control.ErrorCode(err) != control.EINVALID {
				t.Errorf("%s: error %v, want invalid", tt.name, err)
			}
		}
	})
}

func snapshot(t *testing.T, e *env, hash string) *edgeapi.KeySnapshot {
	t.Helper()
	s, err := e.svc.KeySnapshot(e.ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ingest(t *testing.T, e *env, recs ...edgeapi.UsageRecord) *edgeapi.UsageResult {
	t.Helper()
	res, err := e.svc.IngestUsage(e.ctx, "edge-test", recs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// withCost makes r cost exactly micros, on a model priced at $1 per
// million input tokens (added to the catalog on first use).
func withCost(r edgeapi.UsageRecord, micros int64) edgeapi.UsageRecord {
	r.Model, r.ServedModel = controltest.OneDollarModel, controltest.OneDollarModel
	r.InputTokens, r.CachedInputTokens, r.CacheWriteTokens, r.OutputTokens = int(micros), 0, 0, 0
	return r
}

func checkBalance(t *testing.T, e *env, accountID string, want int64) {
	t.Helper()
	a, err := e.svc.Account(e.ctx, accountID)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := e.svc.Ledger(e.ctx, accountID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, en := range entries {
		sum += en.AmountMicros
	}
	if a.BalanceMicros != want || sum != want {
		t.Fatalf("balance %d, ledger sum %d, want %d", a.BalanceMicros, sum, want)
	}
	if len(entries) > 0 && entries[0].BalanceAfterMicros != want {
		t.Fatalf("newest entry left %d, want %d", entries[0].BalanceAfterMicros, want)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	st := controltest.OpenStore(t, controltest.DBPath(t))
	tests := []struct {
		name string
		cfg  control.Config
	}{
		{"negative starting credit", control.Config{StartingCreditMicros: -1}},
		{"negative low-balance threshold", control.Config{LowBalanceMicros: -1}},
		{"second-long sessions", control.Config{SessionTTL: time.Second}},
		{"malformed seed model", control.Config{Catalog: []control.Model{{ID: "no-provider"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, control.NewService(st, tt.cfg).Start(context.Background()), control.EINVALID)
		})
	}
}
