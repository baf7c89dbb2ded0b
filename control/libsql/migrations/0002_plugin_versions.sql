-- Plugins get names and versions, a fail policy and the headers they may
-- see. A module's bytes are kept once per content hash, however many
-- versions or accounts upload them. Activation becomes a history per
-- account and per key, which rollbacks step back through.

CREATE TABLE plugin_modules (
    hash   TEXT PRIMARY KEY,
    module BLOB NOT NULL,
    size   INTEGER NOT NULL
);

CREATE TABLE plugin_versions (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    hash       TEXT NOT NULL REFERENCES plugin_modules (hash),
    fail       TEXT NOT NULL CHECK (fail IN ('open', 'closed')),
    headers    TEXT NOT NULL DEFAULT '[]', -- JSON array of lower-case names
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, name, version)
);

-- Append-only. The newest row of a scope (the account's, key_id '', or one
-- key's) says what runs there; plugin_id NULL means nothing, which for a
-- key means "follow the account". previous_id is the row a rollback
-- returns to.
CREATE TABLE plugin_activations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    key_id      TEXT NOT NULL DEFAULT '',
    plugin_id   TEXT REFERENCES plugin_versions (id),
    previous_id INTEGER REFERENCES plugin_activations (id),
    created_at  INTEGER NOT NULL
);
CREATE INDEX plugin_activations_scope ON plugin_activations (account_id, key_id, id);

INSERT INTO plugin_modules (hash, module, size)
    SELECT hash, module, length(module) FROM plugins GROUP BY hash;
INSERT INTO plugin_versions (id, account_id, name, version, hash, fail, headers, created_at)
    SELECT id, account_id, 'default', ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY created_at, id),
           hash, 'open', '[]', created_at
    FROM plugins;
INSERT INTO plugin_activations (account_id, key_id, plugin_id, created_at)
    SELECT account_id, '', id, created_at FROM plugins WHERE active = 1;
DROP TABLE plugins;
