package controlclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/worker"
)

// The resolver's defaults: a revoked key stops working within DefaultTTL,
// and a snapshot serves stale for DefaultStaleFor while control is away.
const (
	DefaultTTL      = 30 * time.Second
	DefaultStaleFor = time.Hour
)

// ResolverOptions tune the key cache.
type ResolverOptions struct {
	// TTL is how long a snapshot is served before it is fetched again; it
	// bounds how long a revoked key keeps working at this edge while the
	// control service is reachable. Default 30s.
	TTL time.Duration
	// StaleFor is how long past its TTL a snapshot may still be served while
	// the control service cannot be reached. Default 1h.
	StaleFor time.Duration
	// NegativeTTL is how long an unknown key is remembered as unknown, so a
	// flood of bad keys does not reach the control service. Refused keys
	// (revoked, expired, suspended) are remembered as long. Default 10s.
	NegativeTTL time.Duration
	// FetchTimeout bounds one lookup at the control service. Default 5s.
	FetchTimeout time.Duration
	// MaxEntries bounds the cache. When it is full, answers past their
	// serving life and negative answers go first, then random others.
	// Default 100,000.
	MaxEntries int
	// Store is a second cache level shared beyond this process (Workers KV
	// across a colo's isolates), consulted before the control service and
	// filled after it answers. A snapshot from it is served like one from
	// memory: fresh for TTL, and stale for StaleFor while the control
	// service cannot be reached. Default none.
	Store SnapshotStore
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// SnapshotStore keeps key snapshots by the hex SHA-256 of the key's secret,
// with the time the control service gave them out. Implementations may
// lose entries at any time; errors are theirs to log and count as misses.
type SnapshotStore interface {
	Get(ctx context.Context, hash string) (snap *edgeapi.KeySnapshot, fetchedAt time.Time, ok bool)
	Put(ctx context.Context, hash string, snap *edgeapi.KeySnapshot, fetchedAt time.Time)
}

// Resolver resolves keys through the control service with a cache. It is
// safe for concurrent use.
//
// While the control service answers, a snapshot older than TTL is fetched
// again before it is used, so a revocation takes effect within TTL. Once a
// lookup has failed, expired snapshots are served at once while the next
// lookup runs in the background, so an unreachable or hung control service
// costs each request nothing beyond what it already cost the first.
type Resolver struct {
	conn *Conn
	opt  ResolverOptions
	// failing is set while the last finished lookup failed.
	failing atomic.Bool

	mu       sync.RWMutex
	entries  map[[32]byte]*entry
	inflight map[[32]byte]*fetch
}

var _ worker.KeyResolver = (*Resolver)(nil)

type entry struct {
	key       *worker.Key // nil for a refused or unknown key
	err       error
	fetchedAt time.Time
}

type fetch struct {
	done chan struct{}
	e    *entry
	err  error
}

// NewResolver returns a resolver; it does no I/O.
func NewResolver(conn *Conn, opt ResolverOptions) *Resolver {
	if opt.TTL == 0 {
		opt.TTL = DefaultTTL
	}
	if opt.StaleFor == 0 {
		opt.StaleFor = DefaultStaleFor
	}
	if opt.NegativeTTL == 0 {
		opt.NegativeTTL = 10 * time.Second
	}
	if opt.FetchTimeout == 0 {
		opt.FetchTimeout = 5 * time.Second
	}
	if opt.MaxEntries == 0 {
		opt.MaxEntries = 100_000
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Resolver{conn: conn, opt: opt, entries: make(map[[32]byte]*entry), inflight: make(map[[32]byte]*fetch)}
}

// ErrControlUnavailable is returned for a key the edge has never seen while
// the control service cannot be reached.
var ErrControlUnavailable = errors.New("control service unavailable and key not cached")

// Resolve returns the key for secret from the cache while it is fresh, asks
// the control service otherwise, and serves a stale snapshot when the
// control service is away.
func (r *Resolver) Resolve(ctx context.Context, secret string) (*worker.Key, error) {
	// Hashing from a stack buffer spares the request path the allocation
	// []byte(secret) makes for secrets longer than 32 bytes.
	var buf [128]byte
	h := sha256.Sum256(append(buf[:0], secret...))
	now := r.opt.Now()
	r.mu.RLock()
	e := r.entries[h]
	r.mu.RUnlock()
	if e != nil && r.fresh(e, now) {
		return e.key, e.err
	}
	// While control is away, a stale positive answer beats refusing a
	// paying client; a stale negative one is still the best we know.
	stale := e != nil && now.Sub(e.fetchedAt) < r.opt.TTL+r.opt.StaleFor
	if stale && r.failing.Load() {
		r.refresh(ctx, h)
		return e.key, e.err
	}
	f := r.refresh(ctx, h)
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if f.err == nil {
		return f.e.key, f.e.err
	}
	if stale {
		return e.key, e.err
	}
	if f.e != nil { // stale, from the shared store
		return f.e.key, f.e.err
	}
	return nil, fmt.Errorf("%w: %w", ErrControlUnavailable, f.err)
}

func (r *Resolver) fresh(e *entry, now time.Time) bool {
	ttl := r.opt.TTL
	if e.key == nil {
		ttl = r.opt.NegativeTTL
	}
	return now.Sub(e.fetchedAt) < ttl
}

// refresh returns the lookup of one key in flight, starting it if there is
// none, so concurrent requests for a key share one call. The lookup runs
// apart from any caller, which waits for it only as long as its own
// context allows: the caller that started it going away must not fail the
// others. It keeps the values of the starting caller's context (a platform
// adapter's I/O route), not its cancellation.
func (r *Resolver) refresh(ctx context.Context, h [32]byte) *fetch {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.inflight[h]; ok {
		return f
	}
	f := &fetch{done: make(chan struct{})}
	r.inflight[h] = f
	go r.run(context.WithoutCancel(ctx), h, f)
	return f
}

func (r *Resolver) run(parent context.Context, h [32]byte, f *fetch) {
	ctx, cancel := context.WithTimeout(parent, r.opt.FetchTimeout)
	f.e, f.err = r.load(ctx, h)
	cancel()
	r.failing.Store(f.err != nil)
	r.mu.Lock()
	delete(r.inflight, h)
	if f.e != nil {
		if _, known := r.entries[h]; !known && len(r.entries) >= r.opt.MaxEntries {
			r.evict(f.e.fetchedAt)
		}
		r.entries[h] = f.e
	}
	r.mu.Unlock()
	close(f.done)
}

// evict makes room in a full cache: first answers too old to serve even
// stale, and negative answers, which are cheap to ask again; then random
// entries, down to nine tenths, so sweeps stay rare. The caller holds mu.
func (r *Resolver) evict(now time.Time) {
	for h, e := range r.entries {
		if e.key == nil || now.Sub(e.fetchedAt) >= r.opt.TTL+r.opt.StaleFor {
			delete(r.entries, h)
		}
	}
	for h := range r.entries {
		if len(r.entries) < r.opt.MaxEntries*9/10 {
			break
		}
		delete(r.entries, h)
	}
}

// load asks the shared store, then the control service. When the control
// service fails, it returns the error together with the store's snapshot if
// that is young enough to serve stale, nil otherwise.
func (r *Resolver) load(ctx context.Context, h [32]byte) (*entry, error) {
	hash := hex.EncodeToString(h[:])
	var kept *entry
	if r.opt.Store != nil {
		if snap, at, ok := r.opt.Store.Get(ctx, hash); ok {
			now := r.opt.Now()
			k, kerr := keyFromSnapshot(snap, now)
			kept = &entry{key: k, err: kerr, fetchedAt: at}
			if age := now.Sub(at); age >= 0 && age < r.opt.TTL {
				return kept, nil
			}
		}
	}
	snap, err := r.conn.Snapshot(ctx, hash)
	now := r.opt.Now()
	var se *StatusError
	switch {
	case errors.As(err, &se) && se.Status == http.StatusNotFound:
		return &entry{err: worker.ErrUnknownKey, fetchedAt: now}, nil
	case err != nil:
		if kept != nil && now.Sub(kept.fetchedAt) < r.opt.TTL+r.opt.StaleFor {
			return kept, err
		}
		return nil, err
	}
	if r.opt.Store != nil {
		r.opt.Store.Put(ctx, hash, snap, now)
	}
	k, kerr := keyFromSnapshot(snap, now)
	return &entry{key: k, err: kerr, fetchedAt: now}, nil
}

// keyFromSnapshot turns a snapshot into the gateway's view of the key.
func keyFromSnapshot(s *edgeapi.KeySnapshot, now time.Time) (*worker.Key, error) {
	switch {
	case s.Status == edgeapi.KeyRevoked:
		return nil, worker.ErrKeyRevoked
	case s.Status == edgeapi.KeyExpired || (s.ExpiresAt != nil && !now.Before(*s.ExpiresAt)):
		return nil, worker.ErrKeyExpired
	case s.Status != edgeapi.KeyActive:
		return nil, worker.ErrKeySuspended
	}
	return &worker.Key{
		ID:            s.KeyID,
		AccountID:     s.AccountID,
		AllowedModels: s.AllowedModels,
		Limits: worker.KeyLimits{
			RequestsPerMinute:     s.Limits.RequestsPerMinute,
			TokensPerMinute:       s.Limits.TokensPerMinute,
			MonthlySpendCapMicros: s.Limits.MonthlySpendCapMicros,
		},
		BalanceExhausted: s.Balance == edgeapi.BalanceExhausted,
		MonthSpendMicros: s.MonthSpendMicros,
		PluginHash:       s.PluginHash,
		PluginFailClosed: s.PluginFail == abi.FailClosed,
		PluginHeaders:    s.PluginHeaders,
		PluginBody:       s.PluginBody,
		ExpiresAt:        s.ExpiresAt,
	}, nil
}
