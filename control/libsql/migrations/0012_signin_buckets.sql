-- Failed sign-ins, counted in the database so that every control replica
-- refuses the same guessing (control/abuse.go). One token bucket per key:
-- "addr:<client address>" or "email:<keyed hash of the address>", never
-- the email itself. A row whose bucket has refilled says nothing and is
-- deleted (by last) as failures are charged.
CREATE TABLE signin_buckets (
    key  TEXT PRIMARY KEY,
    left REAL NOT NULL,    -- failures still allowed, at last
    last INTEGER NOT NULL  -- unix ms of the last failure
) WITHOUT ROWID;
CREATE INDEX signin_buckets_last ON signin_buckets (last);
