package control

import "time"

// Ledger entry kinds.
const (
	LedgerTopUp      = "topup"
	LedgerUsage      = "usage"
	LedgerRefund     = "refund"
	LedgerAdjustment = "adjustment"
)

// LedgerEntry is one append-only movement of an account's credits. An
// account's balance is the sum of its entries; the account row caches it and
// each entry records the balance it left, both written in the entry's
// transaction.
type LedgerEntry struct {
	ID        int64  `json:"id"`
	AccountID string `json:"account_id"`
	Kind      string `json:"kind"`
	// AmountMicros is positive for credit, negative for debit.
	AmountMicros       int64 `json:"amount_micros"`
	BalanceAfterMicros int64 `json:"balance_after_micros"`
	// Ref makes an entry idempotent: at most one entry per account, kind
	// and ref. Usage entries carry the id of the ingestion that made them,
	// which every usage record of that ingestion also carries.
	Ref       string    `json:"ref,omitempty"`
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

const (
	maxNoteLen = 500
	maxRefLen  = 200
	// maxAdjustment bounds one manual movement to a billion dollars, so a
	// typo cannot overflow a balance.
	maxAdjustment = 1_000_000_000 * 1_000_000
)
