package conformance

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// callTimeout bounds one SDK call, so that a hung edge fails the test
// instead of the whole run.
const callTimeout = 20 * time.Second

// each runs fn as a parallel subtest for every client style and provider.
func (s *suite) each(t *testing.T, fn func(t *testing.T, st style, c client, p provider)) {
	for _, st := range styles {
		for _, p := range providers {
			t.Run(st.name+"/"+p.name, func(t *testing.T) {
				t.Parallel()
				fn(t, st, st.open(t, s, s.tg.APIKey), p)
			})
		}
	}
}

// callContext bounds one SDK call and ends with t.
func callContext(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), callTimeout)
}

func call(t *testing.T, c client, r chatRequest) (reply, error) {
	ctx, cancel := callContext(t)
	defer cancel()
	return c.chat(ctx, r)
}

func mode(stream bool) string {
	if stream {
		return "stream"
	}
	return "JSON"
}

// expect makes the call in r's mode and checks the text, the finish reason
// and the usage the client saw against want, and the usage record against
// what the client saw.
func (s *suite) expect(t *testing.T, c client, r chatRequest, text, finish string, want chat.Tokens) reply {
	t.Helper()
	rep, err := call(t, c, r)
	if err != nil {
		t.Fatalf("%s: %v", mode(r.stream), err)
	}
	if rep.text != text {
		t.Errorf("%s: text %q, want %q", mode(r.stream), rep.text, text)
	}
	if rep.finish != c.finish(finish) {
		t.Errorf("%s: finish reason %q, want %q", mode(r.stream), rep.finish, c.finish(finish))
	}
	if !sameUsage(rep.tokens, want) {
		t.Errorf("%s: usage %+v, want %+v", mode(r.stream), rep.tokens, want)
	}
	s.checkRecord(t, r, rep, r.model)
	return rep
}

// sameUsage compares the counts every client style can see.
func sameUsage(a, b chat.Tokens) bool {
	a.Reasoning, b.Reasoning = 0, 0
	return a == b
}

// checkRecord compares the usage record of a successful call with what the
// client was told.
func (s *suite) checkRecord(t *testing.T, r chatRequest, rep reply, served string) {
	t.Helper()
	rec, ok := s.record(t, rep.requestID)
	if !ok {
		return
	}
	if rec.Status != 200 || rec.Model != r.model || rec.ServedModel != served || rec.Stream != r.stream {
		t.Errorf("%s: record has status %d, model %q served by %q, stream %v; want 200, %q served by %q, stream %v",
			mode(r.stream), rec.Status, rec.Model, rec.ServedModel, rec.Stream, r.model, served, r.stream)
	}
	if rec.Estimated || !sameUsage(rec.Tokens, rep.tokens) {
		t.Errorf("%s: record usage %+v (estimated %v), but the client was told %+v", mode(r.stream), rec.Tokens, rec.Estimated, rep.tokens)
	}
}

// both runs r as JSON and as a stream with the same expectations, so the
// streamed usage is also the JSON usage.
func (s *suite) both(t *testing.T, c client, r chatRequest, text, finish string, want chat.Tokens) {
	t.Helper()
	r.stream = false
	s.expect(t, c, r, text, finish, want)
	r.stream = true
	s.expect(t, c, r, text, finish, want)
}

func (s *suite) testText(t *testing.T) {
	const prompt = "Say hello to the conformance suite in a few short words please"
	s.each(t, func(t *testing.T, _ style, c client, p provider) {
		text := echo(p.upstream(), prompt, 0)
		s.both(t, c, chatRequest{model: p.model, turns: []turn{user(prompt)}},
			text, chat.FinishStop, chat.Tokens{Input: promptTokens(prompt), Output: wordCount(text)})
	})
}

// testConversation checks that a system prompt and every earlier turn reach
// the provider: the emulator counts each of them in the prompt tokens.
func (s *suite) testConversation(t *testing.T) {
	const (
		system = "You are a terse assistant for the conformance suite."
		first  = "My name is Ada."
		answer = "Nice to meet you, Ada."
		last   = "What is my name? Answer in one short sentence please."
	)
	s.each(t, func(t *testing.T, _ style, c client, p provider) {
		text := echo(p.upstream(), last, 0)
		s.both(t, c, chatRequest{model: p.model, system: system, turns: []turn{user(first), assistant(answer), user(last)}},
			text, chat.FinishStop, chat.Tokens{Input: promptTokens(system, first, answer, last), Output: wordCount(text)})
	})
}

func (s *suite) testImage(t *testing.T) {
	const prompt = "Describe this picture"
	s.each(t, func(t *testing.T, _ style, c client, p provider) {
		text := echo(p.upstream(), prompt, 1)
		s.both(t, c, chatRequest{model: p.model, turns: []turn{{role: "user", text: prompt, image: true}}},
			text, chat.FinishStop, chat.Tokens{Input: promptTokens(prompt) + imageTokens, Output: wordCount(text)})
	})
}

func (s *suite) testMaxTokens(t *testing.T) {
	const prompt = "Tell me everything about the conformance suite"
	s.each(t, func(t *testing.T, _ style, c client, p provider) {
		s.both(t, c, chatRequest{model: p.model, maxTokens: 3, turns: []turn{user(prompt)}},
			firstWords(echo(p.upstream(), prompt, 0), 3), chat.FinishLength, chat.Tokens{Input: promptTokens(prompt), Output: 3})
	})
}

// testCachedUsage checks that cached prompt tokens and reasoning tokens are
// carried into each client style's own convention and into the record.
func (s *suite) testCachedUsage(t *testing.T) {
	const prompt = "Use the cache"
	s.each(t, func(t *testing.T, st style, c client, p provider) {
		r := chatRequest{model: p.faultModel(faultCached), turns: []turn{user(prompt)}}
		text := echo("conformance-cached", prompt, 0)
		want := chat.Tokens{Input: promptTokens(prompt), CachedInput: cachedTokens, Output: wordCount(text) + reasoningTokens}
		s.both(t, c, r, text, chat.FinishStop, want)
		if st.name != "openai" || p.name == "anthropic" {
			// Anthropic reports thinking only inside output_tokens, and its
			// Messages API has no field to tell clients the share.
			return
		}
		rep, err := call(t, c, r)
		if err != nil {
			t.Fatal(err)
		}
		if rep.tokens.Reasoning != reasoningTokens {
			t.Errorf("reasoning_tokens %d, want %d", rep.tokens.Reasoning, reasoningTokens)
		}
		if rec, ok := s.record(t, rep.requestID); ok && rec.Tokens.Reasoning != reasoningTokens {
			t.Errorf("record has %d reasoning tokens, want %d", rec.Tokens.Reasoning, reasoningTokens)
		}
	})
}

// testTools asks for two tools in one turn, checks that the SDK assembles
// both calls (from JSON and from streamed deltas), then sends the results
// back as the SDK's own message plus tool results and expects the final text.
func (s *suite) testTools(t *testing.T) {
	const question = "What are the weather and the time in Paris?"
	callTokens := 0
	for _, tc := range wantCalls {
		callTokens += (len(tc.args)+3)/4 + 3
	}
	s.each(t, func(t *testing.T, _ style, c client, p provider) {
		for _, stream := range []bool{false, true} {
			first := chatRequest{model: p.model, tools: true, stream: stream, turns: []turn{user(question)}}
			rep := s.expect(t, c, first, "", chat.FinishToolCalls, chat.Tokens{Input: promptTokens(question), Output: callTokens})
			checkToolCalls(t, mode(stream), rep.toolCalls)
			if t.Failed() {
				return
			}
			second := chatRequest{model: p.model, tools: true, stream: stream, turns: []turn{user(question), toolResults(&rep)}}
			final, err := call(t, c, second)
			if err != nil {
				t.Fatalf("%s, second turn: %v", mode(stream), err)
			}
			if final.text != "Got 2 tool result(s)." || final.finish != c.finish(chat.FinishStop) || len(final.toolCalls) != 0 {
				t.Errorf("%s, second turn: text %q, finish %q, %d tool calls; want the emulator's answer to two results, %q",
					mode(stream), final.text, final.finish, len(final.toolCalls), c.finish(chat.FinishStop))
			}
			s.checkRecord(t, second, final, p.model)
		}
	})
}

func checkToolCalls(t *testing.T, mode string, got []toolCall) {
	t.Helper()
	if len(got) != len(wantCalls) {
		t.Fatalf("%s: %d tool calls %+v, want %d", mode, len(got), got, len(wantCalls))
	}
	for i, want := range wantCalls {
		var args, wantArgs any
		if err := json.Unmarshal([]byte(got[i].args), &args); err != nil {
			t.Errorf("%s: call %d arguments %q are not JSON: %v", mode, i, got[i].args, err)
			continue
		}
		_ = json.Unmarshal([]byte(want.args), &wantArgs)
		if got[i].name != want.name || !reflect.DeepEqual(args, wantArgs) {
			t.Errorf("%s: call %d is %s(%s), want %s(%s)", mode, i, got[i].name, got[i].args, want.name, want.args)
		}
	}
	if got[0].id == "" || got[0].id == got[1].id {
		t.Errorf("%s: tool call ids %q and %q must be set and distinct", mode, got[0].id, got[1].id)
	}
}
