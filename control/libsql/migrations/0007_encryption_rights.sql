-- Encryption at rest and data rights.
--
-- accounts.billing_address and accounts.phone hold values sealed with
-- AES-256-GCM by control.Keyring ("v1:<key id>:<base64url nonce|ct>"),
-- bound to the account id and the field. Rows written before hold plain
-- text until `switchyard admin rotate-key` seals them; reads accept both.
--
-- closed_at is set when the owner deletes the account: its profile is
-- blanked at once, the row stays (status 'suspended', so every status
-- check refuses it) as a tombstone the ledger refers to, and the
-- retention job erases what remains 12 months later.

ALTER TABLE accounts ADD COLUMN closed_at INTEGER;
CREATE INDEX accounts_closed ON accounts (closed_at) WHERE closed_at IS NOT NULL;
