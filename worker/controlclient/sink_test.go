package controlclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/controlclient"
	"github.com/switchyard-ai/switchyard/worker/edgehttp"
)

// newSink ships to ctl over real HTTP; opt's zero fields take their
// defaults, except that logs are discarded.
func newSink(ctl *edgetest.Control, up worker.Upstream, opt controlclient.SinkOptions) *controlclient.Sink {
	if up == nil {
		up = edgehttp.NewClient()
	}
	if opt.Logger == nil {
		opt.Logger = quiet
	}
	return controlclient.NewSink(ctl.Conn(up), opt)
}

// closeAtEnd closes s when the test ends, before control stops.
func closeAtEnd(t *testing.T, s *controlclient.Sink) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
}

func recordAll(s *controlclient.Sink, recs []worker.UsageRecord) {
	for i := range recs {
		s.Record(&recs[i])
	}
}

// checkDelivered fails t unless control holds exactly recs for the account,
// each once, and its books balance.
func checkDelivered(t *testing.T, ctl *edgetest.Control, accountID string, recs []worker.UsageRecord) {
	t.Helper()
	if _, missing := storedIDs(t, ctl, recs); len(missing) > 0 {
		t.Fatalf("%d of %d records never reached control, e.g. %s", len(missing), len(recs), missing[0])
	}
	if n := stored(t, ctl, accountID); n != int64(len(recs)) {
		t.Fatalf("control holds %d records, want %d", n, len(recs))
	}
	controltest.Audit(t, ctl.DBPath)
}

func TestSinkDeliversEachRecordOnce(t *testing.T) {
	ctl := edgetest.StartControl(t)
	tn, k, _ := tenantWithKey(t, ctl)
	before := tn.Balance(t)
	s := newSink(ctl, nil, controlclient.SinkOptions{FlushInterval: 20 * time.Millisecond})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, s)

	recs := usageRecords(k, "once", 200)
	var wg sync.WaitGroup
	for part := range 4 {
		wg.Go(func() { recordAll(s, recs[part*50:(part+1)*50]) })
	}
	wg.Wait()
	waitFor(t, "every record to be acknowledged", func() bool { return s.Pending() == 0 })
	checkDelivered(t, ctl, k.AccountID, recs)
	books := controltest.Audit(t, ctl.DBPath)
	if spent := before - tn.Balance(t); spent != books.UsageCost || spent <= 0 {
		t.Fatalf("balance fell by %d; the records cost %d", spent, books.UsageCost)
	}

	// The same records again, as after a lost acknowledgement, change
	// nothing.
	again := newSink(ctl, nil, controlclient.SinkOptions{})
	recordAll(again, recs)
	if err := again.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, ctl, k.AccountID, recs)
	if spent := before - tn.Balance(t); spent != books.UsageCost {
		t.Fatalf("resending charged again: balance fell by %d, want %d", spent, books.UsageCost)
	}
}

func TestSinkBatches(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, k, _ := tenantWithKey(t, ctl)

	t.Run("flush sends batches of BatchSize", func(t *testing.T) {
		s := newSink(ctl, nil, controlclient.SinkOptions{BatchSize: 10})
		recs := usageRecords(k, "batch", 35)
		recordAll(s, recs)
		if n := s.Pending(); n != 35 {
			t.Fatalf("Pending() = %d before the flush, want 35", n)
		}
		posts := ctl.UsagePosts()
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := ctl.UsagePosts() - posts; n != 4 {
			t.Fatalf("35 records in batches of 10 took %d posts, want 4", n)
		}
		if n := s.Pending(); n != 0 {
			t.Fatalf("Pending() = %d after the flush", n)
		}
		checkDelivered(t, ctl, k.AccountID, recs)
	})
	t.Run("a full batch is sent before the interval", func(t *testing.T) {
		s := newSink(ctl, nil, controlclient.SinkOptions{BatchSize: 10, FlushInterval: time.Hour})
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		closeAtEnd(t, s)
		recordAll(s, usageRecords(k, "wake", 10))
		waitFor(t, "the full batch to go out", func() bool { return s.Pending() == 0 })
	})
}

func TestSinkRidesOutControlOutage(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, k, _ := tenantWithKey(t, ctl)
	spill := filepath.Join(t.TempDir(), "usage.spill")
	s := newSink(ctl, nil, controlclient.SinkOptions{FlushInterval: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, SpillPath: spill})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, s)

	recs := usageRecords(k, "outage", 90)
	recordAll(s, recs[:30])
	waitFor(t, "the first records to be acknowledged", func() bool { return s.Pending() == 0 })
	ctl.Stop()
	recordAll(s, recs[30:60])
	// During the outage failed sends move the queue to the spill file.
	waitFor(t, "the queue to spill", func() bool {
		st, err := os.Stat(spill)
		return err == nil && st.Size() > 0
	})
	recordAll(s, recs[60:])
	time.Sleep(100 * time.Millisecond) // several failed attempts
	if n := s.Pending(); n != 60 {
		t.Fatalf("Pending() = %d during the outage, want 60", n)
	}
	ctl.Restart(t)
	waitFor(t, "the backlog to be acknowledged", func() bool { return s.Pending() == 0 })
	checkDelivered(t, ctl, k.AccountID, recs)
}

// TestSinkSpillsAcrossRestart: an edge stopped while control is down keeps
// its records in the spill file, and the next edge process delivers them.
func TestSinkSpillsAcrossRestart(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, k, _ := tenantWithKey(t, ctl)
	spill := filepath.Join(t.TempDir(), "usage.spill")
	recs := usageRecords(k, "restart", 25)
	ctl.Stop()

	first := newSink(ctl, nil, controlclient.SinkOptions{FlushInterval: 10 * time.Millisecond, SpillPath: spill})
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	recordAll(first, recs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := first.Close(ctx); err == nil {
		t.Fatal("Close reported delivery while control was down")
	}
	_ = first.Close(ctx) // a second Close must not panic

	second := newSink(ctl, nil, controlclient.SinkOptions{FlushInterval: 10 * time.Millisecond, SpillPath: spill})
	if n := second.Pending(); n != len(recs) {
		t.Fatalf("the next process finds %d spilled records, want %d", n, len(recs))
	}
	ctl.Restart(t)
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, second)
	waitFor(t, "the spilled records to be acknowledged", func() bool { return second.Pending() == 0 })
	checkDelivered(t, ctl, k.AccountID, recs)
	if _, err := os.Stat(spill); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spill file left behind: %v", err)
	}
}

// writeSpill writes recs as a spill file would hold them, then torn: the
// start of one more line, as a crash mid-write leaves it.
func writeSpill(t *testing.T, path string, recs []worker.UsageRecord, torn string) {
	t.Helper()
	var b []byte
	for i := range recs {
		line, err := json.Marshal(controlclient.WireRecord(&recs[i]))
		if err != nil {
			t.Fatal(err)
		}
		b = append(append(b, line...), '\n')
	}
	if err := os.WriteFile(path, append(b, torn...), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSinkSkipsTornLine(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, k, _ := tenantWithKey(t, ctl)
	const torn = `{"request_id":"torn-0","key_id":"`

	t.Run("on load", func(t *testing.T) {
		spill := filepath.Join(t.TempDir(), "usage.spill")
		recs := usageRecords(k, "before-crash", 3)
		writeSpill(t, spill, recs, torn)
		s := newSink(ctl, nil, controlclient.SinkOptions{FlushInterval: 10 * time.Millisecond, SpillPath: spill})
		if n := s.Pending(); n != 3 {
			t.Fatalf("Pending() = %d, want 3 (the torn line is no record)", n)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		closeAtEnd(t, s)
		waitFor(t, "the complete records to be acknowledged", func() bool { return s.Pending() == 0 })
		if _, missing := storedIDs(t, ctl, recs); len(missing) > 0 {
			t.Fatalf("missing %v", missing)
		}
	})
	t.Run("appending after it", func(t *testing.T) {
		// Records spilled after a crash must not be glued to the torn line.
		spill := filepath.Join(t.TempDir(), "usage.spill")
		old := usageRecords(k, "old", 2)
		writeSpill(t, spill, old, torn)
		ctl.Stop()
		s := newSink(ctl, nil, controlclient.SinkOptions{SpillPath: spill})
		fresh := usageRecords(k, "after-crash", 2)
		recordAll(s, fresh)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
		ctl.Restart(t)

		next := newSink(ctl, nil, controlclient.SinkOptions{SpillPath: spill})
		if err := next.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if _, missing := storedIDs(t, ctl, append(old, fresh...)); len(missing) > 0 {
			t.Fatalf("missing %v", missing)
		}
	})
}

func TestSinkDropsBeyondMaxBufferedWithoutSpill(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, k, _ := tenantWithKey(t, ctl)
	s := newSink(ctl, nil, controlclient.SinkOptions{MaxBuffered: 5})
	recs := usageRecords(k, "full", 12)
	recordAll(s, recs)
	if n := s.Dropped(); n != 7 {
		t.Errorf("Dropped() = %d, want 7", n)
	}
	if n := s.Pending(); n != 5 {
		t.Errorf("Pending() = %d, want 5", n)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The oldest go first; the newest are kept.
	checkDelivered(t, ctl, k.AccountID, recs[7:])
}

func TestSinkDoesNotRetryRejectedRecords(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, k, _ := tenantWithKey(t, ctl)
	_, other, _ := tenantWithKey(t, ctl)
	s := newSink(ctl, nil, controlclient.SinkOptions{})

	good := usageRecords(k, "good", 3)
	bad := usageRecords(k, "bad", 3)
	bad[0].KeyID = "key_never_issued"
	bad[1].AccountID = other.AccountID // someone else's key
	bad[2].Status = 0                  // not an HTTP status
	recordAll(s, append(good, bad...))
	posts := ctl.UsagePosts()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := ctl.UsagePosts() - posts; n != 1 {
		t.Fatalf("%d posts, want 1: rejected records must not be resent", n)
	}
	if n := s.Pending(); n != 0 {
		t.Fatalf("Pending() = %d, want 0", n)
	}
	checkDelivered(t, ctl, k.AccountID, good)
}

func TestSinkSkipsUnauthenticatedRequests(t *testing.T) {
	ctl := edgetest.StartControl(t)
	s := newSink(ctl, nil, controlclient.SinkOptions{})
	// A request refused before its key was known has no account to bill,
	// and control would reject it.
	s.Record(&worker.UsageRecord{RequestID: "req_anonymous", StartedAt: time.Now(), Endpoint: "chat.completions", Status: 401})
	if n := s.Pending(); n != 0 {
		t.Fatalf("Pending() = %d, want 0", n)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := ctl.UsagePosts(); n != 0 {
		t.Fatalf("%d posts for an unauthenticated request, want 0", n)
	}
}

// TestSinkShedsWhileSending: records moved to the spill file while a batch
// is in flight must not shift what its acknowledgement clears.
func TestSinkShedsWhileSending(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, k, _ := tenantWithKey(t, ctl)
	up := newGatedUpstream()
	s := newSink(ctl, up, controlclient.SinkOptions{BatchSize: 5, MaxBuffered: 5, SpillPath: filepath.Join(t.TempDir(), "usage.spill")})
	recs := usageRecords(k, "shed", 15)
	recordAll(s, recs[:5])
	flushed := make(chan error, 1)
	go func() { flushed <- s.Flush(context.Background()) }()
	<-up.entered
	recordAll(s, recs[5:]) // over MaxBuffered: the oldest not in flight go to disk
	close(up.release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if n := s.Pending(); n != 0 {
		t.Fatalf("Pending() = %d after Flush, want 0", n)
	}
	checkDelivered(t, ctl, k.AccountID, recs)
}

// TestSinkHammer records from many goroutines through a small memory
// bound, a spill file and two control outages; every record must arrive
// exactly once.
func TestSinkHammer(t *testing.T) {
	ctl := edgetest.StartControl(t)
	_, k, _ := tenantWithKey(t, ctl)
	s := newSink(ctl, nil, controlclient.SinkOptions{
		BatchSize: 25, FlushInterval: 2 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		MaxBuffered: 30, SpillPath: filepath.Join(t.TempDir(), "usage.spill"),
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	closeAtEnd(t, s)

	const writers, each = 8, 150
	var all []worker.UsageRecord
	var wg sync.WaitGroup
	for w := range writers {
		recs := usageRecords(k, fmt.Sprintf("hammer-%d", w), each)
		all = append(all, recs...)
		wg.Go(func() {
			for i := range recs {
				s.Record(&recs[i])
				if i%10 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	for range 2 {
		time.Sleep(40 * time.Millisecond)
		ctl.Stop()
		time.Sleep(40 * time.Millisecond)
		ctl.Restart(t)
	}
	wg.Wait()
	waitFor(t, "every record to be acknowledged", func() bool { return s.Pending() == 0 })
	if n := s.Dropped(); n != 0 {
		t.Fatalf("%d records dropped with a spill file", n)
	}
	checkDelivered(t, ctl, k.AccountID, all)
}

// TestSinkShrinksBatchesControlRefuses: a control service configured for
// smaller batches than the edge sends (-max-usage-batch-records) answers
// 413; the sink halves its batches until they fit and delivers everything,
// rather than resending the refused batch forever. A record refused alone
// is dropped and counted.
func TestSinkShrinksBatchesControlRefuses(t *testing.T) {
	ctl := edgetest.StartControlWith(t, edgetest.ControlOptions{API: func(_ *control.Service, cfg *httpapi.Config) {
		cfg.MaxUsageBatchRecords = 30
		cfg.MaxUsageBatchBytes = 64 << 10
	}})
	_, k, _ := tenantWithKey(t, ctl)
	s := newSink(ctl, nil, controlclient.SinkOptions{BatchSize: 500})
	recs := usageRecords(k, "shrink", 200)
	recordAll(s, recs)
	posts := ctl.UsagePosts()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, ctl, k.AccountID, recs)
	// 200 refused, 100 refused, 50 refused, then 8 batches of 25 (it may
	// not grow to 50 again, which was refused).
	if n := ctl.UsagePosts() - posts; n != 3+8 {
		t.Errorf("%d posts for 200 records, want 11", n)
	}

	// A record that alone exceeds the byte bound can never be delivered.
	huge := usageRecords(k, "huge", 2)
	huge[0].Tags = map[string]string{"note": strings.Repeat("x", 70<<10)}
	recordAll(s, huge)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.Pending(); n != 0 {
		t.Fatalf("Pending() = %d after the refused record, want 0", n)
	}
	if n := s.Dropped(); n != 1 {
		t.Fatalf("Dropped() = %d, want 1", n)
	}
	checkDelivered(t, ctl, k.AccountID, append(recs, huge[1]))

	// The oversized record's refusals said nothing about the batch size:
	// the sink starts from BatchSize again and learns the bound anew, and
	// after a delivery grows back towards it.
	more := usageRecords(k, "regrow", 60)
	recordAll(s, more)
	posts = ctl.UsagePosts()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 60 refused, then two batches of 30, which may not grow back to 60.
	if n := ctl.UsagePosts() - posts; n != 3 {
		t.Errorf("%d posts for 60 records after the drop, want 3", n)
	}
	checkDelivered(t, ctl, k.AccountID, append(append(recs, huge[1]), more...))
}
