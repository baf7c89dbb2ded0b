package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard-ai/switchyard/internal/openapispec"
)

// wireCheck keeps the raw bytes of every exchange an OpenAI SDK client makes
// and, when the test ends, checks each body, stream chunk and error against
// the OpenAPI description. The SDK decodes leniently; the schema does not.
type wireCheck struct {
	t         *testing.T
	mu        sync.Mutex
	exchanges []*exchange
}

type exchange struct {
	path        string
	status      int
	contentType string
	body        *teeBody
}

func newWireCheck(t *testing.T) *wireCheck {
	w := &wireCheck{t: t}
	t.Cleanup(w.check)
	return w
}

func (w *wireCheck) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	resp, err := next(req)
	if err != nil {
		return resp, err
	}
	tee := &teeBody{rc: resp.Body}
	resp.Body = tee
	w.mu.Lock()
	w.exchanges = append(w.exchanges, &exchange{
		path: req.URL.Path, status: resp.StatusCode,
		contentType: resp.Header.Get("Content-Type"), body: tee,
	})
	w.mu.Unlock()
	return resp, nil
}

// teeBody keeps what the SDK read; only that is checked, so a stream the
// client left early is checked up to where it stopped.
type teeBody struct {
	rc  io.ReadCloser
	mu  sync.Mutex
	buf bytes.Buffer
	eof bool
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	b.buf.Write(p[:n])
	b.eof = b.eof || err == io.EOF
	b.mu.Unlock()
	return n, err
}

func (b *teeBody) Close() error { return b.rc.Close() }

// bytes returns what was read, and whether the body was read to its end.
func (b *teeBody) bytes() ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes()), b.eof
}

func (w *wireCheck) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ex := range w.exchanges {
		body, complete := ex.body.bytes()
		name := strings.TrimPrefix(ex.path, "/v1")
		switch {
		case ex.status != http.StatusOK:
			w.validate(name, "ErrorResponse", body)
		case strings.HasPrefix(ex.contentType, "text/event-stream"):
			w.checkStream(name, body, complete)
		case name == "/chat/completions":
			w.validate(name, "CreateChatCompletionResponse", body)
		case name == "/embeddings":
			w.validate(name, "CreateEmbeddingResponse", floatEmbeddings(w.t, body))
		case name == "/models":
			w.validate(name, "ListModelsResponse", body)
		default:
			w.t.Errorf("wire check: no schema for a 200 from %s", ex.path)
		}
	}
}

// checkStream checks each complete event; an error object sent in the
// stream must be OpenAI's error object. A stream read to its end must end
// with [DONE] or an error: the SDK takes a stream that just stops for a
// finished one.
func (w *wireCheck) checkStream(name string, body []byte, complete bool) {
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	events := bytes.Split(body, []byte("\n\n"))
	// The last piece is whatever followed the final blank line: empty for a
	// finished stream, a partial event for one the client left.
	last := ""
	for _, ev := range events[:len(events)-1] {
		var data []byte
		for _, line := range bytes.Split(ev, []byte("\n")) {
			if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				data = append(data, bytes.TrimPrefix(d, []byte(" "))...)
			}
		}
		if len(data) == 0 {
			continue
		}
		last = "chunk"
		if string(data) == "[DONE]" {
			last = "[DONE]"
			continue
		}
		schema := "CreateChatCompletionStreamResponse"
		if bytes.HasPrefix(data, []byte(`{"error"`)) {
			schema, last = "ErrorResponse", "error"
		}
		w.validate(name+" stream event", schema, data)
	}
	if complete && last == "chunk" {
		w.t.Errorf("%s: the stream ended after a chunk, with neither [DONE] nor an error event", name)
	}
}

func (w *wireCheck) validate(what, schema string, doc []byte) {
	if err := openapispec.Validator(w.t, schema)(doc); err != nil {
		w.t.Errorf("%s does not match the OpenAPI schema: %v\n%s", what, err, doc)
	}
}

// floatEmbeddings rewrites base64 embeddings as the float arrays they
// encode, since the OpenAPI description only describes the float form.
func floatEmbeddings(t *testing.T, body []byte) []byte {
	var doc map[string]any
	if json.Unmarshal(body, &doc) != nil {
		return body
	}
	data, _ := doc["data"].([]any)
	for _, d := range data {
		item, _ := d.(map[string]any)
		s, ok := item["embedding"].(string)
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(raw)%4 != 0 {
			t.Errorf("embedding %v is not base64 of little-endian float32s: %.40q", item["index"], s)
			continue
		}
		floats := make([]float64, len(raw)/4)
		for i := range floats {
			floats[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		}
		item["embedding"] = floats
	}
	out, _ := json.Marshal(doc)
	return out
}
