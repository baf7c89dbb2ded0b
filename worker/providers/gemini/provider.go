package gemini

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// Options configures one Gemini API account. The zero value of every field
// but APIKey is a working default.
type Options struct {
	// Name is the provider id used in model names. Default "google".
	Name string
	// BaseURL is the API host, without the version. Default
	// "https://generativelanguage.googleapis.com".
	BaseURL string
	// APIKey is sent in the x-goog-api-key header. Empty sends no key
	// header, for an emulator or a proxy that adds credentials itself.
	APIKey string
	// APIVersion is the path version. Default "v1beta": parametersJsonSchema,
	// responseJsonSchema and thinkingConfig, which the dialect relies on, are
	// not all in v1.
	APIVersion string
}

// Provider is a Gemini API account.
type Provider struct {
	name    string
	baseURL string
	apiKey  string
	version string
}

var _ chat.Provider = (*Provider)(nil)

// New applies o's defaults. It has no side effects.
func New(o Options) *Provider {
	p := &Provider{name: o.Name, baseURL: strings.TrimRight(o.BaseURL, "/"), apiKey: o.APIKey, version: strings.Trim(o.APIVersion, "/")}
	if p.name == "" {
		p.name = "google"
	}
	if p.baseURL == "" {
		p.baseURL = "https://generativelanguage.googleapis.com"
	}
	if p.version == "" {
		p.version = "v1beta"
	}
	return p
}

func (p *Provider) Name() string { return p.name }

func (p *Provider) Dialect() chat.Outbound { return Dialect{} }

// NewRequest builds the upstream call. The key travels in a header, never in
// the URL's ?key= parameter, so URLs can be logged without leaking it. The
// model name is path-escaped: it may come from a tenant plugin's rewrite.
func (p *Provider) NewRequest(op chat.Op, model string, stream bool, body []byte) (*chat.HTTPRequest, error) {
	name := strings.TrimPrefix(model, "models/")
	if name == "" {
		return nil, errors.New("gemini: empty model name")
	}
	var method string
	switch {
	case op == chat.OpChat && stream:
		method = ":streamGenerateContent?alt=sse"
	case op == chat.OpChat:
		method = ":generateContent"
	case op == chat.OpEmbeddings:
		method = ":batchEmbedContents"
	default:
		return nil, fmt.Errorf("gemini: unsupported operation %d", op)
	}
	req := &chat.HTTPRequest{
		Method: http.MethodPost,
		URL:    p.baseURL + "/" + p.version + "/models/" + url.PathEscape(name) + method,
		Header: [][2]string{{"Content-Type", "application/json"}},
		Body:   body,
	}
	if p.apiKey != "" {
		req.Header = append(req.Header, [2]string{"x-goog-api-key", p.apiKey})
	}
	return req, nil
}
