// Package pluginrun runs tenants' routing plugins at the edge. It is the
// worker.Plugins the edge mains plug in: it fetches a module by content
// hash (from the control service), loads it into a plugins/host.Host once,
// keeps the most recently used modules loaded, and turns the host's
// failures into worker.PluginError kinds.
//
// The gateway core stays free of the host (and of wazero) this way; only
// the mains and tests import this package.
package pluginrun

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
	"github.com/switchyard-ai/switchyard/worker"
)

// Fetcher gets a module's bytes by the hex SHA-256 of its content.
// *controlclient.Conn is one.
type Fetcher interface {
	Plugin(ctx context.Context, hash string) ([]byte, error)
}

// Options tune a Runner. The zero value is usable; each field's default is
// stated beside it.
type Options struct {
	// MaxLoaded bounds the modules kept compiled; beyond it the least
	// recently used is released. A compiled Go plugin can hold tens of
	// megabytes. Default 32.
	MaxLoaded int
	// FetchTimeout bounds fetching and compiling a module this edge does
	// not hold yet. Requests wait for it at most as long as they wait for
	// anything else. Default 10s.
	FetchTimeout time.Duration
	// RetryAfter is how long a module that could not be fetched or loaded
	// is not tried again; meanwhile its requests fail at once and fall
	// under their fail policy. Default 30s.
	RetryAfter time.Duration
	// Logger receives load failures, with the hash. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Runner is a worker.Plugins over a host. It is safe for concurrent use.
type Runner struct {
	host  *host.Host
	fetch Fetcher
	opt   Options

	mu      sync.Mutex
	entries map[string]*entry
	// recent orders settled entries, most recently used first.
	recent *list.List
}

var _ worker.Plugins = (*Runner)(nil)

// entry is one module: loading until ready is closed, then loaded (p) or
// failed (err).
type entry struct {
	hash     string
	ready    chan struct{}
	p        *host.Plugin
	err      error
	failedAt time.Time
	elem     *list.Element
	// calls in flight; an evicted plugin is closed when the last ends.
	calls   int
	evicted bool
	// sawBody holds the tenants whose instances of the module have been
	// given a request body: their log lines are dropped from then on,
	// since instances may keep what they read. Guarded by Runner.mu.
	sawBody map[string]bool
}

// New returns a runner that loads modules from fetch into h. It does no
// I/O. The caller keeps h and closes it after the runner.
func New(h *host.Host, fetch Fetcher, opt Options) *Runner {
	if opt.MaxLoaded <= 0 {
		opt.MaxLoaded = 32
	}
	if opt.FetchTimeout <= 0 {
		opt.FetchTimeout = 10 * time.Second
	}
	if opt.RetryAfter <= 0 {
		opt.RetryAfter = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Runner{host: h, fetch: fetch, opt: opt, entries: map[string]*entry{}, recent: list.New()}
}

// Route runs the plugin with hash for tenant.
//
// Once a call of tenant has carried a request body, the plugin's log lines
// for tenant (this call's and later ones', while the module stays loaded)
// are marked in the context the host logs with, and a host logger made by
// [LogHandler] drops them.
//
// # Errors
//
// A *worker.PluginError: Kind worker.PluginUnavailable when the module
// cannot be had, the host's CallError kind (trap, timeout, memory…) when
// the call fails. Other failures carry no kind.
func (r *Runner) Route(ctx context.Context, hash, tenant string, req *abi.RouteRequest) (*abi.RouteDecision, error) {
	e, err := r.acquire(ctx, hash)
	if err != nil {
		return nil, &worker.PluginError{Kind: worker.PluginUnavailable, Err: err}
	}
	defer r.release(e)
	if r.silenced(e, tenant, req.Body != nil) {
		ctx = context.WithValue(ctx, silentKey{}, true)
	}
	d, err := e.p.Route(ctx, tenant, req)
	var ce *host.CallError
	if errors.As(err, &ce) {
		return nil, &worker.PluginError{Kind: ce.Kind, Err: err}
	}
	return d, err
}

// acquire returns the loaded entry for hash, loading it if need be, and
// counts the caller's call.
func (r *Runner) acquire(ctx context.Context, hash string) (*entry, error) {
	for {
		r.mu.Lock()
		e := r.entries[hash]
		if e == nil {
			e = &entry{hash: hash, ready: make(chan struct{})}
			r.entries[hash] = e
			// The load outlives the request that started it: others wait
			// for the same module. It keeps the request's values (a
			// platform adapter's I/O route) but not its cancellation.
			go r.load(context.WithoutCancel(ctx), e)
		}
		select {
		case <-e.ready:
			switch {
			case e.err == nil:
				r.recent.MoveToFront(e.elem)
				e.calls++
				r.mu.Unlock()
				return e, nil
			case r.opt.Now().Sub(e.failedAt) < r.opt.RetryAfter:
				r.mu.Unlock()
				return nil, e.err
			}
			r.drop(e)
			r.mu.Unlock()
			continue
		default:
		}
		r.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// silenced records that tenant's instances of e got a body, when body, and
// reports whether tenant's log lines from e are to be dropped.
func (r *Runner) silenced(e *entry, tenant string, body bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if body && !e.sawBody[tenant] {
		if e.sawBody == nil {
			e.sawBody = map[string]bool{}
		}
		e.sawBody[tenant] = true
	}
	return e.sawBody[tenant]
}

func (r *Runner) release(e *entry) {
	r.mu.Lock()
	e.calls--
	closeNow := e.evicted && e.calls == 0
	r.mu.Unlock()
	if closeNow {
		_ = e.p.Close(context.Background())
	}
}

func (r *Runner) load(parent context.Context, e *entry) {
	ctx, cancel := context.WithTimeout(parent, r.opt.FetchTimeout)
	defer cancel()
	p, err := r.fetchAndLoad(ctx, e.hash)
	if err != nil {
		r.opt.Logger.Warn("plugin unavailable", "plugin", e.hash, "err", err.Error(), "retry_in", r.opt.RetryAfter.String())
	}
	r.mu.Lock()
	e.p, e.err = p, err
	if err != nil {
		e.failedAt = r.opt.Now()
	}
	e.elem = r.recent.PushFront(e)
	var evicted []*host.Plugin
	for r.recent.Len() > r.opt.MaxLoaded {
		if old := r.drop(r.recent.Back().Value.(*entry)); old != nil {
			evicted = append(evicted, old)
		}
	}
	close(e.ready)
	r.mu.Unlock()
	for _, old := range evicted {
		_ = old.Close(context.Background())
	}
}

func (r *Runner) fetchAndLoad(ctx context.Context, hash string) (*host.Plugin, error) {
	wasm, err := r.fetch.Plugin(ctx, hash)
	if err != nil {
		return nil, fmt.Errorf("fetching the module: %w", err)
	}
	p, err := r.host.Load(ctx, wasm)
	if err != nil {
		return nil, err
	}
	if p.Hash() != hash {
		_ = p.Close(ctx)
		return nil, errors.New("the module fetched does not have the hash asked for")
	}
	return p, nil
}

// drop forgets a settled entry and returns its plugin when it is to be
// closed now; a plugin with calls in flight is closed by the last of them.
// The caller holds mu.
func (r *Runner) drop(e *entry) *host.Plugin {
	delete(r.entries, e.hash)
	r.recent.Remove(e.elem)
	if e.p == nil {
		return nil
	}
	e.evicted = true
	if e.calls > 0 {
		return nil
	}
	return e.p
}

// Close releases every loaded module. Calls in flight finish first; the
// runner must not be used afterwards.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	var ps []*host.Plugin
	for _, e := range r.entries {
		select {
		case <-e.ready:
			if p := r.drop(e); p != nil {
				ps = append(ps, p)
			}
		default:
		}
	}
	r.mu.Unlock()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Close(ctx))
	}
	return errors.Join(errs...)
}

// silentKey marks the context of a plugin call whose log lines must not be
// written.
type silentKey struct{}

// LogHandler wraps the handler a host's Config.Logger writes plugin log
// lines (sy.log) to, so that lines of calls Route marks are dropped: those
// of plugins that have seen request content, which must never reach the
// operator's log. The host passes its call's context to the logger, and
// asks Enabled first, so dropped lines do not count against the plugin's
// rate either.
func LogHandler(h slog.Handler) slog.Handler { return silencing{h} }

type silencing struct{ slog.Handler }

func (s silencing) Enabled(ctx context.Context, l slog.Level) bool {
	return ctx.Value(silentKey{}) == nil && s.Handler.Enabled(ctx, l)
}

func (s silencing) Handle(ctx context.Context, rec slog.Record) error {
	if ctx.Value(silentKey{}) != nil {
		return nil
	}
	return s.Handler.Handle(ctx, rec)
}

func (s silencing) WithAttrs(attrs []slog.Attr) slog.Handler {
	return silencing{s.Handler.WithAttrs(attrs)}
}

func (s silencing) WithGroup(name string) slog.Handler { return silencing{s.Handler.WithGroup(name)} }
