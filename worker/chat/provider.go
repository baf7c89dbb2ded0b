package chat

// Op is the kind of upstream call.
type Op int

const (
	OpChat Op = iota
	OpEmbeddings
)

// Provider is one upstream host: where to send a body in its dialect and
// with which credentials. Adding a provider means one folder implementing
// this and one registration line.
type Provider interface {
	// Name is the provider id used in model names ("openai", "anthropic",
	// "google", or an operator-chosen id for an OpenAI-compatible host).
	Name() string
	// Dialect is the wire format the provider speaks.
	Dialect() Outbound
	// NewRequest builds the upstream HTTP request for body, which is already
	// in the provider's dialect. It adds credentials and the URL.
	NewRequest(op Op, model string, stream bool, body []byte) (*HTTPRequest, error)
}

// HTTPRequest is an upstream request, independent of the HTTP library that
// will carry it.
type HTTPRequest struct {
	Method string
	URL    string
	Header [][2]string
	Body   []byte
}

// Embedder is an optional Outbound ability: dialects other than OpenAI's that
// offer embeddings translate OpenAI's embeddings request and response.
type Embedder interface {
	EncodeEmbeddings(r *EmbeddingRequest, model string) ([]byte, error)
	// DecodeEmbeddings returns the response as an OpenAI embeddings body.
	DecodeEmbeddings(body []byte, r *EmbeddingRequest) ([]byte, Tokens, error)
}
