//go:build js && wasm

package edgejs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"syscall/js"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/controlclient"
)

// UsageSink reports each request's usage record to the control service
// through the shim's postUsage operation, with the edge API's batch as JSON.
// The shim owns delivery (it retries, and keeps what it could not deliver
// in KV), and the request's waitUntil waits for it, so a record survives
// the response.
//
// Records are not batched across requests in an isolate: work started in
// one request's context and finished in another's is cancelled by workerd
// when the first request ends.
type UsageSink struct {
	edgeID string
	bg     *Background
}

// NewUsageSink returns a sink that queues reports on bg.
func NewUsageSink(edgeID string, bg *Background) *UsageSink {
	return &UsageSink{edgeID: edgeID, bg: bg}
}

var _ worker.UsageSink = (*UsageSink)(nil)

func (s *UsageSink) Record(r *worker.UsageRecord) {
	b, err := json.Marshal(edgeapi.UsageBatch{EdgeID: s.edgeID, Records: []edgeapi.UsageRecord{controlclient.WireRecord(r)}})
	if err != nil {
		return
	}
	s.bg.Later("postUsage", string(b))
}

// KVStore keeps key snapshots in a Workers KV namespace, so that the
// isolates of a location share them and a new isolate does not ask the
// control service for every key again.
type KVStore struct {
	kv     js.Value
	direct js.Value
	bg     *Background
	ttl    time.Duration
}

// NewKVStore stores in the KV binding kv; entries expire from KV after
// keep, which should be the resolver's TTL plus its stale life. Reads for
// no request go through direct (see NewFetch).
func NewKVStore(kv, direct js.Value, bg *Background, keep time.Duration) *KVStore {
	return &KVStore{kv: kv, direct: direct, bg: bg, ttl: keep}
}

var _ controlclient.SnapshotStore = (*KVStore)(nil)

type kvEntry struct {
	At   time.Time           `json:"at"`
	Snap edgeapi.KeySnapshot `json:"snap"`
}

func (s *KVStore) Get(ctx context.Context, hash string) (*edgeapi.KeySnapshot, time.Time, bool) {
	v, err := call(ctx, ioFor(ctx, s.direct), "kvGet", s.kv, "key:"+hash)
	if err != nil || v.Type() != js.TypeString {
		return nil, time.Time{}, false
	}
	var e kvEntry
	if json.Unmarshal([]byte(v.String()), &e) != nil {
		return nil, time.Time{}, false
	}
	return &e.Snap, e.At, true
}

func (s *KVStore) Put(_ context.Context, hash string, snap *edgeapi.KeySnapshot, at time.Time) {
	b, err := json.Marshal(kvEntry{At: at, Snap: *snap})
	if err != nil {
		return
	}
	// KV's shortest expiry is 60 seconds.
	s.bg.Later("kvPut", s.kv, "key:"+hash, string(b), max(60, int(s.ttl/time.Second)))
}

// KVPlugins keeps plugin modules in Workers KV by content hash, in front of
// next (the control service), so that a new isolate loads a tenant's plugin
// without asking the control service. Modules are immutable, so entries
// never go stale; they expire after keep unused (KV refreshes nothing on
// read, so a module in use is written again after a miss only).
type KVPlugins struct {
	kv, direct js.Value
	bg         *Background
	next       pluginFetcher
	keep       time.Duration
	maxBytes   int
}

type pluginFetcher interface {
	Plugin(ctx context.Context, hash string) ([]byte, error)
}

// NewKVPlugins caches modules of up to maxBytes from next in the KV
// binding kv.
func NewKVPlugins(kv, direct js.Value, bg *Background, next pluginFetcher, keep time.Duration, maxBytes int) *KVPlugins {
	return &KVPlugins{kv: kv, direct: direct, bg: bg, next: next, keep: keep, maxBytes: maxBytes}
}

func (p *KVPlugins) Plugin(ctx context.Context, hash string) ([]byte, error) {
	key := "plugin:" + hash
	if v, err := call(ctx, ioFor(ctx, p.direct), "kvGetBytes", p.kv, key); err == nil && v.Truthy() {
		b := bytesFromJS(nil, v)
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) == hash {
			return b, nil
		}
	}
	b, err := p.next.Plugin(ctx, hash)
	if err != nil {
		return nil, err
	}
	if len(b) <= p.maxBytes {
		p.bg.Later("kvPut", p.kv, key, bytesToJS(b), max(60, int(p.keep/time.Second)))
	}
	return b, nil
}
