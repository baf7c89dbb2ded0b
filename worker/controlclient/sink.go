package controlclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
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
	// the spill file (down to half the bound, so that the file is not
	// written once per request), or, without one, are dropped and counted.
	// Default 100000.
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
	// sending counts the queue-front records of the batch in flight. Its
	// acknowledgement clears exactly that many from the front, so nothing
	// may take records from before their end meanwhile.
	sending int
	// loaded counts queue-front records read from the in-flight spill file;
	// inflight is set while that file exists. The file is removed once
	// none of its records is held only in memory: each was acknowledged
	// or written to the spill file again.
	loaded   int
	inflight bool
	// batch is the most records per POST: BatchSize, or less once the
	// control service refused a batch as too large; refused is the
	// smallest batch size refused since (0: none), which batch grows back
	// towards after each delivery without reaching it.
	batch, refused int

	// fileMu serialises the spill files: appends (from the sender and from
	// requests shedding records) must not interleave, and none may land in
	// a file that is being renamed and read, or it would be lost with it.
	fileMu sync.Mutex

	sendMu    sync.Mutex
	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	started   bool
	closeOnce sync.Once
	dropped   atomic.Int64
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
	return &Sink{conn: conn, opt: opt, batch: opt.BatchSize, wake: make(chan struct{}, 1), stop: make(chan struct{}),
		done: make(chan struct{})}
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

// Record queues one record. It never blocks on the network. A record
// without a key (the request was refused before its key was known) is not
// shipped: there is no account to bill and the control service would
// reject it.
func (s *Sink) Record(r *worker.UsageRecord) {
	if r.KeyID == "" {
		return
	}
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
	// Holding fileMu keeps records from moving between memory and the
	// spill file while both are counted.
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	s.mu.Lock()
	n := len(s.queue)
	s.mu.Unlock()
	return n + s.spilledCount()
}

// Dropped counts records lost because memory was full and no spill file
// was configured (or writing it failed), or because the control service
// refused a record on its own as too large.
func (s *Sink) Dropped() int64 { return s.dropped.Load() }

// Flush sends everything queued now, including spilled records.
func (s *Sink) Flush(ctx context.Context) error {
	for {
		n, err := s.sendOne(ctx)
		if errors.Is(err, errSmallerBatch) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// Close stops the sender, makes a last attempt to deliver within ctx, and
// spills whatever remains. Its error reports a failed delivery even when
// the records were spilled, for the next run to send. It is safe to call
// without Start, and more than once.
func (s *Sink) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		if s.started {
			close(s.stop)
			<-s.done
		}
	})
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

// errSmallerBatch is sendOne's answer when the control service refused the
// batch as too large and the sink halved its batch size: send again.
var errSmallerBatch = errors.New("usage batch too large for the control service")

// sendOne sends up to one batch and reports how many records it cleared.
func (s *Sink) sendOne(ctx context.Context) (int, error) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if err := s.settleInflight(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	if len(s.queue) == 0 {
		s.mu.Unlock()
		if err := s.loadSpill(); err != nil {
			return 0, err
		}
		s.mu.Lock()
	}
	n := min(len(s.queue), s.batch)
	batch := make([]edgeapi.UsageRecord, n)
	copy(batch, s.queue[:n])
	s.sending = n
	s.mu.Unlock()
	if n == 0 {
		return 0, nil
	}
	res, err := s.conn.SendUsage(ctx, &edgeapi.UsageBatch{EdgeID: s.opt.EdgeID, Records: batch})
	tooLarge := false
	if se := (*StatusError)(nil); errors.As(err, &se) && se.Status == http.StatusRequestEntityTooLarge {
		tooLarge = true
	}
	s.mu.Lock()
	s.sending = 0
	switch {
	case err == nil || tooLarge && n == 1:
		// Delivered, or refused alone as too large, which no resend can
		// change: cleared either way. Reslicing keeps draining a long
		// backlog linear; the cleared front is freed when append next
		// grows the queue.
		clear(s.queue[:n])
		s.queue = s.queue[n:]
		s.loaded = max(s.loaded-n, 0)
		switch {
		case tooLarge:
			// The refusals that halved down to this record may all have
			// been its doing: start again from BatchSize.
			s.batch, s.refused = s.opt.BatchSize, 0
		case s.batch < s.opt.BatchSize && (s.refused == 0 || 2*s.batch < s.refused):
			s.batch = min(2*s.batch, s.opt.BatchSize)
		}
	case tooLarge:
		// The control service takes smaller batches than BatchSize (its
		// -max-usage-batch flags): halve, and send again at once. A
		// refused batch would otherwise be resent, and refused, forever.
		s.batch = max(n/2, 1)
		s.refused = n
	}
	size := s.batch
	s.mu.Unlock()
	switch {
	case tooLarge && n == 1:
		s.dropped.Add(1)
		s.opt.Logger.Error("usage record refused by control as too large; dropped", "request_id", batch[0].RequestID)
		return 1, s.settleInflight()
	case tooLarge:
		s.opt.Logger.Warn("usage batch refused by control as too large; sending smaller batches", "records", n,
			"batch_size", size)
		return 0, errSmallerBatch
	case err != nil:
		return 0, err
	}
	for _, rj := range res.Rejected {
		// A rejected record is malformed; resending cannot fix it.
		s.opt.Logger.Error("usage record rejected by control", "request_id", rj.RequestID, "reason", rj.Reason)
	}
	return n, s.settleInflight()
}

func (s *Sink) inflightPath() string { return s.opt.SpillPath + ".inflight" }

// settleInflight removes the in-flight spill file once none of its records
// is held only in memory.
func (s *Sink) settleInflight() error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	s.mu.Lock()
	settled := s.inflight && s.loaded == 0
	if settled {
		s.inflight = false
	}
	s.mu.Unlock()
	if !settled {
		return nil
	}
	if err := os.Remove(s.inflightPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// shed takes the oldest records not in flight out of memory once there are
// more than MaxBuffered: to the spill file, down to half the bound so the
// file is not written once per request, or, without one, dropped.
func (s *Sink) shed() {
	keep := s.opt.MaxBuffered
	if s.opt.SpillPath != "" {
		keep /= 2
		s.fileMu.Lock()
		defer s.fileMu.Unlock()
	}
	s.mu.Lock()
	over := min(len(s.queue)-keep, len(s.queue)-s.sending)
	if len(s.queue) <= s.opt.MaxBuffered || over <= 0 {
		s.mu.Unlock()
		return
	}
	from := s.sending
	var old []edgeapi.UsageRecord
	if s.opt.SpillPath != "" {
		old = append(old, s.queue[from:from+over]...)
	}
	// Move the batch in flight up over the shed records and cut the front
	// off: this runs on the request path, so it costs the batch, never the
	// whole queue.
	copy(s.queue[over:], s.queue[:from])
	clear(s.queue[:over])
	s.queue = s.queue[over:]
	// Loaded records are the queue's front; those shed go to the spill
	// file and no longer hold up the in-flight file's removal.
	s.loaded -= min(max(s.loaded-from, 0), over)
	s.mu.Unlock()
	if s.opt.SpillPath == "" {
		s.dropped.Add(int64(over))
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
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	loaded := s.loaded
	s.loaded = 0
	s.mu.Unlock()
	if len(q) > 0 {
		if err := appendSpill(s.opt.SpillPath, q); err != nil {
			s.mu.Lock()
			s.queue = append(q, s.queue...)
			s.loaded = loaded
			s.mu.Unlock()
			return err
		}
	}
	// Records loaded from the in-flight file are now in the spill file too.
	s.mu.Lock()
	wasInflight := s.inflight
	s.inflight = false
	s.mu.Unlock()
	if wasInflight {
		if err := os.Remove(s.inflightPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// appendSpill appends recs as JSON lines and syncs the file. The caller
// holds fileMu.
func appendSpill(path string, recs []edgeapi.UsageRecord) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	// A crash mid-write leaves a torn last line; end it, or the first
	// record appended now would be glued to it and lost with it.
	if torn, err := tornTail(f); err != nil {
		f.Close()
		return err
	} else if torn {
		w.WriteByte('\n')
	}
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

// tornTail reports whether f is non-empty and does not end in a newline.
func tornTail(f *os.File) (bool, error) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return false, err
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], st.Size()-1); err != nil {
		return false, err
	}
	return last[0] != '\n', nil
}

// loadSpill moves spilled records to the front of the queue. The file is
// renamed to the in-flight name first and removed only once its records are
// acknowledged, so a crash in between resends them (harmlessly) rather than
// losing them. The caller holds sendMu, or is Start.
func (s *Sink) loadSpill() error {
	if s.opt.SpillPath == "" {
		return nil
	}
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	s.mu.Lock()
	busy := s.inflight
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
	s.inflight = true
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

// spilledCount counts the spill file's records. The caller holds fileMu.
func (s *Sink) spilledCount() int {
	if s.opt.SpillPath == "" {
		return 0
	}
	recs, _ := readSpill(s.opt.SpillPath)
	return len(recs)
}
