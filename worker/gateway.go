package worker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/providers/anthropic"
	"github.com/switchyard-ai/switchyard/worker/providers/openai"
)

// Gateway is the edge core. It is safe for concurrent use.
type Gateway struct {
	cfg Config
	// cat is swapped whole when the catalog changes (SetModels); a request
	// keeps the catalog it started with.
	cat      atomic.Pointer[catalog]
	metrics  *metrics
	upstream *upstreamStats
	limits   *limiter
	auth     *authGuard
}

// endpoint is one inbound API route.
type endpoint struct {
	name    string // the usage record's Endpoint
	inbound chat.Inbound
	op      chat.Op
}

var (
	epChat       = &endpoint{name: "chat.completions", inbound: openai.Dialect{}, op: chat.OpChat}
	epMessages   = &endpoint{name: "messages", inbound: anthropic.Dialect{}, op: chat.OpChat}
	epEmbeddings = &endpoint{name: "embeddings", inbound: openai.Dialect{}, op: chat.OpEmbeddings}
	epOther      = &endpoint{name: "other", inbound: openai.Dialect{}}
)

// New validates cfg and returns a gateway. It does no I/O.
func New(cfg Config) (*Gateway, error) {
	cfg.setDefaults()
	var errs []error
	if cfg.Keys == nil {
		errs = append(errs, errors.New("config: Keys is required"))
	}
	if cfg.Upstream == nil {
		errs = append(errs, errors.New("config: Upstream is required"))
	}
	if cfg.MaxAttempts < 1 {
		errs = append(errs, errors.New("config: MaxAttempts must be at least 1"))
	}
	cat, err := newCatalog(&cfg)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, upstream: newUpstreamStats(), limits: newLimiter(cfg.Now), auth: newAuthGuard(cfg.Now, cfg.AuthFailuresPerMinute)}
	g.cat.Store(cat)
	g.metrics = newMetrics(g.catalog)
	return g, nil
}

func (g *Gateway) catalog() *catalog { return g.cat.Load() }

// SetModels replaces the model catalog and aliases, for example when the
// control service publishes new prices. Requests in flight finish with the
// catalog they started with. Models whose provider is not configured at this
// edge are an error, as in New.
func (g *Gateway) SetModels(models []Model, aliases map[string][]string) error {
	cfg := g.cfg
	cfg.Models, cfg.Aliases = models, aliases
	cat, err := newCatalog(&cfg)
	if err != nil {
		return err
	}
	g.cat.Store(cat)
	return nil
}

// HasProvider reports whether a provider is configured, so that a catalog
// from elsewhere can be filtered to what this edge can serve.
func (g *Gateway) HasProvider(name string) bool {
	_, ok := g.catalog().providers[name]
	return ok
}

// MaxBodyBytes is the request body limit adapters must enforce.
func (g *Gateway) MaxBodyBytes() int64 { return g.cfg.MaxBodyBytes }

// Serve handles one request.
func (g *Gateway) Serve(req *Request, w Responder) {
	switch req.Path {
	case "/v1/chat/completions", "/chat/completions":
		g.serveModelCall(req, w, epChat)
	case "/v1/messages":
		g.serveModelCall(req, w, epMessages)
	case "/v1/embeddings", "/embeddings":
		g.serveModelCall(req, w, epEmbeddings)
	case "/v1/models", "/models":
		g.serveModels(req, w)
	case "/healthz":
		w.Respond(http.StatusOK, [][2]string{{"Content-Type", "application/json"}}, []byte(`{"status":"ok"}`))
	case "/metrics":
		w.Respond(http.StatusOK, [][2]string{{"Content-Type", "text/plain; version=0.0.4"}}, g.metrics.render())
	default:
		g.respondError(w, epOther, "", chat.Errorf(http.StatusNotFound, chat.TypeNotFound, "no route for %s %s", req.Method, safePath(req.Path)))
	}
}

// safePath keeps log and error text bounded and printable.
func safePath(p string) string {
	if len(p) > 64 {
		p = p[:64] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, p)
}

// ReportTooLarge answers a body over the limit; adapters call it when they
// stop reading.
func (g *Gateway) ReportTooLarge(path string, w Responder) {
	ep := epChat
	if path == "/v1/messages" {
		ep = epMessages
	}
	g.metrics.request(ep.name, "", "", http.StatusRequestEntityTooLarge)
	g.respondError(w, ep, "", chat.Errorf(http.StatusRequestEntityTooLarge, chat.TypeTooLarge,
		"request body exceeds the limit of %d bytes", g.cfg.MaxBodyBytes))
}

// respondError answers with e in the endpoint's error format; extra are
// the tenant plugin's headers, when it routed the request.
func (g *Gateway) respondError(w Responder, ep *endpoint, requestID string, e *chat.Error, extra ...[2]string) {
	h := make([][2]string, 0, 3+len(extra))
	h = append(h, [2]string{"Content-Type", "application/json"})
	if requestID != "" {
		h = append(h, [2]string{"X-Request-Id", requestID})
	}
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		h = append(h, [2]string{"Retry-After", fmt.Sprint(secs)})
	}
	h = withPluginHeaders(h, extra)
	w.Respond(e.Status, h, ep.inbound.EncodeError(e))
}

// authenticate reads the key from Authorization: Bearer or x-api-key. An
// address with too many recent failures is refused before its key is
// looked at.
func (g *Gateway) authenticate(req *Request) (*Key, *chat.Error) {
	if wait, blocked := g.auth.blocked(req.RemoteIP); blocked {
		return nil, authThrottled(wait)
	}
	key, err := g.checkKey(req)
	if err != nil && err.Status != http.StatusServiceUnavailable {
		g.auth.failed(req.RemoteIP)
	}
	return key, err
}

func (g *Gateway) checkKey(req *Request) (*Key, *chat.Error) {
	secret := ""
	if auth := req.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, invalidKey("Authorization header must be \"Bearer <key>\"")
		}
		secret = strings.TrimSpace(token)
	} else {
		secret = req.Header.Get("X-Api-Key")
	}
	if secret == "" {
		return nil, invalidKey("missing API key: send Authorization: Bearer <key> or x-api-key")
	}
	key, err := g.cfg.Keys.Resolve(req.ctx(), secret)
	if err != nil {
		return nil, keyError(err)
	}
	if key.ExpiresAt != nil && !g.cfg.Now().Before(*key.ExpiresAt) {
		return nil, keyError(ErrKeyExpired)
	}
	return key, nil
}

// newRequestID returns a random id; it links a client's answer, the log line
// and the usage record without carrying anything the client sent.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// sameDialect reports whether a body in the inbound style can pass through
// to the provider untouched.
func sameDialect(in chat.Inbound, out chat.Outbound) bool {
	return reflect.TypeOf(in) == reflect.TypeOf(out)
}

// invalidKey is a 401 as OpenAI words it (invalid_request_error with code
// invalid_api_key); the Anthropic style maps 401 to authentication_error.
func invalidKey(msg string) *chat.Error {
	e := chat.Errorf(http.StatusUnauthorized, chat.TypeInvalidRequest, "%s", msg)
	e.Code = "invalid_api_key"
	return e
}

// keyError turns a resolver's refusal into the client's error.
func keyError(err error) *chat.Error {
	switch {
	case errors.Is(err, ErrUnknownKey):
		return invalidKey("invalid API key")
	case errors.Is(err, ErrKeyRevoked):
		e := invalidKey("this API key has been revoked")
		e.Code = "key_revoked"
		return e
	case errors.Is(err, ErrKeyExpired):
		e := invalidKey("this API key has expired")
		e.Code = "key_expired"
		return e
	case errors.Is(err, ErrKeySuspended):
		e := chat.Errorf(http.StatusForbidden, chat.TypePermission, "this API key or its account is suspended")
		e.Code = "key_suspended"
		return e
	}
	e := chat.Errorf(http.StatusServiceUnavailable, chat.TypeServer, "API keys cannot be checked right now; retry shortly")
	e.Cause, e.RetryAfter = err, time.Second
	return e
}
