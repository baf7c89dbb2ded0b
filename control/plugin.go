package control

import "time"

// Plugin is a tenant's routing module (WebAssembly), addressed by the hex
// SHA-256 of its bytes. At most one plugin per account is active; the edge
// learns its hash from key snapshots and fetches the bytes by that hash.
type Plugin struct {
	ID        string    `json:"id"`
	AccountID string    `json:"account_id"`
	Hash      string    `json:"hash"`
	Size      int       `json:"size"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

// maxPluginSize bounds a stored module. The edge enforces its own, smaller
// caps per runtime; this one only protects the database.
const maxPluginSize = 16 << 20
