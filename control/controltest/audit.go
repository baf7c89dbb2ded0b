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
//
// Usage records the retention job expired are gone whole ingestions at a
// time, their totals kept in usage_rollups: the usage entries left with no
// records must add up, per account, to the account's rollups. Closed
// accounts, whose usage is erased, are left out of that last check.
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
	rolledUp, closed := rollups(tb, db)
	expired := map[string]int64{}
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
		if _, ok := charged[c]; !ok && rolledUp != nil {
			expired[c.account] += debit
			continue
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
	for _, m := range []map[string]int64{expired, rolledUp} {
		for account := range m {
			if !closed[account] && expired[account] != rolledUp[account] {
				tb.Errorf("account %s: usage entries without records debit %d; its rollups cost %d",
					account, expired[account], rolledUp[account])
				delete(expired, account)
				delete(rolledUp, account)
			}
		}
	}
	if err := db.QueryRow(`SELECT count(*), COALESCE(SUM(cost_micros), 0) FROM usage_records`).
		Scan(&books.UsageRows, &books.UsageCost); err != nil {
		tb.Fatal(err)
	}
	auditDaily(tb, db, closed)
	return books
}

// auditDaily fails tb unless usage_daily (where the database has it)
// holds exactly the records' totals per account, UTC day, model and key,
// for every account not closed.
func auditDaily(tb testing.TB, db *sql.DB, closed map[string]bool) {
	tb.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'usage_daily'`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	if n == 0 {
		return
	}
	const records = `SELECT account_id, strftime('%Y-%m-%d', started_at / 1000, 'unixepoch'),
			CASE WHEN served_model <> '' THEN served_model ELSE model END, key_id, count(*), sum(input_tokens),
			sum(cached_input_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), sum(cost_micros)
		FROM usage_records GROUP BY 1, 2, 3, 4`
	const daily = `SELECT account_id, day, model, key_id, requests, input_tokens, cached_input_tokens,
			cache_write_tokens, output_tokens, reasoning_tokens, cost_micros FROM usage_daily`
	for _, q := range []struct{ what, sql string }{
		{"usage_daily has a row the records do not add up to", daily + ` EXCEPT ` + records},
		{"the records add up to a row usage_daily lacks", records + ` EXCEPT ` + daily},
	} {
		rows, err := db.Query(q.sql)
		if err != nil {
			tb.Fatal(err)
		}
		for rows.Next() {
			var account, day, model, key string
			var totals [7]int64
			if err := rows.Scan(&account, &day, &model, &key, &totals[0], &totals[1], &totals[2], &totals[3],
				&totals[4], &totals[5], &totals[6]); err != nil {
				tb.Fatal(err)
			}
			if !closed[account] {
				tb.Errorf("%s: account %s, %s, model %q, key %s: %v", q.what, account, day, model, key, totals)
			}
		}
		rows.Close()
	}
}

// rollups sums the usage rollups per account (nil when the database has
// none yet) and lists the closed accounts.
func rollups(tb testing.TB, db *sql.DB) (map[string]int64, map[string]bool) {
	tb.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'usage_rollups'`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	if n == 0 {
		return nil, nil
	}
	sums := map[string]int64{}
	rows, err := db.Query(`SELECT account_id, SUM(cost_micros) FROM usage_rollups GROUP BY account_id`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var id string
		var cost int64
		if err := rows.Scan(&id, &cost); err != nil {
			tb.Fatal(err)
		}
		sums[id] = cost
	}
	rows.Close()
	closed := map[string]bool{}
	query := `SELECT account_id FROM account_erasures`
	if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info('accounts') WHERE name = 'closed_at'`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	if n > 0 {
		query += ` UNION SELECT id FROM accounts WHERE closed_at IS NOT NULL`
	}
	rows, err = db.Query(query)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		closed[id] = true
	}
	rows.Close()
	return sums, closed
}
