package gemini

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/sse"
)

// trickle returns at most n bytes per Read, so every event arrives split
// across reads.
type trickle struct {
	r io.Reader
	n int
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(p) > t.n {
		p = p[:t.n]
	}
	return t.r.Read(p)
}

// streamResult is what a whole transcript decodes to.
type streamResult struct {
	Chunks []chat.Chunk `json:"chunks"`
	Usage  *chat.Tokens `json:"usage"`
	Done   bool         `json:"done"`
	Status int          `json:"error_status,omitempty"`
	Error  string       `json:"error,omitempty"`
}

func decodeTranscript(t *testing.T, transcript []byte, readSize int) streamResult {
	t.Helper()
	rd := sse.NewReader(&trickle{r: strings.NewReader(string(transcript)), n: readSize})
	dec := Dialect{}.NewStreamDecoder()
	var res streamResult
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("sse: %v", err)
		}
		chunks, err := dec.Decode(ev)
		if err != nil {
			var e *chat.Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode: %v, want *chat.Error", err)
			}
			res.Status, res.Error = e.Status, e.Message
			break
		}
		for _, c := range chunks {
			c.Created = 0
			res.Chunks = append(res.Chunks, c)
		}
	}
	if u, ok := dec.Usage(); ok {
		res.Usage = &u
	}
	res.Done = dec.Done()
	return res
}

func TestStreamDecoderGolden(t *testing.T) {
	for name, path := range inputs(t, "stream", ".sse") {
		t.Run(name, func(t *testing.T) {
			transcript := readFile(t, path)
			res := decodeTranscript(t, transcript, 3)
			got, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, strings.TrimSuffix(path, ".sse")+".golden.json", got)
			whole, _ := json.Marshal(decodeTranscript(t, transcript, 1<<20))
			if string(whole) != string(got) {
				t.Error("decoding depends on how the transcript is split into reads")
			}
		})
	}
}

func TestStreamDecoder(t *testing.T) {
	tests := []struct {
		file       string
		wantText   string
		wantFinish string
		wantCalls  []string // name(arguments), in index order
		wantTokens *chat.Tokens
		wantDone   bool
		wantStatus int
	}{
		{file: "text", wantText: "Bonjour à « tous » — ça va ?\nFin.", wantFinish: chat.FinishStop,
			wantTokens: &chat.Tokens{Input: 12, Output: 28, Reasoning: 14}, wantDone: true},
		{file: "tool_calls", wantText: "Checking.", wantFinish: chat.FinishToolCalls,
			wantCalls:  []string{`get_weather({"city":"Paris"})`, `get_weather({"city":"Oslo"})`, `now({})`},
			wantTokens: &chat.Tokens{Input: 60, Output: 55, Reasoning: 30}, wantDone: true},
		{file: "max_tokens_lf", wantText: "Once upon", wantFinish: chat.FinishLength,
			wantTokens: &chat.Tokens{Input: 5, Output: 2}, wantDone: true},
		{file: "prompt_blocked", wantFinish: chat.FinishContentFilter, wantTokens: &chat.Tokens{Input: 9}, wantDone: true},
		{file: "error", wantText: "Partial", wantStatus: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			res := decodeTranscript(t, readFile(t, "testdata/stream/"+tt.file+".sse"), 5)
			var text strings.Builder
			var finish string
			var calls []string
			for i, c := range res.Chunks {
				if i == 0 && (len(c.Choices) != 1 || c.Choices[0].Delta.Role != "assistant") {
					t.Errorf("first chunk %+v does not announce the assistant role", c)
				}
				if c.ID != res.Chunks[0].ID || c.Object != "chat.completion.chunk" {
					t.Errorf("chunk %d: id %q object %q", i, c.ID, c.Object)
				}
				if len(c.Choices) == 0 {
					if c.Usage == nil || i != len(res.Chunks)-1 {
						t.Errorf("chunk %d: an empty-choices chunk must be the final usage chunk", i)
					}
					continue
				}
				d := c.Choices[0].Delta
				if d.Content != nil {
					text.WriteString(*d.Content)
				}
				for _, tc := range d.ToolCalls {
					if tc.Index == nil || *tc.Index != len(calls) || tc.ID == "" || tc.Type != "function" {
						t.Errorf("tool call delta %+v: want index %d, an id and type function", tc, len(calls))
					}
					calls = append(calls, tc.Function.Name+"("+tc.Function.Arguments+")")
				}
				if f := c.Choices[0].FinishReason; f != nil {
					finish = *f
				}
			}
			if text.String() != tt.wantText {
				t.Errorf("text = %q, want %q", text.String(), tt.wantText)
			}
			if finish != tt.wantFinish {
				t.Errorf("finish = %q, want %q", finish, tt.wantFinish)
			}
			if strings.Join(calls, " ") != strings.Join(tt.wantCalls, " ") {
				t.Errorf("calls = %v, want %v", calls, tt.wantCalls)
			}
			if (res.Usage == nil) != (tt.wantTokens == nil) || (res.Usage != nil && *res.Usage != *tt.wantTokens) {
				t.Errorf("usage = %+v, want %+v", res.Usage, tt.wantTokens)
			}
			if res.Done != tt.wantDone {
				t.Errorf("done = %v, want %v", res.Done, tt.wantDone)
			}
			if res.Status != tt.wantStatus {
				t.Errorf("error status = %d (%s), want %d", res.Status, res.Error, tt.wantStatus)
			}
		})
	}
}

// The stream and the complete response of one upstream answer must name
// tool calls alike, or a client mixing both would see two ids for a call.
func TestStreamAndResponseShareToolCallIDs(t *testing.T) {
	body := readFile(t, "testdata/decode/function_calls.json")
	resp, err := Dialect{}.DecodeResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	ev := &sse.Event{Data: body}
	chunks, err := Dialect{}.NewStreamDecoder().Decode(ev)
	if err != nil {
		t.Fatal(err)
	}
	var streamed []string
	for _, c := range chunks {
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				streamed = append(streamed, tc.ID)
			}
		}
	}
	var complete []string
	for _, tc := range resp.Choices[0].Message.ToolCalls {
		complete = append(complete, tc.ID)
	}
	if strings.Join(streamed, ",") != strings.Join(complete, ",") {
		t.Errorf("streamed ids %v, complete ids %v", streamed, complete)
	}
}

func TestStreamTap(t *testing.T) {
	tests := []struct {
		file       string
		wantTokens *chat.Tokens
		wantDone   bool
		wantErr    bool
	}{
		{file: "text", wantTokens: &chat.Tokens{Input: 12, Output: 28, Reasoning: 14}, wantDone: true},
		{file: "prompt_blocked", wantTokens: &chat.Tokens{Input: 9}, wantDone: true},
		{file: "error", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rd := sse.NewReader(&trickle{r: strings.NewReader(string(readFile(t, "testdata/stream/"+tt.file+".sse"))), n: 7})
			tap := Dialect{}.NewStreamTap(false)
			var gotErr error
			for {
				ev, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				fwd, err := tap.Tap(ev)
				if err != nil {
					gotErr = err
					break
				}
				if !fwd {
					t.Error("tap held back an event; Gemini has no usage-only events to hold back")
				}
			}
			var e *chat.Error
			if tt.wantErr != errors.As(gotErr, &e) {
				t.Errorf("err = %v, want error %v", gotErr, tt.wantErr)
			}
			u, ok := tap.Usage()
			if ok != (tt.wantTokens != nil) || (ok && u != *tt.wantTokens) {
				t.Errorf("usage = %+v, %v; want %+v", u, ok, tt.wantTokens)
			}
			if tap.Done() != tt.wantDone {
				t.Errorf("done = %v, want %v", tap.Done(), tt.wantDone)
			}
		})
	}
}
