package controltest

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "github.com/tursodatabase/libsql-client-go/libsql" // registers "libsql"
)

// Books are an audited database's money figures.
type Books struct {
	// Balances maps each account to its balance.
	Balances map[string]int64
	// UsageRows counts stored usage records.
	UsageRows int64
	// UsageCost sums the cost of every stored usage record.
	UsageCost int64
}

// Audit reads the database file at path and fails tb unless its books
// balance: each account's cached balance equals the sum of its ledger
// entries; each entry's balance_after follows from the one before; each
// usage ledger entry debits exactly the cost of the records carrying its
// ref; and every charged record is covered by such an entry.
func Audit(tb testing.TB, path string) Books {
	tb.Helper()
	db, err := sql.Open("libsql", "file:"+filepath.ToSlash(path))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	books := Books{Balances: map[string]int64{}}

	rows, err := db.Query(`SELECT a.id, a.balance_micros, COALESCE(SUM(l.amount_micros), 0)
		FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id GROUP BY a.id`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var id string
		var cached, sum int64
		if err := rows.Scan(&id, &cached, &sum); err != nil {
			tb.Fatal(err)
		}
		if cached != sum {
			tb.Errorf("account %s: cached balance %d, ledger sum %d", id, cached, sum)
		}
		books.Balances[id] = cached
	}
	rows.Close()

	rows, err = db.Query(`SELECT account_id, amount_micros, balance_after_micros FROM ledger_entries ORDER BY account_id, id`)
	if err != nil {
		tb.Fatal(err)
	}
	running := map[string]int64{}
	for rows.Next() {
		var id string
		var amount, after int64
		if err := rows.Scan(&id, &amount, &after); err != nil {
			tb.Fatal(err)
		}
		running[id] += amount
		if running[id] != after {
			tb.Errorf("account %s: entry leaves %d, running sum is %d", id, after, running[id])
			running[id] = after
		}
	}
	rows.Close()

	// Usage entries and the records they charge, matched by (ref, account).
	type charge struct{ ref, account string }
	charged := map[charge]int64{}
	rows, err = db.Query(`SELECT ingest_id, account_id, SUM(cost_micros) FROM usage_records
		GROUP BY ingest_id, account_id HAVING SUM(cost_micros) <> 0`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var c charge
		var cost int64
		if err := rows.Scan(&c.ref, &c.account, &cost); err != nil {
			tb.Fatal(err)
		}
		charged[c] = cost
	}
	rows.Close()
	rows, err = db.Query(`SELECT ref, account_id, -amount_micros FROM ledger_entries WHERE kind = 'usage'`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var c charge
		var debit int64
		if err := rows.Scan(&c.ref, &c.account, &debit); err != nil {
			tb.Fatal(err)
		}
		if charged[c] != debit {
			tb.Errorf("usage entry %s for %s debits %d; its records cost %d", c.ref, c.account, debit, charged[c])
		}
		delete(charged, c)
	}
	rows.Close()
	for c, cost := range charged {
		tb.Errorf("records of ingestion %s for %s cost %d but no ledger entry charges them", c.ref, c.account, cost)
	}
	if err := db.QueryRow(`SELECT count(*), COALESCE(SUM(cost_micros), 0) FROM usage_records`).
		Scan(&books.UsageRows, &books.UsageCost); err != nil {
		tb.Fatal(err)
	}
	return books
}
