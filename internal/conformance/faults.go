package conformance

import (
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/chat"
)

// testErrors checks that the edge's errors reach each SDK as its own API
// error type, with the status and error type that style documents.
func (s *suite) testErrors(t *testing.T) {
	const prompt = "This should fail"
	for _, st := range styles {
		for _, tc := range []struct {
			name   string
			key    string
			model  string
			status int
			// errType is per style: OpenAI words a bad key as
			// invalid_request_error, Anthropic as authentication_error.
			errType map[string]string
		}{
			{"invalid key", "sk-sy-conformance-not-a-key", "openai/gpt-4o-mini", 401,
				map[string]string{"openai": chat.TypeInvalidRequest, "anthropic": chat.TypeAuthentication}},
			{"unknown model", s.tg.APIKey, "openai/no-such-model", 404,
				map[string]string{"openai": chat.TypeNotFound, "anthropic": chat.TypeNotFound}},
		} {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				c := st.open(t, s, tc.key)
				for _, stream := range []bool{false, true} {
					_, err := call(t, c, chatRequest{model: tc.model, stream: stream, turns: []turn{user(prompt)}})
					checkAPIError(t, c, mode(stream), err, tc.status, tc.errType[st.name])
				}
			})
		}
	}
	// Every attempt upstream answers 503: after its retries the edge says
	// 503 too, in each style's own words, without the provider's secrets.
	s.each(t, func(t *testing.T, st style, c client, p provider) {
		for _, stream := range []bool{false, true} {
			r := chatRequest{model: p.faultModel(faultUnavailable), stream: stream, turns: []turn{user(prompt)}}
			rep, err := call(t, c, r)
			checkAPIError(t, c, mode(stream), err, 503, st.unavailable)
			if rec, ok := s.record(t, rep.requestID); ok && (rec.Status != 503 || rec.Attempts < 2) {
				t.Errorf("%s: record has status %d after %d attempts, want 503 after retrying", mode(stream), rec.Status, rec.Attempts)
			}
		}
	})
}

func checkAPIError(t *testing.T, c client, mode string, err error, status int, errType string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want status %d", mode, status)
		return
	}
	e, ok := c.apiError(err)
	if !ok {
		t.Errorf("%s: error %T %v is not the SDK's API error", mode, err, err)
		return
	}
	if e.status != status || e.typ != errType {
		t.Errorf("%s: status %d type %q, want %d %q: %s", mode, e.status, e.typ, status, errType, e.body)
	}
	checkNoSecrets(t, mode+" error", e.body)
}

// testFallbacks checks Switchyard's own request fields, sent as each SDK
// sends fields it does not model. The reply text names the model that
// answered, so the served model is visible without usage records too.
func (s *suite) testFallbacks(t *testing.T) {
	const prompt = "Who answers this one"
	openai, anthropic, google := providers[0], providers[1], providers[2]
	for _, st := range styles {
		for _, tc := range []struct {
			name   string
			model  string
			stream bool
			extra  map[string]any
			// served is the model that must answer; "" means none can.
			served string
		}{
			{
				name:   "models list after 503s",
				model:  openai.faultModel(faultUnavailable),
				extra:  map[string]any{"models": []string{google.model}},
				served: google.model,
			},
			{
				name:   "models list for a stream after 503s",
				model:  anthropic.faultModel(faultUnavailable),
				stream: true,
				extra:  map[string]any{"models": []string{openai.model}},
				served: openai.model,
			},
			{
				name:   "provider order",
				model:  openai.model,
				extra:  map[string]any{"models": []string{anthropic.model}, "provider": map[string]any{"order": []string{"anthropic"}}},
				served: anthropic.model,
			},
			{
				name:   "provider ignore",
				model:  openai.model,
				stream: true,
				extra:  map[string]any{"models": []string{google.model}, "provider": map[string]any{"ignore": []string{"openai"}}},
				served: google.model,
			},
			{
				name:  "fallbacks not allowed",
				model: google.faultModel(faultUnavailable),
				extra: map[string]any{"models": []string{openai.model}, "provider": map[string]any{"allow_fallbacks": false}},
			},
		} {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				c := st.open(t, s, s.tg.APIKey)
				r := chatRequest{model: tc.model, stream: tc.stream, extra: tc.extra, turns: []turn{user(prompt)}}
				rep, err := call(t, c, r)
				if tc.served == "" {
					checkAPIError(t, c, mode(tc.stream), err, 503, st.unavailable)
					if rec, ok := s.record(t, rep.requestID); ok && (rec.Status != 503 || rec.ServedModel != "") {
						t.Errorf("record has status %d served by %q, want 503 served by none", rec.Status, rec.ServedModel)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				upstream := tc.served[strings.Index(tc.served, "/")+1:]
				if want := echo(upstream, prompt, 0); rep.text != want {
					t.Errorf("text %q, want %q", rep.text, want)
				}
				s.checkRecord(t, r, rep, tc.served)
			})
		}
	}
}

// testStreamBreaks checks that a stream the provider breaks off after it
// began reaches each SDK as an error, never as a short answer that looks
// complete.
func (s *suite) testStreamBreaks(t *testing.T) {
	const prompt = "Tell me a long story about streams that break in the middle"
	s.each(t, func(t *testing.T, _ style, c client, p provider) {
		r := chatRequest{model: p.faultModel(faultMidStream), stream: true, turns: []turn{user(prompt)}}
		rep, err := call(t, c, r)
		if err == nil {
			t.Fatalf("the SDK reported success with text %q, finish %q", rep.text, rep.finish)
		}
		full := echo("conformance-midstream", prompt, 0)
		if !strings.HasPrefix(full, rep.text) || rep.text == full {
			t.Errorf("text before the error %q, want a proper prefix of %q", rep.text, full)
		}
		checkNoSecrets(t, "stream error", err.Error())
		if rec, ok := s.record(t, rep.requestID); ok && rec.Status != 502 {
			t.Errorf("record has status %d, want 502", rec.Status)
		}
	})
}

// testHangUp cancels streams after a few events: the edge must record the
// request as 499 and bill what was produced.
func (s *suite) testHangUp(t *testing.T) {
	s.each(t, func(t *testing.T, _ style, c client, p provider) {
		rep, err := call(t, c, chatRequest{model: p.faultModel(faultHangUp), stream: true, hangUpAfter: 3, turns: []turn{user("Go on and on")}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.events != 3 {
			t.Fatalf("the stream ended after %d events, before the client hung up", rep.events)
		}
		rec, ok := s.record(t, rep.requestID)
		if !ok {
			return
		}
		if rec.Status != worker.StatusClientClosed || rec.Tokens.Input == 0 || rec.Tokens.Output == 0 {
			t.Errorf("record has status %d and tokens %+v; want %d with what was read and produced", rec.Status, rec.Tokens, worker.StatusClientClosed)
		}
	})
}
