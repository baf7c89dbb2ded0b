package libsql

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

const usageColumns = `request_id, account_id, key_id, started_at, endpoint, model, served_model, provider, stream,
	status, error_type, finish_reason, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
	reasoning_tokens, estimated, latency_ms, ttfb_ms, attempts, tags, edge_cost_micros, cost_micros, priced_by,
	edge_id, ingest_id, received_at`

const usageColumnCount = 28

// insertChunk is how many records one INSERT carries: large enough that
// statement overhead (and, remotely, round trips) vanish, small enough to
// stay far below SQLite's limit on bound parameters.
const insertChunk = 250

var insertUsageSQL = `INSERT INTO usage_records (` + usageColumns + `) VALUES `

func (s *Store) IngestUsage(ctx context.Context, in *control.UsageIngest) (*control.IngestOutcome, error) {
	var out *control.IngestOutcome
	err := s.write(ctx, func(tx *sql.Tx) error {
		out = &control.IngestOutcome{}
		owners, err := keyOwners(ctx, tx, in.Records)
		if err != nil {
			return err
		}
		keep := make([]*control.UsageRecord, 0, len(in.Records))
		for i := range in.Records {
			r := &in.Records[i]
			owner, ok := owners[r.KeyID]
			switch {
			case !ok:
				out.Rejected = append(out.Rejected, edgeapi.Rejection{Index: i, RequestID: r.RequestID, Reason: "key_id is unknown"})
			case owner != r.AccountID:
				out.Rejected = append(out.Rejected, edgeapi.Rejection{Index: i, RequestID: r.RequestID,
					Reason: "key_id belongs to another account"})
			default:
				keep = append(keep, r)
			}
		}
		inserted, err := insertUsage(ctx, tx, keep)
		if err != nil {
			return err
		}
		return charge(ctx, tx, in, keep, inserted, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// keyOwners maps each key id the records name to its account.
func keyOwners(ctx context.Context, tx *sql.Tx, records []control.UsageRecord) (map[string]string, error) {
	ids := make([]any, 0, 8)
	seen := make(map[string]bool, 8)
	for i := range records {
		if id := records[i].KeyID; !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	owners := make(map[string]string, len(ids))
	for start := 0; start < len(ids); start += 500 {
		part := ids[start:min(start+500, len(ids))]
		rows, err := tx.QueryContext(ctx, `SELECT id, account_id FROM api_keys WHERE id IN (`+placeholders(len(part))+`)`, part...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, account string
			if err := rows.Scan(&id, &account); err != nil {
				rows.Close()
				return nil, err
			}
			owners[id] = account
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return owners, nil
}

// insertUsage inserts records whose request id is new and returns the
// request ids it inserted. ON CONFLICT DO NOTHING with RETURNING reports
// exactly the rows written, so a replayed record is told apart from a new
// one without a read per record.
func insertUsage(ctx context.Context, tx *sql.Tx, records []*control.UsageRecord) (map[string]bool, error) {
	inserted := make(map[string]bool, len(records))
	var b strings.Builder
	args := make([]any, 0, insertChunk*usageColumnCount)
	row := "(" + placeholders(usageColumnCount) + ")"
	for start := 0; start < len(records); start += insertChunk {
		part := records[start:min(start+insertChunk, len(records))]
		b.Reset()
		b.WriteString(insertUsageSQL)
		args = args[:0]
		for i, r := range part {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(row)
			args = appendUsageArgs(args, r)
		}
		b.WriteString(` ON CONFLICT (request_id) DO NOTHING RETURNING request_id`)
		rows, err := tx.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			inserted[id] = true
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return inserted, nil
}

func appendUsageArgs(args []any, r *control.UsageRecord) []any {
	var tags sql.NullString
	if len(r.Tags) > 0 {
		b, _ := json.Marshal(r.Tags)
		tags = sql.NullString{String: string(b), Valid: true}
	}
	return append(args, r.RequestID, r.AccountID, r.KeyID, ms(r.StartedAt), r.Endpoint, r.Model, r.ServedModel,
		r.Provider, r.Stream, r.Status, r.ErrorType, r.FinishReason, r.InputTokens, r.CachedInputTokens,
		r.CacheWriteTokens, r.OutputTokens, r.ReasoningTokens, r.Estimated, r.LatencyMs, r.TTFBMs, r.Attempts, tags,
		r.EdgeCostMicros, r.CostMicros, r.PricedBy, r.EdgeID, r.IngestID, ms(r.ReceivedAt))
}

// charge debits the accounts for the records just inserted: one usage
// ledger entry per account per batch, carrying the batch's id as its ref
// (as do the records), then each key's monthly spend and last use.
func charge(ctx context.Context, tx *sql.Tx, in *control.UsageIngest, records []*control.UsageRecord,
	inserted map[string]bool, out *control.IngestOutcome) error {
	type monthKey struct{ key, month string }
	cost := map[string]int64{}
	count := map[string]int{}
	spend := map[monthKey]int64{}
	lastUsed := map[string]int64{}
	for _, r := range records {
		if !inserted[r.RequestID] {
			out.Duplicates++
			continue
		}
		out.Accepted++
		if r.CostMicros > 0 {
			cost[r.AccountID] += r.CostMicros
			count[r.AccountID]++
			spend[monthKey{r.KeyID, r.StartedAt.UTC().Format("2006-01")}] += r.CostMicros
		}
		lastUsed[r.KeyID] = max(lastUsed[r.KeyID], ms(r.StartedAt))
	}
	for _, account := range sortedKeys(cost) {
		e := &control.LedgerEntry{AccountID: account, Kind: control.LedgerUsage, AmountMicros: -cost[account],
			Ref: in.ID, Note: fmt.Sprintf("usage: %d requests", count[account]), CreatedAt: in.At}
		if err := appendLedger(ctx, tx, e); err != nil {
			return err
		}
	}
	months := make([]monthKey, 0, len(spend))
	for k := range spend {
		months = append(months, k)
	}
	sort.Slice(months, func(i, j int) bool {
		return months[i].key < months[j].key || months[i].key == months[j].key && months[i].month < months[j].month
	})
	for _, k := range months {
		if _, err := tx.ExecContext(ctx, `INSERT INTO key_spend (key_id, month, spend_micros) VALUES (?, ?, ?)
			ON CONFLICT (key_id, month) DO UPDATE SET spend_micros = spend_micros + excluded.spend_micros`,
			k.key, k.month, spend[k]); err != nil {
			return err
		}
	}
	for _, key := range sortedKeys(lastUsed) {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ?
			WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, lastUsed[key], key, lastUsed[key]); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (s *Store) UsageRecord(ctx context.Context, accountID, requestID string) (*control.UsageRecord, error) {
	var r control.UsageRecord
	var started, received int64
	var tags sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT `+usageColumns+` FROM usage_records
		WHERE request_id = ? AND account_id = ?`, requestID, accountID).Scan(
		&r.RequestID, &r.AccountID, &r.KeyID, &started, &r.Endpoint, &r.Model, &r.ServedModel, &r.Provider, &r.Stream,
		&r.Status, &r.ErrorType, &r.FinishReason, &r.InputTokens, &r.CachedInputTokens, &r.CacheWriteTokens,
		&r.OutputTokens, &r.ReasoningTokens, &r.Estimated, &r.LatencyMs, &r.TTFBMs, &r.Attempts, &tags,
		&r.EdgeCostMicros, &r.CostMicros, &r.PricedBy, &r.EdgeID, &r.IngestID, &received)
	if err != nil {
		return nil, notFound(err, "usage record")
	}
	r.StartedAt, r.ReceivedAt = fromMs(started), fromMs(received)
	if tags.Valid {
		if err := json.Unmarshal([]byte(tags.String), &r.Tags); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

const dayMs = 24 * 60 * 60 * 1000

func (s *Store) UsageAggregates(ctx context.Context, q control.UsageQuery) ([]control.UsageAggregate, error) {
	if wholeDays(q.From) && wholeDays(q.To) {
		return s.dailyAggregates(ctx, q)
	}
	// Records past the retention period live on as daily rollups
	// (usage_rollups, per account, day, model and key); a report reads
	// both, so older days keep their totals. Rolled-up days are whole: a
	// range that covers part of one includes all of it.
	var group, rgroup string
	switch q.GroupBy {
	case control.GroupByDay:
		group = fmt.Sprintf("started_at / %d", dayMs)
		rgroup = "CAST(strftime('%s', day) AS INTEGER) / 86400"
	case control.GroupByModel:
		group = "CASE WHEN served_model <> '' THEN served_model ELSE model END"
		rgroup = "model"
	case control.GroupByKey:
		group = "key_id"
		rgroup = "key_id"
	default:
		return nil, control.Errorf(control.EINVALID, "unknown grouping")
	}
	where := "started_at >= ? AND started_at < ?"
	rwhere := "CAST(strftime('%s', day) AS INTEGER) * 1000 + 86400000 > ? AND CAST(strftime('%s', day) AS INTEGER) * 1000 < ?"
	args := []any{ms(q.From), ms(q.To)}
	if q.AccountID != "" {
		where = "account_id = ? AND " + where
		rwhere = "account_id = ? AND " + rwhere
		args = append([]any{q.AccountID}, args...)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT g, sum(n), sum(i), sum(ci), sum(cw), sum(o), sum(r), sum(c) FROM (
			SELECT `+group+` AS g, count(*) AS n, sum(input_tokens) AS i, sum(cached_input_tokens) AS ci,
				sum(cache_write_tokens) AS cw, sum(output_tokens) AS o, sum(reasoning_tokens) AS r, sum(cost_micros) AS c
			FROM usage_records WHERE `+where+` GROUP BY g
			UNION ALL
			SELECT `+rgroup+` AS g, sum(requests), sum(input_tokens), sum(cached_input_tokens),
				sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), sum(cost_micros)
			FROM usage_rollups WHERE `+rwhere+` GROUP BY g
		) GROUP BY g ORDER BY g`, append(args, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []control.UsageAggregate{}
	for rows.Next() {
		var a control.UsageAggregate
		var g any
		if err := rows.Scan(&g, &a.Requests, &a.InputTokens, &a.CachedInputTokens, &a.CacheWriteTokens,
			&a.OutputTokens, &a.ReasoningTokens, &a.CostMicros); err != nil {
			return nil, err
		}
		switch v := g.(type) {
		case int64:
			a.Group = time.UnixMilli(v * dayMs).UTC().Format("2006-01-02")
		case string:
			a.Group = v
		case []byte:
			a.Group = string(v)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// wholeDays reports whether t is a UTC midnight.
func wholeDays(t time.Time) bool { return t.UnixMilli()%dayMs == 0 }

// dailyAggregates answers a report over whole UTC days from the daily
// totals and the rollups, without reading a record.
func (s *Store) dailyAggregates(ctx context.Context, q control.UsageQuery) ([]control.UsageAggregate, error) {
	var group string
	switch q.GroupBy {
	case control.GroupByDay:
		group = "day"
	case control.GroupByModel:
		group = "model"
	case control.GroupByKey:
		group = "key_id"
	default:
		return nil, control.Errorf(control.EINVALID, "unknown grouping")
	}
	where := "day BETWEEN ? AND ?"
	args := []any{q.From.UTC().Format(time.DateOnly), q.To.Add(-time.Millisecond).UTC().Format(time.DateOnly)}
	if q.AccountID != "" {
		where = "account_id = ? AND " + where
		args = append([]any{q.AccountID}, args...)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+group+`, sum(requests), sum(input_tokens), sum(cached_input_tokens),
			sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), sum(cost_micros)
		FROM (SELECT `+cellColumns+` FROM usage_daily WHERE `+where+`
			UNION ALL SELECT `+cellColumns+` FROM usage_rollups WHERE `+where+`)
		GROUP BY 1 ORDER BY 1`, append(args, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []control.UsageAggregate{}
	for rows.Next() {
		var a control.UsageAggregate
		if err := rows.Scan(&a.Group, &a.Requests, &a.InputTokens, &a.CachedInputTokens, &a.CacheWriteTokens,
			&a.OutputTokens, &a.ReasoningTokens, &a.CostMicros); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UsageCells sums the account's usage per day, model and key over the
// UTC days that [from, to) touches, whole, from the daily totals of live
// records and the rollups of expired ones: a few rows per day, however many
// requests the days saw.
func (s *Store) UsageCells(ctx context.Context, accountID string, from, to time.Time) ([]control.UsageCell, error) {
	first, last := from.UTC().Format(time.DateOnly), to.Add(-time.Millisecond).UTC().Format(time.DateOnly)
	rows, err := s.db.QueryContext(ctx, `SELECT day, model, key_id, sum(requests), sum(input_tokens),
			sum(cached_input_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), sum(cost_micros)
		FROM (
			SELECT `+cellColumns+` FROM usage_daily WHERE account_id = ? AND day BETWEEN ? AND ?
			UNION ALL
			SELECT `+cellColumns+` FROM usage_rollups WHERE account_id = ? AND day BETWEEN ? AND ?
		) GROUP BY day, model, key_id ORDER BY day, model, key_id`, accountID, first, last, accountID, first, last)
	if err != nil {
		return nil, err
	}
	cells, err := scanCells(rows, false)
	if err != nil {
		return nil, err
	}
	out := make([]control.UsageCell, len(cells))
	for i := range cells {
		out[i] = cells[i].UsageCell
	}
	return out, nil
}
