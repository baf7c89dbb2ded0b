-- Daily totals of the live usage records, per account, day, model and key,
-- kept by ingestion in the same transaction that inserts the records (and
-- taken away again when retention or an account's closure turns records
-- into usage_rollups). A usage page then sums a few hundred rows instead
-- of grouping every record of its range: with 10,000 records in range the
-- grouped scan was 90% of the page's time.
--
-- Invariant (controltest.Audit checks it): for every account that is not
-- closed, usage_daily equals the records grouped by account_id, the UTC
-- day of started_at, the served model (else the requested one) and key_id.
CREATE TABLE usage_daily (
    account_id          TEXT NOT NULL,
    day                 TEXT NOT NULL, -- '2006-01-02', UTC, of started_at
    model               TEXT NOT NULL, -- served model, else requested
    key_id              TEXT NOT NULL,
    requests            INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    cost_micros         INTEGER NOT NULL,
    PRIMARY KEY (account_id, day, model, key_id)
) WITHOUT ROWID;

INSERT INTO usage_daily (account_id, day, model, key_id, requests, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, reasoning_tokens, cost_micros)
    SELECT account_id, strftime('%Y-%m-%d', started_at / 1000, 'unixepoch'),
        CASE WHEN served_model <> '' THEN served_model ELSE model END, key_id, count(*), sum(input_tokens),
        sum(cached_input_tokens), sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), sum(cost_micros)
    FROM usage_records GROUP BY 1, 2, 3, 4;
