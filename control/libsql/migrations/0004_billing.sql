-- Billing: each account's Stripe customer and auto top-up setting, payment
-- records, and the webhook events already applied.
--
-- payments and stripe_events have no foreign key to accounts: payment
-- records are kept 7 years (tax and accounting rules), longer than the
-- account data they belong to (12 months after closure), so closing or
-- deleting an account must neither erase them nor be blocked by them. The
-- retention job deletes payments and stripe_events 7 years after
-- created_at. billing_accounts is account data and goes with the account.

CREATE TABLE billing_accounts (
    account_id               TEXT PRIMARY KEY REFERENCES accounts (id),
    stripe_customer_id       TEXT UNIQUE,
    -- The card saved by a Checkout payment, for off-session charges.
    payment_method_id        TEXT NOT NULL DEFAULT '',
    auto_topup_enabled       INTEGER NOT NULL DEFAULT 0 CHECK (auto_topup_enabled IN (0, 1)),
    auto_topup_threshold     INTEGER NOT NULL DEFAULT 0,
    auto_topup_amount        INTEGER NOT NULL DEFAULT 0,
    auto_topup_attempted_at  INTEGER,
    -- Set when the last automatic attempt failed; automatic top-ups stay
    -- off until the setting is saved again or a payment succeeds.
    auto_topup_failed_at     INTEGER,
    -- 1 while the balance is below the low-balance threshold and the
    -- customer has been told, so the notice goes once per crossing.
    low_balance_notified     INTEGER NOT NULL DEFAULT 0 CHECK (low_balance_notified IN (0, 1)),
    -- Counts the crossings, so each warning has its own id.
    low_balance_crossings    INTEGER NOT NULL DEFAULT 0,
    updated_at               INTEGER NOT NULL
);

-- One row per Stripe PaymentIntent (or per automatic attempt that never
-- got one). Amounts in the processor's minor units (cents).
CREATE TABLE payments (
    id                         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id                 TEXT NOT NULL, -- '' when no account matched
    kind                       TEXT NOT NULL CHECK (kind IN ('checkout', 'auto_topup')),
    status                     TEXT NOT NULL
        CHECK (status IN ('pending', 'failed', 'succeeded', 'partially_refunded', 'refunded')),
    amount_cents               INTEGER NOT NULL,
    currency                   TEXT NOT NULL,
    refunded_cents             INTEGER NOT NULL DEFAULT 0,
    -- What the ledger was credited for the payment and debited for its
    -- refunds: money moves once the account is known, whatever the order
    -- the events came in.
    credited_micros            INTEGER NOT NULL DEFAULT 0,
    refunded_micros            INTEGER NOT NULL DEFAULT 0,
    stripe_payment_intent_id   TEXT UNIQUE,
    stripe_checkout_session_id TEXT,
    stripe_charge_id           TEXT,
    stripe_customer_id         TEXT NOT NULL DEFAULT '',
    failure_reason             TEXT NOT NULL DEFAULT '',
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL,
    succeeded_at               INTEGER
);
CREATE INDEX payments_account ON payments (account_id, id);
CREATE INDEX payments_created ON payments (created_at);

-- Every webhook event applied, written in the transaction that applied
-- it, so each takes effect once however often Stripe delivers it.
CREATE TABLE stripe_events (
    id                TEXT PRIMARY KEY,
    type              TEXT NOT NULL,
    -- applied, ignored or unknown_account (recorded and alarmed).
    outcome           TEXT NOT NULL,
    account_id        TEXT NOT NULL DEFAULT '',
    payment_intent_id TEXT NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    received_at       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX stripe_events_received ON stripe_events (received_at);
