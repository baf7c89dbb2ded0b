package libsql_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/libsql"
)

func testKey(b byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))
}

func sealedService(t *testing.T, st control.Store, keys, current string) *control.Service {
	t.Helper()
	kr, err := control.ParseKeyring(keys, current)
	if err != nil {
		t.Fatal(err)
	}
	svc := control.NewService(st, control.Config{Clock: controltest.NewClock(controltest.Epoch),
		Password: controltest.FastPasswords, Keyring: kr})
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return svc
}

// fileBytes reads the database file and its write-ahead log.
func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func assertAbsent(t *testing.T, path string, values ...string) {
	t.Helper()
	raw := fileBytes(t, path)
	for _, v := range values {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("the database file holds %q in plain text", v)
		}
	}
}

type profile struct{ address, phone string }

// sealedNames are the names and companies TestEncryptionAtRest gives its
// accounts, by index.
var sealedNames = []struct{ name, company, email string }{
	{"Golf Hotelier", "India Juliet Ltd", "golf.hotelier@example.net"}, {"Kilo Limaworth", "", "kilo.lima@example.net"},
	{"Mike Novembersen", "Oscar Papa GmbH", "mike.november@example.net"},
}

// TestEncryptionAtRest checks that names, companies, billing addresses
// and phone numbers never reach the database file in plain text, that rotate-key moves every
// value to the new key without losing one, and that a wrong or missing key
// fails clearly.
func TestEncryptionAtRest(t *testing.T) {
	ctx := context.Background()
	path := controltest.DBPath(t)
	st := controltest.OpenStore(t, path)
	k1 := "k1:" + testKey(1)
	k2 := "k2:" + testKey(2)
	svc := sealedService(t, st, k1, "")

	want := map[string]profile{}
	names := map[string]struct{ name, company, email string }{}
	var plain []string
	for i, p := range []profile{
		{"Canary Wharf Alpha 4711", "+44 20 7946 0911"},
		{"Rue de Rivoli Bravo 8812", "+33 1 4020 5050"},
		{"Unter den Linden Charlie 9913", ""},
	} {
		n := sealedNames[i]
		a, err := svc.CreateAccount(ctx, control.AccountCreate{Name: n.name, Company: n.company,
			Email: n.email, BillingAddress: p.address, Phone: p.phone, Password: "password1"})
		if err != nil {
			t.Fatal(err)
		}
		want[a.ID] = p
		names[a.ID] = n
		plain = append(plain, p.address, n.name, n.email)
		if n.company != "" {
			plain = append(plain, n.company)
		}
		if p.phone != "" {
			plain = append(plain, p.phone)
		}
	}
	// A correction seals the new value; the old one must leave the file.
	var corrected string
	for id := range want {
		corrected = id
		break
	}
	newAddr, newPhone := "Via del Corso Delta 1014", "+39 06 6710 1014"
	if _, err := svc.UpdateProfile(ctx, corrected, control.ProfileUpdate{BillingAddress: &newAddr, Phone: &newPhone}); err != nil {
		t.Fatal(err)
	}
	plain = append(plain, newAddr, newPhone)
	want[corrected] = profile{newAddr, newPhone}

	check := func(svc *control.Service) {
		t.Helper()
		accounts, err := svc.Accounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range accounts {
			if w := want[a.ID]; a.BillingAddress != w.address || a.Phone != w.phone {
				t.Errorf("%s reads %q, %q; want %q, %q", a.ID, a.BillingAddress, a.Phone, w.address, w.phone)
			}
			if n := names[a.ID]; a.Name != n.name || a.Company != n.company || a.Email != n.email {
				t.Errorf("%s reads %q <%s> of %q; want %q <%s> of %q", a.ID, a.Name, a.Email, a.Company, n.name, n.email, n.company)
			}
			// Found by email, through the lookup hash (or, for a row from
			// before sealing, the plain address).
			if _, _, err := svc.Login(ctx, names[a.ID].email, "password1"); err != nil {
				t.Errorf("%s cannot sign in: %v", names[a.ID].email, err)
			}
		}
	}
	check(svc)

	// A row from before encryption at rest holds plain text; it reads as
	// it is until rotation seals it.
	legacy := "Old Kent Road Echo 2215"
	db := rawDB(t, path)
	var legacyID string
	for id := range want {
		if id != corrected {
			legacyID = id
			break
		}
	}
	legacyEmail := "legacy.romeo@example.net"
	if _, err := db.Exec(`UPDATE accounts SET billing_address = ?, email = ?, email_lookup = NULL WHERE id = ?`,
		legacy, legacyEmail, legacyID); err != nil {
		t.Fatal(err)
	}
	want[legacyID] = profile{legacy, want[legacyID].phone}
	n := names[legacyID]
	n.email = legacyEmail
	names[legacyID] = n
	plain = append(plain, legacy, legacyEmail)
	check(svc)

	// Rotation: both keys configured, k2 current; the old service (k1
	// only) is still running beside it.
	rotator := sealedService(t, st, k1+","+k2, "k2")
	// An address taken under the old key is taken under the new one too.
	_, err := rotator.CreateAccount(ctx, control.AccountCreate{Name: "Twin", Email: names[corrected].email,
		BillingAddress: "2 Road", Password: "password1"})
	if control.ErrorCode(err) != control.ECONFLICT {
		t.Fatalf("signing up with a taken address during rotation: %v, want a conflict", err)
	}
	rep, err := rotator.RotateKeys(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	values := 0
	for id, p := range want {
		for _, v := range []string{p.address, p.phone, names[id].name, names[id].company, names[id].email} {
			if v != "" {
				values++
			}
		}
	}
	if rep.KeyID != "k2" || rep.Resealed != values || rep.Remaining != 0 {
		t.Fatalf("rotation: %+v, want %d resealed under k2 and none remaining", rep, values)
	}
	rows, err := db.Query(`SELECT id, billing_address, phone, name, company, email, email_lookup FROM accounts`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, addr, phone, name, company, email, lookup string
		if err := rows.Scan(&id, &addr, &phone, &name, &company, &email, &lookup); err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{addr, phone, name, company, email} {
			if kid, ok := control.SealedKeyID(v); v != "" && (!ok || kid != "k2") {
				t.Errorf("%s holds %.12q…, not sealed under k2", id, v)
			}
		}
		if !strings.HasPrefix(lookup, "k2:") {
			t.Errorf("%s is found by %.12q…, not a lookup under k2", id, lookup)
		}
	}
	rows.Close()
	check(rotator)
	check(sealedService(t, st, k2, ""))
	if again, err := rotator.RotateKeys(ctx, 2); err != nil || again.Resealed != 0 {
		t.Fatalf("a second rotation: %+v, %v; want nothing to do", again, err)
	}
	assertAbsent(t, path, plain...)
	// The scan would see plain text: account ids are not sealed.
	if !bytes.Contains(fileBytes(t, path), []byte(legacyID)) {
		t.Fatal("the byte scan does not find an account id stored in plain text")
	}

	// The old key alone can no longer read, and a wrong key under the
	// right id fails as clearly.
	for _, tt := range []struct {
		name, keys, wantErr string
	}{
		{"old key only", k1, `sealed under key id "k2", which is not configured`},
		{"wrong key", "k2:" + testKey(9), `does not open under key id "k2"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sealedService(t, st, tt.keys, "").Account(ctx, corrected)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestExportCoversEveryAccountTable fails when a table gains an
// account_id column and AccountExport does not cover it: add the table
// to the export (and to libsql.ExportedTables) or, when it holds nothing
// about the person, to libsql.NotExported.
func TestExportCoversEveryAccountTable(t *testing.T) {
	path := controltest.DBPath(t)
	controltest.OpenStore(t, path)
	rows, err := rawDB(t, path).Query(`SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c
		WHERE m.type = 'table' AND c.name = 'account_id' ORDER BY m.name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		if err := rows.Scan(&table); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(libsql.ExportedTables, table) && !slices.Contains(libsql.NotExported, table) {
			t.Errorf("table %s has an account_id column but is not in the account export", table)
		}
	}
}

// TestRotationWhileServing re-seals while a replica that still seals
// with the old key (it has both, as step 1 of the rotation has every
// replica) keeps correcting profiles: no write is lost, every value stays
// readable, and once that replica seals with the new key a last pass
// leaves nothing behind.
func TestRotationWhileServing(t *testing.T) {
	ctx := context.Background()
	st := controltest.OpenStore(t, controltest.DBPath(t))
	k1, k2 := "k1:"+testKey(1), "k2:"+testKey(2)
	old := sealedService(t, st, k1+","+k2, "k1")
	var ids []string
	for i := range 40 {
		a, err := old.CreateAccount(ctx, control.AccountCreate{Name: "N", Email: string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@example.com",
			BillingAddress: "start", Phone: "+1", Password: "password1"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	rotator := sealedService(t, st, k1+","+k2, "k2")
	last := make([]string, len(ids))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for round := range 5 {
			for i, id := range ids {
				addr := "round " + string(rune('0'+round))
				if _, err := old.UpdateProfile(ctx, id, control.ProfileUpdate{BillingAddress: &addr}); err != nil {
					t.Error(err)
					return
				}
				last[i] = addr
			}
		}
	}()
	for range 3 {
		if _, err := rotator.RotateKeys(ctx, 7); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if rep, err := rotator.RotateKeys(ctx, 7); err != nil || rep.Remaining != 0 {
		t.Fatalf("final pass: %+v, %v", rep, err)
	}
	for i, id := range ids {
		a, err := sealedService(t, st, k2, "").Account(ctx, id)
		if err != nil || a.BillingAddress != last[i] || a.Phone != "+1" {
			t.Fatalf("%s: %+v, %v; want address %q", id, a, err, last[i])
		}
	}
}

// recordingMailer keeps what it is asked to send.
type recordingMailer struct{ sent []control.Email }

func (m *recordingMailer) Send(_ context.Context, _ string, e *control.Email) error {
	m.sent = append(m.sent, *e)
	return nil
}

// TestOutboxSealed: a queued email's recipient, subject and bodies reach
// the database file sealed; operators, the sender and the account export
// see them opened; rotation re-seals them like the account fields.
func TestOutboxSealed(t *testing.T) {
	ctx := context.Background()
	path := controltest.DBPath(t)
	st := controltest.OpenStore(t, path)
	service := func(keys, current string, mailer control.Mailer) *control.Service {
		t.Helper()
		kr, err := control.ParseKeyring(keys, current)
		if err != nil {
			t.Fatal(err)
		}
		svc := control.NewService(st, control.Config{Clock: controltest.NewClock(controltest.Epoch),
			Password: controltest.FastPasswords, Keyring: kr, Mail: control.MailConfig{Mailer: mailer, Interval: time.Hour}})
		if mailer != nil {
			// Not started: Start's sender would deliver at once, before
			// the test's own DeliverEmails.
			return svc
		}
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		return svc
	}
	k1, k2 := "k1:"+testKey(1), "k2:"+testKey(2)
	svc := service(k1, "", nil)
	a, err := svc.CreateAccount(ctx, control.AccountCreate{Name: "N", Email: "owner@example.com", BillingAddress: "1 Road", Password: "password1"})
	if err != nil {
		t.Fatal(err)
	}
	e := control.Email{AccountID: a.ID, To: "sierra.recipient@example.org", Kind: "notice",
		Subject: "Subject Tango 4242", Text: "Body Uniform 5353", HTML: "<p>Html Victor 6464</p>", DedupeKey: "notice:1"}
	if _, err := svc.EnqueueEmail(ctx, e); err != nil {
		t.Fatal(err)
	}
	plain := []string{e.To, e.Subject, e.Text, e.HTML}
	assertAbsent(t, path, plain...)
	listed, err := svc.OutboxEmails(ctx, "", 10)
	if err != nil || len(listed) != 1 || listed[0].Email.To != e.To || listed[0].Text != e.Text || listed[0].HTML != e.HTML {
		t.Fatalf("operators see %+v, %v", listed, err)
	}
	x, err := svc.AccountExport(ctx, a.ID)
	if err != nil || len(x.Emails) != 1 || x.Emails[0].To != e.To || x.Emails[0].Subject != e.Subject {
		t.Fatalf("the export shows %+v, %v", x.Emails, err)
	}

	// Rotation to k2 re-seals the queued email; a sender with k2 alone
	// delivers it as written.
	rep, err := service(k1+","+k2, "k2", nil).RotateKeys(ctx, 10)
	if err != nil || rep.Resealed != 7 || rep.Remaining != 0 {
		t.Fatalf("rotation: %+v, %v; want 7 resealed: the 4 email fields, the name, email and address", rep, err)
	}
	mailer := &recordingMailer{}
	if n, err := service(k2, "", mailer).DeliverEmails(ctx); err != nil || n != 1 {
		t.Fatalf("delivered %d, %v", n, err)
	}
	if got := mailer.sent; len(got) != 1 || got[0].To != e.To || got[0].Subject != e.Subject || got[0].Text != e.Text {
		t.Fatalf("the mailer got %+v", got)
	}
	assertAbsent(t, path, plain...)
}

// TestEmailLookupFollowsTheSeal: the lookup hash is rewritten whenever the
// email is sealed afresh (a profile save that keeps the address, on a row
// from before sealing and under a new key), rotation repairs a lookup left
// under an old key, and a closed account gets none back.
func TestEmailLookupFollowsTheSeal(t *testing.T) {
	ctx := context.Background()
	path := controltest.DBPath(t)
	st := controltest.OpenStore(t, path)
	db := rawDB(t, path)
	k1, k2 := "k1:"+testKey(1), "k2:"+testKey(2)
	svc := sealedService(t, st, k1, "")
	const email = "papa.quebec@example.net"
	a, err := svc.CreateAccount(ctx, control.AccountCreate{Name: "Papa", Email: email, BillingAddress: "3 Road", Password: "password1"})
	if err != nil {
		t.Fatal(err)
	}
	closing, err := svc.CreateAccount(ctx, control.AccountCreate{Name: "Closing", Email: "closing@example.net",
		BillingAddress: "4 Road", Password: "password1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CloseAccount(ctx, closing.ID, "password1"); err != nil {
		t.Fatal(err)
	}
	signIn := func(svc *control.Service, when string) {
		t.Helper()
		if _, _, err := svc.Login(ctx, email, "password1"); err != nil {
			t.Fatalf("%s: cannot sign in: %v", when, err)
		}
		_, err := svc.CreateAccount(ctx, control.AccountCreate{Name: "Twin", Email: email, BillingAddress: "5 Road", Password: "password1"})
		if control.ErrorCode(err) != control.ECONFLICT {
			t.Fatalf("%s: a second account with the address: %v, want a conflict", when, err)
		}
	}
	lookup := func() string {
		t.Helper()
		var l sql.NullString
		if err := db.QueryRow(`SELECT email_lookup FROM accounts WHERE id = ?`, a.ID).Scan(&l); err != nil {
			t.Fatal(err)
		}
		return l.String
	}
	company := func(svc *control.Service, c string) {
		t.Helper()
		if _, err := svc.UpdateProfile(ctx, a.ID, control.ProfileUpdate{Company: &c}); err != nil {
			t.Fatal(err)
		}
	}

	// A row from before sealing, saved with its address unchanged.
	if _, err := db.Exec(`UPDATE accounts SET email = ?, email_lookup = NULL WHERE id = ?`, email, a.ID); err != nil {
		t.Fatal(err)
	}
	signIn(svc, "a row from before sealing")
	company(svc, "Romeo Ltd")
	signIn(svc, "after a save of a row from before sealing")

	// The same save with k2 current seals the address and its lookup
	// under k2.
	both := sealedService(t, st, k1+","+k2, "k2")
	company(both, "Sierra Ltd")
	if l := lookup(); !strings.HasPrefix(l, "k2:") {
		t.Fatalf("after a save under k2 the lookup is %.8q…", l)
	}
	signIn(sealedService(t, st, k2, ""), "k2 alone, after the save")

	// A lookup left under k1 (as the save above used to leave it) is
	// rewritten by rotation, after which k2 alone finds the account.
	kr1, _ := control.ParseKeyring(k1, "")
	if _, err := db.Exec(`UPDATE accounts SET email_lookup = ? WHERE id = ?`, kr1.EmailKey(email).Current, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := both.RotateKeys(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if l := lookup(); !strings.HasPrefix(l, "k2:") {
		t.Fatalf("after rotation the lookup is %.8q…", l)
	}
	signIn(sealedService(t, st, k2, ""), "k2 alone, after rotation")
	var closedLookup sql.NullString
	if err := db.QueryRow(`SELECT email_lookup FROM accounts WHERE id = ?`, closing.ID).Scan(&closedLookup); err != nil {
		t.Fatal(err)
	}
	if closedLookup.Valid {
		t.Errorf("a closed account got a lookup back from rotation: %.8q…", closedLookup.String)
	}
}
