package openai

import (
	"strings"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// Options configures an OpenAI or OpenAI-compatible upstream.
type Options struct {
	// Name is the provider id in model names. Default "openai".
	Name string
	// BaseURL is the API root including the version path.
	// Default "https://api.openai.com/v1".
	BaseURL string
	// APIKey is sent as a bearer token; empty sends no Authorization header
	// (some self-hosted compatible servers need none).
	APIKey string
	// Header holds extra headers for every request (for example
	// OpenAI-Organization). Default none.
	Header [][2]string
}

// Provider is an OpenAI-compatible upstream.
type Provider struct {
	name    string
	base    string
	auth    string
	header  [][2]string
	dialect Dialect
}

var _ chat.Provider = (*Provider)(nil)

// New returns a provider; it does no I/O.
func New(o Options) *Provider {
	if o.Name == "" {
		o.Name = "openai"
	}
	if o.BaseURL == "" {
		o.BaseURL = "https://api.openai.com/v1"
	}
	p := &Provider{
		name:    o.Name,
		base:    strings.TrimRight(o.BaseURL, "/"),
		header:  o.Header,
		dialect: Dialect{Provider: o.Name},
	}
	if o.APIKey != "" {
		p.auth = "Bearer " + o.APIKey
	}
	return p
}

func (p *Provider) Name() string           { return p.name }
func (p *Provider) Dialect() chat.Outbound { return p.dialect }

func (p *Provider) NewRequest(op chat.Op, model string, stream bool, body []byte) (*chat.HTTPRequest, error) {
	path := "/chat/completions"
	if op == chat.OpEmbeddings {
		path = "/embeddings"
	}
	h := make([][2]string, 0, 3+len(p.header))
	h = append(h, [2]string{"Content-Type", "application/json"})
	if p.auth != "" {
		h = append(h, [2]string{"Authorization", p.auth})
	}
	if stream {
		h = append(h, [2]string{"Accept", "text/event-stream"})
	}
	h = append(h, p.header...)
	return &chat.HTTPRequest{Method: "POST", URL: p.base + path, Header: h, Body: body}, nil
}
