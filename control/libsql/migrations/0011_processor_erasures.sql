-- Payment-processor customers of closed accounts, waiting to be deleted at
-- the processor (Stripe keeps the customer's email and saved cards until
-- then). Closing an account queues its customer here in the closing
-- transaction; the service deletes it at once when it can, and the
-- retention job retries what failed. No account id: the customer id is
-- all the deletion needs, and the row goes when it is done.
CREATE TABLE processor_erasures (
    customer_id TEXT PRIMARY KEY,
    queued_at   INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    -- A failure class ("unavailable", "internal"), never the processor's text.
    last_error  TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
