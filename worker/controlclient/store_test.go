package controlclient_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/controlclient"
	"github.com/switchyard-ai/switchyard/worker/edgehttp"
)

// mapStore is a SnapshotStore in memory, standing for Workers KV shared
// by the isolates of one location.
type mapStore struct {
	mu sync.Mutex
	m  map[string]storedSnap
}

type storedSnap struct {
	snap edgeapi.KeySnapshot
	at   time.Time
}

func (s *mapStore) Get(_ context.Context, hash string) (*edgeapi.KeySnapshot, time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[hash]
	return &v.snap, v.at, ok
}

func (s *mapStore) Put(_ context.Context, hash string, snap *edgeapi.KeySnapshot, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[hash] = storedSnap{*snap, at}
}

// A new isolate (a resolver with an empty memory) finds the key in the
// shared store without asking the control service, and keeps serving it
// from there through an outage for as long as a stale snapshot may be
// served, then refuses.
func TestResolverSharedStore(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, k, secret := tenantWithKey(t, ctl)
	store := &mapStore{m: map[string]storedSnap{}}
	ctx := context.Background()

	first, clock := newResolver(ctl, nil, controlclient.ResolverOptions{Store: store})
	if _, err := first.Resolve(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if len(store.m) != 1 {
		t.Fatalf("store holds %d snapshots after a lookup, want 1", len(store.m))
	}

	lookups := ctl.KeyLookups()
	second := controlclient.NewResolver(ctl.Conn(edgehttp.NewClient()), controlclient.ResolverOptions{Store: store, Now: clock.Now})
	got, err := second.Resolve(ctx, secret)
	if err != nil || got.ID != k.ID {
		t.Fatalf("cold resolver with the store: %v, %v", got, err)
	}
	if n := ctl.KeyLookups() - lookups; n != 0 {
		t.Fatalf("a fresh stored snapshot still cost %d control lookups", n)
	}

	ctl.Stop()
	clock.Advance(5 * time.Minute)
	third := controlclient.NewResolver(ctl.Conn(edgehttp.NewClient()), controlclient.ResolverOptions{Store: store, Now: clock.Now})
	if got, err := third.Resolve(ctx, secret); err != nil || got.ID != k.ID {
		t.Fatalf("during an outage a stale stored snapshot must serve: %v, %v", got, err)
	}

	clock.Advance(2 * time.Hour)
	fourth := controlclient.NewResolver(ctl.Conn(edgehttp.NewClient()), controlclient.ResolverOptions{Store: store, Now: clock.Now})
	if _, err := fourth.Resolve(ctx, secret); !errors.Is(err, controlclient.ErrControlUnavailable) {
		t.Fatalf("a snapshot past its stale life must not serve: %v", err)
	}
}

// A revocation reaches an isolate that only knows the stored snapshot once
// that snapshot is older than the TTL.
func TestResolverSharedStoreRevocation(t *testing.T) {
	ctl := edgetest.StartControl(t)
	tn, k, secret := tenantWithKey(t, ctl)
	store := &mapStore{m: map[string]storedSnap{}}
	ctx := context.Background()
	first, clock := newResolver(ctl, nil, controlclient.ResolverOptions{Store: store})
	if _, err := first.Resolve(ctx, secret); err != nil {
		t.Fatal(err)
	}
	tn.Must(t, 200, "POST", "/api/v1/keys/"+k.ID+"/revoke", nil, nil)
	clock.Advance(defaultTTL)
	other := controlclient.NewResolver(ctl.Conn(edgehttp.NewClient()), controlclient.ResolverOptions{Store: store, Now: clock.Now})
	if _, err := other.Resolve(ctx, secret); !errors.Is(err, worker.ErrKeyRevoked) {
		t.Fatalf("after the TTL a revoked key resolved with %v, want ErrKeyRevoked", err)
	}
}
