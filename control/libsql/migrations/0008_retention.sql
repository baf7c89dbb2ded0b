-- Retention (control/retention.go): what the job needs to find expired
-- rows cheaply, keep invoice figures once usage rows are gone, remember
-- which closed accounts it erased, and run on one replica at a time.

-- Usage rows expire by when they were received: every record of one
-- ingestion shares received_at, so deleting by it removes whole
-- ingestions, and each usage ledger entry is matched either by its
-- records or by the rollups below, never half by each. Rows arrive in
-- received_at order, so the index is appended to, not scattered.
CREATE INDEX usage_received ON usage_records (received_at);

-- Daily totals per account, model and key of the usage rows the job
-- deleted: what invoices and the books need, with no request-level detail
-- (no request id, time of day, status, latency, provider or tags).
CREATE TABLE usage_rollups (
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

-- Closed accounts whose data the job erased. The account row stays as a
-- tombstone without personal data, because the append-only ledger (an
-- accounting record) refers to it.
CREATE TABLE account_erasures (
    account_id TEXT PRIMARY KEY,
    closed_at  INTEGER NOT NULL,
    erased_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- A lease per background job, so that of several replicas one runs it.
CREATE TABLE job_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
