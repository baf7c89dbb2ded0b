package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/sse"
)

const (
	// maxUpstreamBody bounds a non-streamed upstream answer.
	maxUpstreamBody = 64 << 20
	// maxErrorBody bounds how much of an upstream error body is read.
	maxErrorBody = 64 << 10
	// StatusClientClosed is recorded when the client hangs up (nginx's 499).
	StatusClientClosed = 499
	// longRetryAfter is the Retry-After beyond which the gateway moves to
	// the next candidate instead of waiting.
	longRetryAfter = 2 * time.Second
)

// call is the state of one model request.
type call struct {
	g         *Gateway
	req       *Request
	w         Responder
	ep        *endpoint
	body      []byte
	stream    bool
	wantUsage bool
	rec       UsageRecord
	start     time.Time
	key       *Key

	canon    *chat.Request
	canonErr error
	emb      *chat.EmbeddingRequest
	hdr      [5][2]string
	// pluginHdr are the response headers the tenant's plugin added.
	pluginHdr [][2]string
}

// routing is what the client asked for: the model and its fallbacks, the
// kind of model the endpoint needs, and provider preferences.
type routing struct {
	names []string
	kind  string
	prefs *ProviderPrefs
}

func (g *Gateway) serveModelCall(req *Request, w Responder, ep *endpoint) {
	c := &call{g: g, req: req, w: w, ep: ep, body: req.Body, start: g.cfg.Now()}
	c.rec = UsageRecord{RequestID: newRequestID(), StartedAt: c.start, Endpoint: ep.name}
	if req.Method != http.MethodPost {
		g.metrics.request(ep.name, "", "", http.StatusMethodNotAllowed)
		g.respondError(w, ep, c.rec.RequestID, chat.Errorf(http.StatusMethodNotAllowed, chat.TypeInvalidRequest, "use POST for %s", req.Path))
		return
	}
	key, err := g.authenticate(req)
	if err != nil {
		g.metrics.authFailure()
		g.metrics.request(ep.name, "", "", err.Status)
		g.logError(c, err)
		g.respondError(w, ep, c.rec.RequestID, err)
		return
	}
	c.rec.KeyID, c.rec.AccountID = key.ID, key.AccountID
	c.key = key
	if err := g.checkCredit(key); err != nil {
		c.fail(nil, err)
		return
	}
	if err := g.limits.admit(key); err != nil {
		c.fail(nil, err)
		return
	}
	rt, err := c.parse()
	if err != nil {
		c.fail(nil, err)
		return
	}
	cands, err := c.route(key, &rt)
	if err != nil {
		c.fail(nil, err)
		return
	}
	c.forward(cands)
}

// parse reads only what routing needs; the body is decoded in full only when
// it must be translated.
func (c *call) parse() (routing, *chat.Error) {
	b := c.body
	root := gjson.ParseBytes(b)
	if !gjson.ValidBytes(b) || !root.IsObject() {
		return routing{}, chat.BadRequest("", "request body must be a JSON object")
	}
	f := routingFields(root)
	if f[0].Type != gjson.String || f[0].Str == "" {
		return routing{}, chat.BadRequest("model", "model is required and must be a string such as \"openai/gpt-4o-mini\"")
	}
	switch f[1].Type {
	case gjson.True:
		c.stream = true
	case gjson.False, gjson.Null:
	default:
		return routing{}, chat.BadRequest("stream", "stream must be a boolean")
	}
	if c.stream && c.ep.op == chat.OpEmbeddings {
		return routing{}, chat.BadRequest("stream", "embeddings cannot be streamed")
	}
	c.rec.Stream = c.stream
	c.wantUsage = f[4].Bool()
	names := []string{f[0].Str}
	if f[2].Exists() {
		if !f[2].IsArray() {
			return routing{}, chat.BadRequest("models", "models must be an array of model ids")
		}
		for _, m := range f[2].Array() {
			if m.Type != gjson.String {
				return routing{}, chat.BadRequest("models", "models must be an array of model ids")
			}
			names = append(names, m.Str)
		}
	}
	var prefs *ProviderPrefs
	if f[3].Exists() {
		var err *chat.Error
		if prefs, err = parsePrefs([]byte(f[3].Raw)); err != nil {
			return routing{}, err
		}
	}
	if f[2].Exists() || f[3].Exists() {
		// The gateway's own fields are not part of any upstream dialect.
		b = append([]byte(nil), b...)
		for _, field := range []string{"models", "provider"} {
			b, _ = sjson.DeleteBytes(b, field)
		}
		c.body = b
	}
	kind := "chat"
	if c.ep.op == chat.OpEmbeddings {
		kind = "embedding"
	}
	if len(c.g.catalog().expand(names[0])) > 0 {
		// Only names the catalog knows are recorded: a client-chosen
		// string is content until proven otherwise.
		c.rec.Model = names[0]
	}
	return routing{names: names, kind: kind, prefs: prefs}, nil
}

// routingFields reads model, stream, models, provider and
// stream_options.include_usage in one pass over the top level of obj, where
// gjson.GetMany would scan the body once per field. Repeated keys resolve as
// gjson.Get resolves them.
func routingFields(obj gjson.Result) [5]gjson.Result {
	var f [5]gjson.Result
	var seen [5]bool
	obj.ForEach(func(k, v gjson.Result) bool {
		i := -1
		switch k.Str {
		case "model":
			i = 0
		case "stream":
			i = 1
		case "models":
			i = 2
		case "provider":
			i = 3
		case "stream_options":
			// gjson looks into each repeated object until one has the key.
			if v = v.Get("include_usage"); v.Exists() {
				i = 4
			}
		}
		if i >= 0 && !seen[i] {
			f[i], seen[i] = v, true
		}
		return true
	})
	return f
}

// forward tries each candidate, retrying retryable failures with jittered
// backoff, until one answers or the request deadline passes.
func (c *call) forward(cands []*Model) {
	g := c.g
	deadline := c.start.Add(g.cfg.RequestTimeout)
	var lastErr, translateErr *chat.Error
	for _, m := range cands {
		p := g.catalog().providers[m.Provider]
		body, err := c.upstreamBody(m, p)
		if err != nil {
			if translateErr == nil {
				translateErr = asError(err)
			}
			continue
		}
		for attempt := range g.cfg.MaxAttempts {
			if attempt > 0 {
				if lastErr.RetryAfter > longRetryAfter || !c.sleep(backoff(g.cfg.RetryBackoff, attempt, lastErr.RetryAfter), deadline) {
					break
				}
			}
			c.rec.Attempts++
			done, err := c.attempt(m, p, body, deadline)
			if done {
				return
			}
			g.metrics.attempt(m.Provider, err.Status)
			if err.Retryable {
				g.upstream.failed(m.Provider, g.cfg.Now())
			}
			lastErr = err
			if !err.Retryable || c.req.ctx().Err() != nil {
				c.fail(m, err)
				return
			}
			if g.cfg.Now().After(deadline) {
				break
			}
		}
	}
	switch {
	case lastErr != nil:
		c.fail(nil, lastErr)
	case translateErr != nil:
		c.fail(nil, translateErr)
	default:
		c.fail(nil, chat.Errorf(http.StatusServiceUnavailable, chat.TypeUpstream, "no provider could serve the request"))
	}
}

func asError(err error) *chat.Error {
	var e *chat.Error
	if errors.As(err, &e) {
		return e
	}
	return &chat.Error{Status: http.StatusBadRequest, Type: chat.TypeInvalidRequest, Message: "the request could not be translated for the provider", Cause: err}
}

// backoff is exponential with full jitter, but never shorter than the
// upstream's own Retry-After hint.
func backoff(base time.Duration, attempt int, retryAfter time.Duration) time.Duration {
	d := base << (attempt - 1)
	d = d/2 + rand.N(d)
	return max(d, retryAfter)
}

// sleep waits d unless that would pass the deadline or the client leaves.
func (c *call) sleep(d time.Duration, deadline time.Time) bool {
	if c.g.cfg.Now().Add(d).After(deadline) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.req.ctx().Done():
		return false
	}
}

// upstreamBody renders the request for provider p: untouched but for the
// model name when the dialects match, translated otherwise.
func (c *call) upstreamBody(m *Model, p chat.Provider) ([]byte, error) {
	d := p.Dialect()
	native := sameDialect(c.ep.inbound, d)
	if c.ep.op == chat.OpEmbeddings {
		if native {
			return d.PrepareNative(c.body, m.Upstream, false)
		}
		emb, ok := d.(chat.Embedder)
		if !ok {
			return nil, chat.BadRequest("model", "provider %s offers no embeddings", p.Name())
		}
		if c.emb == nil {
			c.emb = new(chat.EmbeddingRequest)
			if err := json.Unmarshal(c.body, c.emb); err != nil {
				return nil, chat.BadRequest("", "invalid embeddings request: %v", err)
			}
		}
		return emb.EncodeEmbeddings(c.emb, m.Upstream)
	}
	if native {
		return d.PrepareNative(c.body, m.Upstream, c.stream)
	}
	if c.canon == nil && c.canonErr == nil {
		c.canon, c.canonErr = c.ep.inbound.DecodeRequest(c.body)
	}
	if c.canonErr != nil {
		return nil, c.canonErr
	}
	return d.EncodeRequest(c.canon, m.Upstream)
}

func (c *call) providerTimeout(p chat.Provider) time.Duration {
	if d, ok := c.g.cfg.ProviderTimeouts[p.Name()]; ok && d > 0 {
		return d
	}
	return 60 * time.Second
}

// attempt makes one upstream call. done means a response (success or a
// committed stream) went to the client; otherwise err says why not.
func (c *call) attempt(m *Model, p chat.Provider, body []byte, deadline time.Time) (bool, *chat.Error) {
	g := c.g
	hreq, err := p.NewRequest(c.ep.op, m.Upstream, c.stream, body)
	if err != nil {
		return false, asError(err)
	}
	limit := min(c.providerTimeout(p), deadline.Sub(g.cfg.Now()))
	if limit <= 0 {
		return false, &chat.Error{Status: http.StatusGatewayTimeout, Type: chat.TypeTimeout, Message: "the request deadline passed"}
	}
	ctx, cancel := context.WithCancel(c.req.ctx())
	timedOut := make(chan struct{})
	timer := time.AfterFunc(limit, func() { close(timedOut); cancel() })
	stop := func() {
		timer.Stop()
		cancel()
	}
	t0 := g.cfg.Now()
	resp, err := g.cfg.Upstream.Do(ctx, hreq)
	if err != nil {
		stop()
		return false, c.transportError(p, err, timedOut)
	}
	if resp.Status != http.StatusOK {
		eb, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		stop()
		return false, p.Dialect().ParseError(resp.Status, resp.Header, eb)
	}
	if c.stream {
		return c.startStream(m, p, resp, timer, timedOut, cancel, t0)
	}
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	resp.Body.Close()
	stop()
	if err != nil {
		return false, c.transportError(p, err, timedOut)
	}
	g.upstream.observe(p.Name(), g.cfg.Now().Sub(t0))
	return c.respondComplete(m, p, out)
}

func (c *call) transportError(p chat.Provider, err error, timedOut chan struct{}) *chat.Error {
	select {
	case <-timedOut:
		return &chat.Error{Status: http.StatusGatewayTimeout, Type: chat.TypeTimeout, Retryable: true,
			Message: fmt.Sprintf("provider %s did not answer in time", p.Name()), Cause: err}
	default:
	}
	if c.req.ctx().Err() != nil {
		return &chat.Error{Status: StatusClientClosed, Type: chat.TypeInvalidRequest, Message: "client closed the request", Cause: err}
	}
	return &chat.Error{Status: http.StatusBadGateway, Type: chat.TypeUpstream, Retryable: true,
		Message: fmt.Sprintf("provider %s could not be reached", p.Name()), Cause: err}
}

// respondComplete turns a complete upstream answer into the client's.
func (c *call) respondComplete(m *Model, p chat.Provider, body []byte) (bool, *chat.Error) {
	d := p.Dialect()
	native := sameDialect(c.ep.inbound, d)
	var (
		out    []byte
		tokens chat.Tokens
		ok     bool
		err    error
	)
	switch {
	case native:
		out = body
		tokens, ok = d.ResponseUsage(body)
		c.rec.FinishReason = nativeFinishReason(c.ep, body)
	case c.ep.op == chat.OpEmbeddings:
		out, tokens, err = d.(chat.Embedder).DecodeEmbeddings(body, c.emb)
		ok = err == nil
	default:
		var resp *chat.Response
		if resp, err = d.DecodeResponse(body); err == nil {
			if resp.Usage != nil {
				tokens, ok = resp.Usage.Tokens(), true
			}
			if len(resp.Choices) > 0 {
				c.rec.FinishReason = resp.Choices[0].FinishReason
			}
			out, err = c.ep.inbound.EncodeResponse(resp)
		}
	}
	if err != nil {
		e := asError(err)
		e.Status, e.Type, e.Retryable = http.StatusBadGateway, chat.TypeUpstream, true
		e.Message = fmt.Sprintf("provider %s sent a response the gateway could not read", p.Name())
		return false, e
	}
	if !ok {
		tokens = chat.Tokens{Input: estimateTokens(len(c.body)), Output: estimateTokens(len(body))}
		c.rec.Estimated = true
	}
	c.rec.Tokens = tokens
	c.w.Respond(http.StatusOK, c.headers(m, "application/json"), out)
	c.rec.TTFB = c.g.cfg.Now().Sub(c.start)
	c.finish(http.StatusOK, m, nil)
	return true, nil
}

// estimateTokens is the usual four-bytes-per-token rule, used only when an
// upstream never reported usage.
func estimateTokens(n int) int { return (n + 3) / 4 }

// headers builds the success headers in the call's own array, saving an
// allocation per request; responders copy them before returning.
func (c *call) headers(m *Model, contentType string) [][2]string {
	h := append(c.hdr[:0],
		[2]string{"Content-Type", contentType},
		[2]string{"X-Request-Id", c.rec.RequestID},
		[2]string{"X-Switchyard-Model", m.ID},
	)
	if c.stream {
		h = append(h,
			[2]string{"Cache-Control", "no-cache"},
			[2]string{"X-Accel-Buffering", "no"},
		)
	}
	return withPluginHeaders(h, c.pluginHdr)
}

// fail answers with err and records the outcome.
func (c *call) fail(m *Model, err *chat.Error) {
	if err.Status == StatusClientClosed {
		c.rec.Tokens = chat.Tokens{Input: estimateTokens(len(c.body))}
		c.rec.Estimated = true
	} else {
		c.g.respondError(c.w, c.ep, c.rec.RequestID, err, c.pluginHdr...)
	}
	c.finish(err.Status, m, err)
}

// finish records usage, metrics and the log line.
func (c *call) finish(status int, m *Model, err *chat.Error) {
	g := c.g
	c.rec.Status = status
	c.rec.Latency = g.cfg.Now().Sub(c.start)
	if err != nil {
		c.rec.ErrorType = err.Type
	}
	model := ""
	if m != nil {
		c.rec.ServedModel, c.rec.Provider = m.ID, m.Provider
		c.rec.CostMicros = m.Cost(c.rec.Tokens)
		model = m.ID
	}
	if c.key != nil {
		g.limits.charge(c.key, c.rec.Tokens.Total())
	}
	g.cfg.Usage.Record(&c.rec)
	g.metrics.request(c.ep.name, c.rec.Provider, model, status)
	g.metrics.tokens(c.rec.Provider, model, c.rec.Tokens)
	if err != nil {
		g.logError(c, err)
		return
	}
	// Typed attributes: this line is written for every request.
	g.cfg.Logger.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("request_id", c.rec.RequestID), slog.String("endpoint", c.ep.name), slog.Int("status", status),
		slog.String("model", model), slog.String("provider", c.rec.Provider), slog.Bool("stream", c.stream),
		slog.Int("attempts", c.rec.Attempts), slog.Int64("latency_ms", c.rec.Latency.Milliseconds()),
		slog.Bool("estimated_usage", c.rec.Estimated))
}

// logError logs metadata only. Upstream error messages can quote the
// request, so only the gateway's own transport causes are logged.
func (g *Gateway) logError(c *call, err *chat.Error) {
	attrs := []any{"request_id", c.rec.RequestID, "endpoint", c.ep.name, "status", err.Status, "error_type", err.Type,
		"provider", c.rec.Provider, "attempts", c.rec.Attempts}
	var netErr interface{ Timeout() bool }
	if errors.As(err.Cause, &netErr) || errors.Is(err.Cause, context.Canceled) || errors.Is(err.Cause, io.ErrUnexpectedEOF) {
		attrs = append(attrs, "cause", err.Cause.Error())
	}
	g.cfg.Logger.Warn("request failed", attrs...)
}

// streamPump moves one upstream stream to the client.
type streamPump struct {
	c      *call
	rd     *sse.Reader
	tap    chat.StreamTap
	dec    chat.StreamDecoder
	enc    chat.StreamEncoder
	idle   *time.Timer
	idleD  time.Duration
	out    []byte
	chunks int
	// produced counts generated text bytes, for estimating output if the
	// upstream never reports usage.
	produced int
}

var errUpstreamEnded = errors.New("upstream ended the stream early")

// next reads events until there is output for the client. It returns io.EOF
// after a properly finished stream.
func (s *streamPump) next() ([]byte, error) {
	s.out = s.out[:0]
	for {
		ev, err := s.rd.Next()
		if err != nil {
			if s.done() {
				// The upstream already ended the stream properly; a broken
				// connection afterwards loses nothing.
				if s.enc != nil {
					s.out = s.enc.Finish(s.out)
				}
				return s.out, io.EOF
			}
			if err == io.EOF {
				err = errUpstreamEnded
			}
			return nil, err
		}
		if s.idle != nil {
			s.idle.Reset(s.idleD)
		}
		if s.tap != nil {
			fwd, err := s.tap.Tap(ev)
			if err != nil {
				return nil, err
			}
			if fwd {
				s.out = append(s.out, ev.Raw...)
				s.produced += producedBytes(s.c.ep, ev.Data)
				if bytes.Contains(ev.Data, finishMarker(s.c.ep)) {
					s.c.rec.FinishReason = nativeFinishReason(s.c.ep, ev.Data)
				}
			}
		} else {
			chunks, err := s.dec.Decode(ev)
			if err != nil {
				return nil, err
			}
			for i := range chunks {
				ch := &chunks[i]
				if s.c.ep == epChat && !s.c.wantUsage {
					if len(ch.Choices) == 0 {
						continue
					}
					ch.Usage = nil
				}
				for _, cc := range ch.Choices {
					if cc.FinishReason != nil {
						s.c.rec.FinishReason = *cc.FinishReason
					}
					if cc.Delta.Content != nil {
						s.produced += len(*cc.Delta.Content)
					}
					for _, tc := range cc.Delta.ToolCalls {
						s.produced += len(tc.Function.Arguments)
					}
				}
				s.out = s.enc.Encode(s.out, ch)
			}
		}
		if len(s.out) > 0 {
			return s.out, nil
		}
	}
}

// producedBytes reads the generated text of a pass-through event. It runs
// for every event, so it reads data in place: only lengths are kept, and
// gjson's byte-slice functions would copy each result first.
func producedBytes(ep *endpoint, data []byte) int {
	json := unsafe.String(unsafe.SliceData(data), len(data))
	if ep == epMessages {
		return len(gjson.Get(json, "delta.text").Str) + len(gjson.Get(json, "delta.partial_json").Str)
	}
	return len(gjson.Get(json, "choices.0.delta.content").Str) +
		len(gjson.Get(json, "choices.0.delta.tool_calls.0.function.arguments").Str)
}

func (s *streamPump) usage() (chat.Tokens, bool) {
	if s.tap != nil {
		return s.tap.Usage()
	}
	return s.dec.Usage()
}

func (s *streamPump) done() bool {
	if s.tap != nil {
		return s.tap.Done()
	}
	return s.dec.Done()
}

// startStream reads the upstream until it has something for the client, so
// that a stream failing before its first byte can still fall back, then
// commits the response and pumps the rest.
func (c *call) startStream(m *Model, p chat.Provider, resp *UpstreamResponse, timer *time.Timer, timedOut chan struct{}, cancel context.CancelFunc, t0 time.Time) (bool, *chat.Error) {
	g := c.g
	s := &streamPump{c: c, rd: sse.NewReader(resp.Body), idleD: g.cfg.StreamIdleTimeout}
	d := p.Dialect()
	if sameDialect(c.ep.inbound, d) {
		s.tap = d.NewStreamTap(c.wantUsage)
	} else {
		s.dec = d.NewStreamDecoder()
		s.enc = c.ep.inbound.NewStreamEncoder()
	}
	first, err := s.next()
	if err != nil && err != io.EOF {
		resp.Body.Close()
		timer.Stop()
		cancel()
		var e *chat.Error
		if errors.As(err, &e) {
			e.Retryable = true
			return false, e
		}
		return false, c.transportError(p, err, timedOut)
	}
	timer.Stop()
	g.upstream.observe(p.Name(), g.cfg.Now().Sub(t0))
	ended := err == io.EOF
	s.idle = time.AfterFunc(s.idleD, cancel)
	c.w.Stream(http.StatusOK, c.headers(m, "text/event-stream"), func(sw StreamWriter) {
		defer cancel()
		defer resp.Body.Close()
		defer s.idle.Stop()
		status, failure := c.pump(s, sw, first, ended)
		c.settleStreamUsage(s, status)
		c.finish(status, m, failure)
	})
	return true, nil
}

// pump sends the first output and the rest of the stream; it returns the
// status to record.
func (c *call) pump(s *streamPump, sw StreamWriter, first []byte, ended bool) (int, *chat.Error) {
	if err := sw.Send(first); err != nil {
		return StatusClientClosed, &chat.Error{Status: StatusClientClosed, Type: chat.TypeInvalidRequest, Message: "client closed the stream"}
	}
	c.rec.TTFB = c.g.cfg.Now().Sub(c.start)
	for !ended {
		out, err := s.next()
		ended = err == io.EOF
		if err != nil && !ended {
			e := c.streamFailure(err)
			// Say so in the stream's own format rather than cutting it.
			_ = sw.Send(c.failEvent(s, e))
			return e.Status, e
		}
		if len(out) == 0 {
			continue
		}
		if err := sw.Send(out); err != nil {
			return StatusClientClosed, &chat.Error{Status: StatusClientClosed, Type: chat.TypeInvalidRequest, Message: "client closed the stream"}
		}
	}
	return http.StatusOK, nil
}

func (c *call) streamFailure(err error) *chat.Error {
	var e *chat.Error
	if errors.As(err, &e) {
		return e
	}
	if c.req.ctx().Err() != nil {
		return &chat.Error{Status: StatusClientClosed, Type: chat.TypeInvalidRequest, Message: "client closed the stream", Cause: err}
	}
	return &chat.Error{Status: http.StatusBadGateway, Type: chat.TypeUpstream,
		Message: "the provider's stream broke off before it finished; the answer is incomplete", Cause: err}
}

func (c *call) failEvent(s *streamPump, e *chat.Error) []byte {
	if s.enc != nil {
		return s.enc.Fail(nil, e)
	}
	return c.ep.inbound.NewStreamEncoder().Fail(nil, e)
}

// settleStreamUsage records the upstream's counts, estimating only what the
// upstream never reported (a stream cut short before its usage event).
func (c *call) settleStreamUsage(s *streamPump, status int) {
	tokens, ok := s.usage()
	if s.done() && ok {
		c.rec.Tokens = tokens
		return
	}
	if !ok || tokens.Prompt() == 0 {
		tokens.Input = estimateTokens(len(c.body))
		c.rec.Estimated = true
	}
	if est := estimateTokens(s.produced); est > tokens.Output {
		tokens.Output = est
		c.rec.Estimated = true
	}
	c.rec.Tokens = tokens
}

var (
	openAIFinish    = []byte(`"finish_reason":"`)
	anthropicFinish = []byte(`"stop_reason":"`)
)

// finishMarker is the byte pattern of a set finish reason in a
// pass-through event, so that only the event carrying it is parsed.
func finishMarker(ep *endpoint) []byte {
	if ep == epMessages {
		return anthropicFinish
	}
	return openAIFinish
}

// anthropicStops maps Anthropic's stop reasons to canonical finish reasons.
var anthropicStops = map[string]string{
	"end_turn":      chat.FinishStop,
	"stop_sequence": chat.FinishStop,
	"pause_turn":    chat.FinishStop,
	"max_tokens":    chat.FinishLength,
	"tool_use":      chat.FinishToolCalls,
	"refusal":       chat.FinishContentFilter,
}

// nativeFinishReason reads the finish reason of a pass-through body or
// event, in canonical spelling.
func nativeFinishReason(ep *endpoint, data []byte) string {
	if ep == epMessages {
		r := gjson.GetBytes(data, "delta.stop_reason")
		if !r.Exists() {
			r = gjson.GetBytes(data, "stop_reason")
		}
		return anthropicStops[r.Str]
	}
	return gjson.GetBytes(data, "choices.0.finish_reason").Str
}
