-- Email addresses sealed at rest (control/crypto.go). accounts.email then
-- holds a sealed value, which can neither be searched nor kept unique, so
-- the account is found by email_lookup: a keyed hash of the normalised
-- address, "<key id>:<base64url HMAC-SHA-256>" (Keyring.EmailKey). Rows
-- from before, and rows written without a keyring, keep a plain email and
-- no lookup until `admin rotate-key` seals them; lookups try both.
ALTER TABLE accounts ADD COLUMN email_lookup TEXT;
CREATE UNIQUE INDEX accounts_email_lookup ON accounts (email_lookup);
