package controlclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/controlclient"
	"github.com/switchyard-ai/switchyard/worker/edgehttp"
)

// newResolver resolves through ctl over real HTTP on a clock the test
// moves; opt's zero fields take their defaults.
func newResolver(ctl *edgetest.Control, up worker.Upstream, opt controlclient.ResolverOptions) (*controlclient.Resolver, *controltest.Clock) {
	clock := controltest.NewClock(time.Now())
	opt.Now = clock.Now
	if up == nil {
		up = edgehttp.NewClient()
	}
	return controlclient.NewResolver(ctl.Conn(up), opt), clock
}

const defaultTTL = 30 * time.Second

func TestResolverServesCacheWithinTTL(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, k, secret := tenantWithKey(t, ctl)
	r, clock := newResolver(ctl, nil, controlclient.ResolverOptions{})
	ctx := context.Background()

	got, err := r.Resolve(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || got.AccountID != k.AccountID {
		t.Fatalf("resolved %s/%s, want %s/%s", got.ID, got.AccountID, k.ID, k.AccountID)
	}
	for range 100 {
		if _, err := r.Resolve(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(defaultTTL - time.Nanosecond)
	if _, err := r.Resolve(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if n := ctl.KeyLookups(); n != 1 {
		t.Fatalf("control answered %d lookups within the TTL, want 1", n)
	}
	clock.Advance(time.Nanosecond)
	if _, err := r.Resolve(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if n := ctl.KeyLookups(); n != 2 {
		t.Fatalf("control answered %d lookups after the TTL, want 2", n)
	}
}

// TestResolverSnapshot checks how each kind of snapshot reaches the
// gateway: limits and restrictions carried over, refused states mapped to
// the gateway's errors.
func TestResolverSnapshot(t *testing.T) {
	ctl := edgetest.StartControl(t)
	tn, _, _ := tenantWithKey(t, ctl)
	broke := ctl.Signup(t, "broke@example.com")
	suspended := ctl.Signup(t, "suspended@example.com")
	suspended.Grant(t, 1_000_000)
	soon := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	limits := edgeapi.Limits{RequestsPerMinute: 7, TokensPerMinute: 7000, MonthlySpendCapMicros: 5_000_000}

	_, limited := tn.CreateKey(t, control.KeyCreate{Name: "limited", Limits: limits, AllowedModels: []string{"openai/gpt-4o-mini"}})
	_, expiring := tn.CreateKey(t, control.KeyCreate{Name: "expiring", ExpiresAt: &soon})
	revokedKey, revoked := tn.CreateKey(t, control.KeyCreate{Name: "revoked"})
	tn.Must(t, http.StatusOK, http.MethodPost, "/api/v1/keys/"+revokedKey.ID+"/revoke", nil, nil)
	_, brokeSecret := broke.CreateKey(t, control.KeyCreate{Name: "no credit"})
	_, suspendedSecret := suspended.CreateKey(t, control.KeyCreate{Name: "suspended"})
	if err := ctl.Service.SetAccountStatus(context.Background(), suspended.Account.ID, control.AccountSuspended); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		secret  string
		advance time.Duration // moves the edge's clock before resolving
		wantErr error
		check   func(t *testing.T, k *worker.Key)
	}{
		{name: "limits and allowed models", secret: limited, check: func(t *testing.T, k *worker.Key) {
			want := worker.KeyLimits{RequestsPerMinute: 7, TokensPerMinute: 7000, MonthlySpendCapMicros: 5_000_000}
			if k.Limits != want || !slices.Equal(k.AllowedModels, []string{"openai/gpt-4o-mini"}) || k.BalanceExhausted {
				t.Errorf("key = %+v", k)
			}
		}},
		{name: "expiry carried", secret: expiring, check: func(t *testing.T, k *worker.Key) {
			if k.ExpiresAt == nil || !k.ExpiresAt.Equal(soon) {
				t.Errorf("ExpiresAt = %v, want %v", k.ExpiresAt, soon)
			}
		}},
		{name: "expired by the edge's clock", secret: expiring, advance: 2 * time.Hour, wantErr: worker.ErrKeyExpired},
		{name: "revoked", secret: revoked, wantErr: worker.ErrKeyRevoked},
		{name: "no credit", secret: brokeSecret, check: func(t *testing.T, k *worker.Key) {
			if !k.BalanceExhausted {
				t.Error("an account without credit must be reported exhausted")
			}
		}},
		{name: "suspended account", secret: suspendedSecret, wantErr: worker.ErrKeySuspended},
		{name: "unknown", secret: "sk-sy-never-issued", wantErr: worker.ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, clock := newResolver(ctl, nil, controlclient.ResolverOptions{})
			clock.Advance(tc.advance)
			k, err := r.Resolve(context.Background(), tc.secret)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, k)
			}
		})
	}
}

func TestResolverRevocationTakesEffectAfterTTL(t *testing.T) {
	ctl := edgetest.StartControl(t)
	tn, k, secret := tenantWithKey(t, ctl)
	r, clock := newResolver(ctl, nil, controlclient.ResolverOptions{})
	ctx := context.Background()
	if _, err := r.Resolve(ctx, secret); err != nil {
		t.Fatal(err)
	}
	tn.Must(t, http.StatusOK, http.MethodPost, "/api/v1/keys/"+k.ID+"/revoke", nil, nil)

	// Within the TTL the edge still holds the active snapshot: the TTL is
	// the stated bound on how long a revoked key keeps working.
	clock.Advance(defaultTTL / 2)
	if _, err := r.Resolve(ctx, secret); err != nil {
		t.Fatalf("within the TTL: %v", err)
	}
	clock.Advance(defaultTTL / 2)
	if _, err := r.Resolve(ctx, secret); !errors.Is(err, worker.ErrKeyRevoked) {
		t.Fatalf("after the TTL: err = %v, want ErrKeyRevoked", err)
	}
}

func TestResolverRemembersUnknownKeys(t *testing.T) {
	ctl := edgetest.StartControl(t)
	tn, _, _ := tenantWithKey(t, ctl)
	r, clock := newResolver(ctl, nil, controlclient.ResolverOptions{NegativeTTL: 10 * time.Second})
	ctx := context.Background()
	const unknown = "sk-sy-unknown-0000"

	for range 20 {
		if _, err := r.Resolve(ctx, unknown); !errors.Is(err, worker.ErrUnknownKey) {
			t.Fatalf("err = %v, want ErrUnknownKey", err)
		}
	}
	if n := ctl.KeyLookups(); n != 1 {
		t.Fatalf("control answered %d lookups for one unknown key, want 1", n)
	}
	// A key created meanwhile is found once the negative entry expires.
	_, fresh := tn.CreateKey(t, control.KeyCreate{Name: "created later"})
	if _, err := r.Resolve(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	if _, err := r.Resolve(ctx, unknown); !errors.Is(err, worker.ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	if n := ctl.KeyLookups(); n != 3 {
		t.Fatalf("control answered %d lookups, want 3 (unknown, new key, unknown after NegativeTTL)", n)
	}
}

func TestResolverControlDown(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, _, secret := tenantWithKey(t, ctl)
	r, clock := newResolver(ctl, nil, controlclient.ResolverOptions{StaleFor: time.Hour})
	ctx := context.Background()
	if _, err := r.Resolve(ctx, secret); err != nil {
		t.Fatal(err)
	}
	ctl.Stop()

	clock.Advance(defaultTTL + time.Minute)
	if _, err := r.Resolve(ctx, secret); err != nil {
		t.Fatalf("cached key past its TTL while control is down: %v", err)
	}
	if _, err := r.Resolve(ctx, "sk-sy-never-seen"); !errors.Is(err, controlclient.ErrControlUnavailable) {
		t.Fatalf("uncached key while control is down: err = %v, want ErrControlUnavailable", err)
	}
	clock.Advance(time.Hour)
	if _, err := r.Resolve(ctx, secret); !errors.Is(err, controlclient.ErrControlUnavailable) {
		t.Fatalf("cached key past TTL+StaleFor: err = %v, want ErrControlUnavailable", err)
	}

	ctl.Restart(t)
	waitFor(t, "the key to resolve again", func() bool {
		_, err := r.Resolve(ctx, secret)
		return err == nil
	})
}

// TestResolverStaleDoesNotWaitOnHungControl: when control accepts
// connections but never answers, a lookup gives up after FetchTimeout, and
// while control keeps failing cached keys are served at once.
func TestResolverStaleDoesNotWaitOnHungControl(t *testing.T) {
	ctl := edgetest.StartControl(t)
	tn, k, secret := tenantWithKey(t, ctl)
	target, _ := url.Parse(ctl.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var hang atomic.Bool
	stop := make(chan struct{})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	t.Cleanup(func() { close(stop) })

	clock := controltest.NewClock(time.Now())
	const fetchTimeout = 200 * time.Millisecond
	r := controlclient.NewResolver(controlclient.NewConn(front.URL, edgetest.EdgeToken, edgehttp.NewClient()),
		controlclient.ResolverOptions{Now: clock.Now, FetchTimeout: fetchTimeout})
	ctx := context.Background()
	if _, err := r.Resolve(ctx, secret); err != nil {
		t.Fatal(err)
	}
	hang.Store(true)
	clock.Advance(defaultTTL)

	timed := func(secret string) (time.Duration, error) {
		start := time.Now()
		_, err := r.Resolve(ctx, secret)
		return time.Since(start), err
	}
	d, err := timed(secret)
	if err != nil || d < fetchTimeout || d > 10*fetchTimeout {
		t.Fatalf("first stale lookup: %v after %v, want the stale key after about %v", err, d, fetchTimeout)
	}
	if d, err := timed(secret); err != nil || d >= fetchTimeout {
		t.Fatalf("second stale lookup: %v after %v, want the stale key at once", err, d)
	}
	if d, err := timed("sk-sy-never-seen"); !errors.Is(err, controlclient.ErrControlUnavailable) || d > 10*fetchTimeout {
		t.Fatalf("uncached lookup: %v after %v, want ErrControlUnavailable after about %v", err, d, fetchTimeout)
	}

	// Once control answers again the edge catches up with what changed.
	tn.Must(t, http.StatusOK, http.MethodPost, "/api/v1/keys/"+k.ID+"/revoke", nil, nil)
	hang.Store(false)
	clock.Advance(defaultTTL)
	waitFor(t, "the revocation to reach the edge", func() bool {
		_, err := r.Resolve(ctx, secret)
		return errors.Is(err, worker.ErrKeyRevoked)
	})
}

func TestResolverSharesConcurrentLookups(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, k, secret := tenantWithKey(t, ctl)
	// The delay keeps the first lookup in flight while the others arrive.
	r, _ := newResolver(ctl, slowUpstream{next: edgehttp.NewClient(), delay: 100 * time.Millisecond}, controlclient.ResolverOptions{})

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			got, err := r.Resolve(context.Background(), secret)
			if err == nil && got.ID != k.ID {
				err = fmt.Errorf("resolved %s, want %s", got.ID, k.ID)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := ctl.KeyLookups(); n != 1 {
		t.Fatalf("64 concurrent lookups of one key made %d control calls, want 1", n)
	}
}

// TestResolverLookupOutlivesFirstCaller: the lookup that concurrent
// callers share must not fail for all of them because the caller that
// started it went away.
func TestResolverLookupOutlivesFirstCaller(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, k, secret := tenantWithKey(t, ctl)
	up := newGatedUpstream()
	r, _ := newResolver(ctl, up, controlclient.ResolverOptions{})

	first, hangUp := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() {
		_, err := r.Resolve(first, secret)
		firstDone <- err
	}()
	<-up.entered
	type result struct {
		k   *worker.Key
		err error
	}
	second := make(chan result, 1)
	go func() {
		k, err := r.Resolve(context.Background(), secret)
		second <- result{k, err}
	}()
	// Give the second caller time to join the lookup in flight.
	time.Sleep(50 * time.Millisecond)
	hangUp()
	if err := <-firstDone; err == nil {
		t.Fatal("the caller that hung up got a key")
	}
	close(up.release)
	res := <-second
	if res.err != nil || res.k.ID != k.ID {
		t.Fatalf("second caller: key %v, err %v; want %s", res.k, res.err, k.ID)
	}
	if n := up.calls.Load(); n != 1 {
		t.Fatalf("%d control calls, want 1", n)
	}
}

// TestResolverBoundsCache: a flood of unknown keys must not grow the cache
// without bound, nor push out the keys in use.
func TestResolverBoundsCache(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, _, secret := tenantWithKey(t, ctl)
	r, _ := newResolver(ctl, nil, controlclient.ResolverOptions{MaxEntries: 10})
	ctx := context.Background()
	if _, err := r.Resolve(ctx, secret); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := r.Resolve(ctx, fmt.Sprintf("sk-sy-flood-%d", i)); !errors.Is(err, worker.ErrUnknownKey) {
			t.Fatal(err)
		}
	}
	before := ctl.KeyLookups()
	if _, err := r.Resolve(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if n := ctl.KeyLookups() - before; n != 0 {
		t.Fatalf("the key in use was evicted by unknown keys (%d lookups)", n)
	}
	if _, err := r.Resolve(ctx, "sk-sy-flood-0"); !errors.Is(err, worker.ErrUnknownKey) {
		t.Fatal(err)
	}
	if n := ctl.KeyLookups() - before; n != 1 {
		t.Fatalf("the oldest unknown key is still cached (%d lookups); the cache is not bounded", n)
	}
}
