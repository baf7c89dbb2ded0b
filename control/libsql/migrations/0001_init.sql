-- Times are Unix milliseconds (UTC); money is integer micro-dollars.

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    email           TEXT NOT NULL UNIQUE,
    company         TEXT NOT NULL DEFAULT '',
    billing_address TEXT NOT NULL DEFAULT '',
    phone           TEXT NOT NULL DEFAULT '',
    password_hash   TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    -- The sum of the account's ledger entries, kept in step by every
    -- transaction that appends one.
    balance_micros  INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);

-- Sessions and management tokens, by the SHA-256 of their secret.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind       TEXT NOT NULL CHECK (kind IN ('session', 'management')),
    name       TEXT NOT NULL DEFAULT '',
    prefix     TEXT NOT NULL DEFAULT '',
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX tokens_account ON tokens (account_id, kind);

CREATE TABLE api_keys (
    id                       TEXT PRIMARY KEY,
    account_id               TEXT NOT NULL REFERENCES accounts (id),
    name                     TEXT NOT NULL,
    prefix                   TEXT NOT NULL,
    hash                     TEXT NOT NULL UNIQUE,
    status                   TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    requests_per_minute      INTEGER NOT NULL DEFAULT 0,
    tokens_per_minute        INTEGER NOT NULL DEFAULT 0,
    monthly_spend_cap_micros INTEGER NOT NULL DEFAULT 0,
    allowed_models           TEXT NOT NULL DEFAULT '[]', -- JSON array
    expires_at               INTEGER,
    created_at               INTEGER NOT NULL,
    revoked_at               INTEGER,
    last_used_at             INTEGER
);
CREATE INDEX api_keys_account ON api_keys (account_id);

-- Spend per key and UTC calendar month ('2006-01'), kept by ingestion so a
-- key snapshot reads one row instead of summing usage.
CREATE TABLE key_spend (
    key_id       TEXT NOT NULL REFERENCES api_keys (id),
    month        TEXT NOT NULL,
    spend_micros INTEGER NOT NULL,
    PRIMARY KEY (key_id, month)
) WITHOUT ROWID;

CREATE TABLE catalog_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO catalog_state (id, version, updated_at) VALUES (1, 0, 0);

CREATE TABLE models (
    id                 TEXT PRIMARY KEY,
    provider           TEXT NOT NULL,
    upstream           TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('chat', 'embedding')),
    context_length     INTEGER NOT NULL DEFAULT 0,
    input_price        INTEGER NOT NULL,
    output_price       INTEGER NOT NULL,
    cached_input_price INTEGER NOT NULL DEFAULT 0,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE ledger_entries (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id           TEXT NOT NULL REFERENCES accounts (id),
    kind                 TEXT NOT NULL CHECK (kind IN ('topup', 'usage', 'refund', 'adjustment')),
    amount_micros        INTEGER NOT NULL,
    balance_after_micros INTEGER NOT NULL,
    ref                  TEXT,
    note                 TEXT NOT NULL DEFAULT '',
    created_at           INTEGER NOT NULL
);
CREATE INDEX ledger_account ON ledger_entries (account_id, id);
CREATE UNIQUE INDEX ledger_ref ON ledger_entries (account_id, kind, ref) WHERE ref IS NOT NULL;
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append-only');
END;

-- One row per request, metadata only. No foreign keys: ingestion checks the
-- key itself, and each constraint would cost a lookup per row on the
-- hottest write path.
CREATE TABLE usage_records (
    id                  INTEGER PRIMARY KEY,
    request_id          TEXT NOT NULL UNIQUE,
    account_id          TEXT NOT NULL,
    key_id              TEXT NOT NULL,
    started_at          INTEGER NOT NULL,
    endpoint            TEXT NOT NULL,
    model               TEXT NOT NULL,
    served_model        TEXT NOT NULL,
    provider            TEXT NOT NULL,
    stream              INTEGER NOT NULL,
    status              INTEGER NOT NULL,
    error_type          TEXT NOT NULL,
    finish_reason       TEXT NOT NULL,
    input_tokens        INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    estimated           INTEGER NOT NULL,
    latency_ms          INTEGER NOT NULL,
    ttfb_ms             INTEGER NOT NULL,
    attempts            INTEGER NOT NULL,
    tags                TEXT, -- JSON object, NULL when none
    edge_cost_micros    INTEGER NOT NULL,
    cost_micros         INTEGER NOT NULL,
    priced_by           TEXT NOT NULL,
    edge_id             TEXT NOT NULL,
    ingest_id           TEXT NOT NULL,
    received_at         INTEGER NOT NULL
);
CREATE INDEX usage_account_time ON usage_records (account_id, started_at);

CREATE TABLE plugins (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    hash       TEXT NOT NULL,
    module     BLOB NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, hash)
);
CREATE INDEX plugins_hash ON plugins (hash);
CREATE UNIQUE INDEX plugins_active ON plugins (account_id) WHERE active = 1;
