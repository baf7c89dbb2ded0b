package controlclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/worker"
)

// ResolverOptions tune the key cache.
type ResolverOptions struct {
	// TTL is how long a snapshot is served before it is fetched again; it
	// bounds how long a revoked key keeps working at this edge. Default 30s.
	TTL time.Duration
	// StaleFor is how long past its TTL a snapshot may still be served while
	// the control service cannot be reached. Default 1h.
	StaleFor time.Duration
	// NegativeTTL is how long an unknown key is remembered as unknown, so a
	// flood of bad keys does not reach the control service. Default 10s.
	NegativeTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Resolver resolves keys through the control service with a cache. It is
// safe for concurrent use.
type Resolver struct {
	conn *Conn
	opt  ResolverOptions

	mu       sync.RWMutex
	entries  map[[32]byte]*entry
	inflight map[[32]byte]*fetch
}

var _ worker.KeyResolver = (*Resolver)(nil)

type entry struct {
	key       *worker.Key // nil for a known-unknown key
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
		opt.TTL = 30 * time.Second
	}
	if opt.StaleFor == 0 {
		opt.StaleFor = time.Hour
	}
	if opt.NegativeTTL == 0 {
		opt.NegativeTTL = 10 * time.Second
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
	h := sha256.Sum256([]byte(secret))
	now := r.opt.Now()
	r.mu.RLock()
	e := r.entries[h]
	r.mu.RUnlock()
	if e != nil && r.fresh(e, now) {
		return e.key, e.err
	}
	fresh, err := r.refresh(ctx, h)
	if err == nil {
		return fresh.key, fresh.err
	}
	// Control is unreachable: a stale positive answer beats refusing a
	// paying client; a stale negative one is still the best we know.
	if e != nil && now.Sub(e.fetchedAt) < r.opt.TTL+r.opt.StaleFor {
		return e.key, e.err
	}
	return nil, ErrControlUnavailable
}

func (r *Resolver) fresh(e *entry, now time.Time) bool {
	ttl := r.opt.TTL
	if e.key == nil {
		ttl = r.opt.NegativeTTL
	}
	return now.Sub(e.fetchedAt) < ttl
}

// refresh fetches one key, sharing the call among concurrent requests for
// the same key.
func (r *Resolver) refresh(ctx context.Context, h [32]byte) (*entry, error) {
	r.mu.Lock()
	if f, ok := r.inflight[h]; ok {
		r.mu.Unlock()
		select {
		case <-f.done:
			return f.e, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &fetch{done: make(chan struct{})}
	r.inflight[h] = f
	r.mu.Unlock()

	f.e, f.err = r.load(ctx, h)
	r.mu.Lock()
	delete(r.inflight, h)
	if f.err == nil {
		r.entries[h] = f.e
	}
	r.mu.Unlock()
	close(f.done)
	return f.e, f.err
}

func (r *Resolver) load(ctx context.Context, h [32]byte) (*entry, error) {
	snap, err := r.conn.Snapshot(ctx, hex.EncodeToString(h[:]))
	now := r.opt.Now()
	var se *StatusError
	switch {
	case errors.As(err, &se) && se.Status == http.StatusNotFound:
		return &entry{err: worker.ErrUnknownKey, fetchedAt: now}, nil
	case err != nil:
		return nil, err
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
		ExpiresAt:        s.ExpiresAt,
	}, nil
}
