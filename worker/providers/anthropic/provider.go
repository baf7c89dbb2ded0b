package anthropic

import (
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// Options configures a Provider. Every field but APIKey has a usable default.
type Options struct {
	// Name is the provider id used in model names. Default "anthropic".
	Name string
	// BaseURL is the API origin, without /v1. Default https://api.anthropic.com.
	BaseURL string
	// APIKey is sent as x-api-key. Default empty.
	APIKey string
	// Version is the anthropic-version header. Default "2023-06-01", the
	// version whose wire format this package speaks.
	Version string
}

// Provider is Anthropic's API, or anything that serves the Messages API at
// {BaseURL}/v1/messages.
type Provider struct {
	name    string
	url     string
	headers [][2]string
}

// New returns a Provider for o with defaults filled in. It does no I/O.
func New(o Options) *Provider {
	if o.Name == "" {
		o.Name = "anthropic"
	}
	if o.BaseURL == "" {
		o.BaseURL = "https://api.anthropic.com"
	}
	if o.Version == "" {
		o.Version = "2023-06-01"
	}
	return &Provider{
		name: o.Name,
		url:  strings.TrimRight(o.BaseURL, "/") + "/v1/messages",
		headers: [][2]string{
			{"x-api-key", o.APIKey},
			{"anthropic-version", o.Version},
			{"content-type", "application/json"},
		},
	}
}

func (p *Provider) Name() string { return p.name }

func (p *Provider) Dialect() chat.Outbound { return Dialect{} }

// NewRequest builds the POST to /v1/messages. Streams ask for
// text/event-stream; embeddings are a 400, as Anthropic has no such model.
func (p *Provider) NewRequest(op chat.Op, _ string, stream bool, body []byte) (*chat.HTTPRequest, error) {
	if op != chat.OpChat {
		return nil, chat.BadRequest("model", "%s offers no embeddings models", p.name)
	}
	accept := "application/json"
	if stream {
		accept = "text/event-stream"
	}
	return &chat.HTTPRequest{
		Method: http.MethodPost,
		URL:    p.url,
		Header: append(p.headers[:len(p.headers):len(p.headers)], [2]string{"accept", accept}),
		Body:   body,
	}, nil
}
