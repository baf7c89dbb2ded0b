package controlclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
	"github.com/switchyard-ai/switchyard/worker"
)

// SinkOptions tune usage shipping.
type SinkOptions struct {
	// EdgeID names this edge in batches. Default "edge".
	EdgeID string
	// BatchSize is the most records per POST. Default 500.
	BatchSize int
	// FlushInterval is how often queued records are sent. It also bounds
	// what a crash (not a clean stop) can lose: records queued since the
	// last flush. Default 1s.
	FlushInterval time.Duration
	// MaxBuffered bounds records held in memory. Beyond it the oldest go to
	// the spill file, or, without one, are dropped and counted. Default 100000.
	MaxBuffered int
	// SpillPath is a file that keeps unsent records across control outages
	// and edge restarts (native edge). Empty keeps records in memory only.
	SpillPath string
	// MaxBackoff caps the wait between failed sends. Default 30s.
	MaxBackoff time.Duration
	// Logger receives delivery problems, metadata only. Default slog.Default().
	Logger *slog.Logger
}

// Sink ships usage records to the control service. Delivery is at least
// once; the control service stores each request id once, so a resent batch
// changes nothing.
type Sink struct {
	conn *Conn
	opt  SinkOptions

	mu    sync.Mutex
	queue []edgeapi.UsageRecord
	// loaded counts queue-front records that came from the in-flight spill
	// file, which is removed once they are acknowledged.
	loaded int

	sendMu  sync.Mutex
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started bool
	dropped atomic.Int64
}

var _ worker.UsageSink = (*Sink)(nil)

// NewSink returns a sink; it does no I/O until Start.
func NewSink(conn *Conn, opt SinkOptions) *Sink {
	if opt.EdgeID == "" {
		opt.EdgeID = "edge"
	}
	if opt.BatchSize == 0 {
		opt.BatchSize = 500
	}
	if opt.FlushInterval == 0 {
		opt.FlushInterval = time.Second
	}
	if opt.MaxBuffered == 0 {
		opt.MaxBuffered = 100_000
	}
	if opt.MaxBackoff == 0 {
		opt.MaxBackoff = 30 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Sink{conn: conn, opt: opt, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// Start loads records a previous run left in the spill file and starts the
// background sender.
func (s *Sink) Start() error {
	if err := s.loadSpill(); err != nil {
		return err
	}
	s.started = true
	go s.loop()
	return nil
}

// Record queues one record. It never blocks on the network.
func (s *Sink) Record(r *worker.UsageRecord) {
	w := WireRecord(r)
	s.mu.Lock()
	s.queue = append(s.queue, w)
	n := len(s.queue)
	s.mu.Unlock()
	if n >= s.opt.BatchSize {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	if n > s.opt.MaxBuffered {
		s.shed()
	}
}

// Pending is the number of records not yet acknowledged, in memory and
// spilled.
func (s *Sink) Pending() int {
	s.mu.Lock()
	n := len(s.queue)
	s.mu.Unlock()
	return n + s.spilledCount()
}

// Dropped counts records lost because memory was full and no spill file
// was configured.
func (s *Sink) Dropped() int64 { return s.dropped.Load() }

// Flush sends everything queued now, including spilled records.
func (s *Sink) Flush(ctx context.Context) error {
	for {
		n, err := s.sendOne(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// Close stops the sender, makes a last attempt to deliver within ctx, and
// spills whatever remains. It is safe to call without Start.
func (s *Sink) Close(ctx context.Context) error {
	if s.started {
		close(s.stop)
		<-s.done
	}
	ferr := s.Flush(ctx)
	if ferr == nil {
		return nil
	}
	return errors.Join(ferr, s.spillQueue())
}

func (s *Sink) loop() {
	defer close(s.done)
	t := time.NewTicker(s.opt.FlushInterval)
	defer t.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.wake:
		}
		if backoff > 0 {
			select {
			case <-s.stop:
				return
			case <-time.After(backoff):
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.Flush(ctx)
		cancel()
		if err == nil {
			backoff = 0
			continue
		}
		backoff = min(max(2*backoff, s.opt.FlushInterval), s.opt.MaxBackoff)
		s.opt.Logger.Warn("usage delivery failed; will retry", "err", err.Error(), "pending", s.Pending(), "retry_in", backoff.String())
		// While control is away, records wait on disk rather than in memory,
		// so a crash during the outage loses nothing already queued.
		if err := s.spillQueue(); err != nil {
			s.opt.Logger.Error("usage spill failed", "err", err.Error())
		}
	}
}

// sendOne sends up to one batch and reports how many records it cleared.
func (s *Sink) sendOne(ctx context.Context) (int, error) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	if len(s.queue) == 0 {
		s.mu.Unlock()
		if err := s.loadSpill(); err != nil {
			return 0, err
		}
		s.mu.Lock()
	}
	n := min(len(s.queue), s.opt.BatchSize)
	batch := make([]edgeapi.UsageRecord, n)
	copy(batch, s.queue[:n])
	s.mu.Unlock()
	if n == 0 {
		return 0, nil
	}
	res, err := s.conn.SendUsage(ctx, &edgeapi.UsageBatch{EdgeID: s.opt.EdgeID, Records: batch})
	if err != nil {
		return 0, err
	}
	for _, rj := range res.Rejected {
		// A rejected record is malformed; resending cannot fix it.
		s.opt.Logger.Error("usage record rejected by control", "request_id", rj.RequestID, "reason", rj.Reason)
	}
	s.mu.Lock()
	s.queue = append(s.queue[:0:0], s.queue[n:]...)
	ackedLoaded := s.loaded > 0 && n >= s.loaded
	s.loaded = max(s.loaded-n, 0)
	s.mu.Unlock()
	if ackedLoaded {
		if err := os.Remove(s.inflightPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, err
		}
	}
	return n, nil
}

func (s *Sink) inflightPath() string { return s.opt.SpillPath + ".inflight" }

// shed moves the oldest records beyond MaxBuffered to disk, or drops them.
func (s *Sink) shed() {
	s.mu.Lock()
	over := len(s.queue) - s.opt.MaxBuffered
	if over <= 0 {
		s.mu.Unlock()
		return
	}
	old := append([]edgeapi.UsageRecord(nil), s.queue[:over]...)
	s.queue = append(s.queue[:0:0], s.queue[over:]...)
	s.loaded = max(s.loaded-over, 0)
	s.mu.Unlock()
	if s.opt.SpillPath == "" {
		s.dropped.Add(int64(len(old)))
		return
	}
	if err := appendSpill(s.opt.SpillPath, old); err != nil {
		s.dropped.Add(int64(len(old)))
		s.opt.Logger.Error("usage spill failed; records dropped", "err", err.Error(), "count", len(old))
	}
}

// spillQueue writes every queued record to the spill file.
func (s *Sink) spillQueue() error {
	if s.opt.SpillPath == "" {
		return nil
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	loaded := s.loaded
	s.loaded = 0
	s.mu.Unlock()
	if len(q) == 0 {
		return nil
	}
	if err := appendSpill(s.opt.SpillPath, q); err != nil {
		s.mu.Lock()
		s.queue = append(q, s.queue...)
		s.loaded = loaded
		s.mu.Unlock()
		return err
	}
	// Records loaded from the in-flight file are now in the spill file too.
	if loaded > 0 {
		if err := os.Remove(s.inflightPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func appendSpill(path string, recs []edgeapi.UsageRecord) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadSpill moves spilled records to the front of the queue. The file is
// renamed to the in-flight name first and removed only once its records are
// acknowledged, so a crash in between resends them (harmlessly) rather than
// losing them.
func (s *Sink) loadSpill() error {
	if s.opt.SpillPath == "" {
		return nil
	}
	s.mu.Lock()
	busy := s.loaded > 0
	s.mu.Unlock()
	if busy {
		return nil
	}
	inflight := s.inflightPath()
	if _, err := os.Stat(inflight); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(s.opt.SpillPath, inflight); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
	}
	recs, err := readSpill(inflight)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return os.Remove(inflight)
	}
	s.mu.Lock()
	s.queue = append(recs, s.queue...)
	s.loaded = len(recs)
	s.mu.Unlock()
	return nil
}

func readSpill(path string) ([]edgeapi.UsageRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []edgeapi.UsageRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r edgeapi.UsageRecord
		// A torn last line from a crash mid-write is skipped; every complete
		// line before it is kept.
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out = append(out, r)
		}
	}
	return out, sc.Err()
}

func (s *Sink) spilledCount() int {
	if s.opt.SpillPath == "" {
		return 0
	}
	recs, _ := readSpill(s.opt.SpillPath)
	return len(recs)
}
