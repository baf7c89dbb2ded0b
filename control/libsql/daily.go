package libsql

import (
	"context"
	"database/sql"
	"strings"

	"github.com/switchyard-ai/switchyard/control"
)

// Daily totals. usage_daily holds, per account, UTC day, model and key,
// the totals of the live usage records, kept by triggers on usage_records
// (migration 0009); usage_rollups holds the same for records that
// retention or an account's closure deleted, added here before they go.
// The two together always equal what the records were, and reports over
// whole days read these few rows instead of grouping the records.

// cell is one row of either daily table.
type cell struct {
	account string
	control.UsageCell
}

// cellColumns are the daily tables' columns, in the order upsertCells binds.
const cellColumns = `account_id, day, model, key_id, requests, input_tokens, cached_input_tokens,
	cache_write_tokens, output_tokens, reasoning_tokens, cost_micros`

const cellColumnCount = 11

// addCells ends an INSERT into a daily table: a row that exists gets the
// new row's totals added.
const addCells = ` ON CONFLICT (account_id, day, model, key_id) DO UPDATE SET
	requests = requests + excluded.requests,
	input_tokens = input_tokens + excluded.input_tokens,
	cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
	cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
	output_tokens = output_tokens + excluded.output_tokens,
	reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
	cost_micros = cost_micros + excluded.cost_micros`

// cellsChunk is how many cells one upsert carries.
const cellsChunk = 250

// upsertCells adds each cell's totals to table's row for it, creating the
// row when there is none.
func upsertCells(ctx context.Context, tx *sql.Tx, table string, cells []cell) error {
	var b strings.Builder
	row := "(" + placeholders(cellColumnCount) + ")"
	args := make([]any, 0, min(len(cells), cellsChunk)*cellColumnCount)
	for start := 0; start < len(cells); start += cellsChunk {
		part := cells[start:min(start+cellsChunk, len(cells))]
		b.Reset()
		b.WriteString(`INSERT INTO ` + table + ` (` + cellColumns + `) VALUES `)
		args = args[:0]
		for i := range part {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(row)
			c := &part[i]
			args = append(args, c.account, c.Day, c.Model, c.KeyID, c.Requests, c.InputTokens,
				c.CachedInputTokens, c.CacheWriteTokens, c.OutputTokens, c.ReasoningTokens, c.CostMicros)
		}
		b.WriteString(addCells)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// foldUsage adds the totals of the records that where selects (a clause
// on usage_records, with its args) to usage_rollups, in the caller's
// transaction, which then deletes those records; usage_daily's delete
// trigger takes them out of the daily totals.
func foldUsage(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	rows, err := tx.QueryContext(ctx, `SELECT account_id, strftime('%Y-%m-%d', started_at / 1000, 'unixepoch'),
			CASE WHEN served_model <> '' THEN served_model ELSE model END, key_id, count(*), sum(input_tokens),
			sum(cached_input_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), sum(cost_micros)
		FROM usage_records WHERE `+where+` GROUP BY 1, 2, 3, 4`, args...)
	if err != nil {
		return err
	}
	cells, err := scanCells(rows, true)
	if err != nil {
		return err
	}
	return upsertCells(ctx, tx, "usage_rollups", cells)
}

// scanCells reads rows of (account when withAccount,) day, model, key and
// the seven totals, and closes rows.
func scanCells(rows *sql.Rows, withAccount bool) ([]cell, error) {
	defer rows.Close()
	var out []cell
	for rows.Next() {
		var c cell
		dest := []any{&c.Day, &c.Model, &c.KeyID, &c.Requests, &c.InputTokens, &c.CachedInputTokens,
			&c.CacheWriteTokens, &c.OutputTokens, &c.ReasoningTokens, &c.CostMicros}
		if withAccount {
			dest = append([]any{&c.account}, dest...)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
