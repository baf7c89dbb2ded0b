// Package emulator is Switchyard's provider emulator: the project's only
// stand-in for the real OpenAI, Anthropic and Google Gemini APIs. It serves
// all three from one http.Handler so the gateway can be built and tested
// offline, and it speaks each provider's documented wire format closely
// enough that the official Go SDKs (openai-go, anthropic-sdk-go, genai) work
// against it unchanged. It is a test double, not a model: replies are
// deterministic functions of the request.
//
// # Routes
//
// OpenAI (any non-empty "Authorization: Bearer" key):
//
//	POST /v1/chat/completions   JSON, or SSE with stream:true
//	POST /v1/embeddings
//	GET  /v1/models
//
// Anthropic (any non-empty x-api-key, and an anthropic-version header):
//
//	POST /v1/messages           JSON, or SSE with stream:true
//
// Gemini (any non-empty x-goog-api-key header or key query parameter; a
// missing key is answered 403 PERMISSION_DENIED as Google does):
//
//	POST /v1beta/models/{model}:generateContent
//	POST /v1beta/models/{model}:streamGenerateContent?alt=sse   (without alt=sse: one JSON array)
//	POST /v1beta/models/{model}:embedContent
//	POST /v1beta/models/{model}:batchEmbedContents
//
// The SDKs reach these with base URLs of the form: openai-go
// "<emulator>/v1/", anthropic-sdk-go "<emulator>" (it adds "v1/messages"),
// genai HTTPOptions.BaseURL "<emulator>" (it adds "v1beta/").
//
// # Replies
//
// The reply of a chat turn is chosen in this order:
//
//  1. A matching Rule with Text set: that text.
//  2. The last message carries tool results (OpenAI "tool" messages,
//     Anthropic tool_result blocks, Gemini functionResponse parts):
//     "Got N tool result(s)." with N the number of results.
//  3. The request defines tools, tool choice is not "none", and the last
//     message is a user message: tool calls only, one per defined tool (or
//     only the forced/allowed ones), with arguments built from each tool's
//     JSON schema: every required property filled by type (string "sample"
//     or the first enum value, integer/number 1, boolean true, array [],
//     object recursively from its own required properties).
//  4. Otherwise "Hello from <model>. You said: <first 8 words of the last
//     user text>", followed by " I see N image(s)." when that message
//     carries images. When the request asks for JSON output (OpenAI
//     response_format json_object, Gemini responseMimeType
//     application/json) the reply is {"answer":"<that text>"}; with a schema
//     (json_schema, responseSchema, responseJsonSchema) it is an object
//     built from the schema like tool arguments.
//
// Stop sequences cut the text before their first occurrence. A token limit
// (max_tokens / max_completion_tokens, Anthropic max_tokens, Gemini
// maxOutputTokens) smaller than the word count truncates the text to that many
// words and reports length / max_tokens / MAX_TOKENS. Streams send one text
// delta per word, whitespace kept, so the deltas concatenate to the JSON reply.
//
// # Token counting
//
// Prompt tokens: each message costs 3, plus ceil(bytes/4) for every text it
// carries (text parts, tool-call argument JSON, tool-result content), plus 85
// per image. A system prompt counts as one message; tool definitions are free.
// Completion tokens: the number of whitespace-separated words of the reply
// text, or for tool calls the sum over calls of ceil(len(arguments JSON)/4)+3.
// JSON and streaming answers to the same request report the same counts.
//
// Rule.CachedTokens C and Rule.ReasoningTokens R model a cached prefix and
// hidden reasoning on top of those counts:
//
//	OpenAI:    prompt_tokens = P+C, cached_tokens = C; completion_tokens = W+R, reasoning_tokens = R
//	Anthropic: input_tokens = P, cache_read_input_tokens = C; output_tokens = W+R (thinking is billed as output)
//	Gemini:    promptTokenCount = P+C, cachedContentTokenCount = C; candidatesTokenCount = W, thoughtsTokenCount = R
//
// Response ids (chatcmpl-, msg_, responseId) and tool-call ids (call_ and
// toolu_ followed by 24 hex digits; Gemini function calls carry no id) are
// hashes of the request's content, identical for the JSON and the streaming
// form of the same request; "created" is the real time.
//
// # Streams
//
// OpenAI: "data: <chat.completion.chunk>\n\n" events, then "data: [DONE]\n\n".
// The first chunk carries delta.role "assistant"; a tool call opens with
// {index, id, type, function{name, arguments:""}} and its arguments follow
// in two or more fragments; the last choice chunk has finish_reason; with
// stream_options.include_usage every chunk has "usage":null except one extra
// final chunk with "choices":[] and the usage, and without it no chunk has a
// usage field.
//
// Anthropic: "event: <type>\ndata: <json>\n\n" in the documented order
// message_start, then per block content_block_start, a ping after the first,
// content_block_delta (text_delta or input_json_delta in 2+ pieces),
// content_block_stop, then message_delta and message_stop.
//
// Gemini: "data: <GenerateContentResponse>\r\n\r\n" as Google sends it
// (genai splits on either "\n\n" or "\r\n\r\n" and wants one data line
// per event, no event: lines). Every chunk carries usageMetadata with the
// prompt count; the last adds finishReason and the output counts. Function
// calls arrive together in one chunk.
//
// # Faults
//
// Rules (Server.AddRule, or the admin API) inject latency, error statuses in
// the provider's own error format, slow streams and streams that break after
// a number of events. A rule is matched after authentication and JSON parsing
// (a request the provider would reject as unauthenticated or unparsable never
// consumes one) and before the remaining validation. FailAfterEvents counts
// every event written (ping and [DONE] included): the client receives exactly
// that many, then the connection is cut without finishing the chunked body; a
// stream with no more events than that completes normally. It relies on
// net/http's handling of http.ErrAbortHandler, so the emulator must be served
// by net/http (an httptest.Server is fine). 429 and 503 answers carry
// "retry-after: 1" for OpenAI and Anthropic.
//
// # Admin API
//
// A separate process (the "switchyard emulator" command) is driven over HTTP
// on the same handler:
//
//	POST   /_emulator/rules     body: a Rule as JSON with snake_case keys and
//	                            Go duration strings, e.g.
//	                            {"provider":"openai","model":"gpt-4o-mini","status":429,"times":1,
//	                             "latency":"150ms","chunk_delay":"5ms","fail_after_events":3,
//	                             "cached_tokens":10,"reasoning_tokens":5,"text":"hi"}
//	                            answers 201 {"id":N}
//	DELETE /_emulator/rules     removes all rules (204)
//	GET    /_emulator/requests  the recorded requests as a JSON array (body base64, as encoding/json does for []byte)
//	DELETE /_emulator/requests  forgets them (204)
package emulator
