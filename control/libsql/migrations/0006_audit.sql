-- The audit and access log: who did what, when, from which address. Rows
-- are never updated (a trigger refuses it); the retention job deletes
-- them once they are older than the documented period. No foreign key to
-- accounts: the log outlives what it describes, and must not stand in the
-- way of erasing an account. Request content and secrets never reach it.

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    -- '' when no account is known (a sign-in for an unknown email).
    account_id  TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL CHECK (actor IN ('account', 'operator', 'system')),
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    client_ip   TEXT NOT NULL DEFAULT '',
    -- Cut to 200 bytes.
    user_agent  TEXT NOT NULL DEFAULT '',
    result      TEXT NOT NULL CHECK (result IN ('ok', 'denied', 'failed', 'throttled')),
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_account ON audit_log (account_id, id);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- The spend-anomaly check's setting and flag, per account; no row means
-- auto_suspend off and not flagged.
CREATE TABLE spend_guard (
    account_id   TEXT PRIMARY KEY,
    auto_suspend INTEGER NOT NULL DEFAULT 0,
    flagged_at   INTEGER,
    -- The amounts the rule compared, written by the service.
    flag_reason  TEXT NOT NULL DEFAULT '',
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;
