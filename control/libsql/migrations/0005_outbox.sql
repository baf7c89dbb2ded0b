-- The email outbox: billing emails are written here (idempotently, by
-- dedupe key) and sent by whichever replica's sender leases them first.
-- Rows are kept after sending, and failed ones for the operator.
-- No foreign key to accounts: an email outlives nothing it refers to, and
-- a constraint would stand in the way of deleting a closed account.

CREATE TABLE email_outbox (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL DEFAULT '',
    dedupe_key      TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- queued: when to try next; sending: when the lease runs out.
    next_attempt_at INTEGER NOT NULL,
    -- The lease holder while sending, so that a sender whose lease ran
    -- out cannot overwrite what the next holder recorded.
    claim           TEXT,
    -- A failure class ("connect", "recipient", ...), never server text.
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at) WHERE status IN ('queued', 'sending');
CREATE INDEX email_outbox_status ON email_outbox (status, created_at);
CREATE INDEX email_outbox_account ON email_outbox (account_id, created_at);
