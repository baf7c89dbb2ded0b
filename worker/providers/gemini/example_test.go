package gemini_test

import (
	"encoding/json"
	"fmt"

	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/providers/gemini"
)

func Example() {
	var r chat.Request
	if err := json.Unmarshal([]byte(`{
		"model": "google/gemini-2.5-flash",
		"messages": [
			{"role": "system", "content": "Be brief."},
			{"role": "user", "content": "Hello"}
		],
		"max_tokens": 64
	}`), &r); err != nil {
		panic(err)
	}
	p := gemini.New(gemini.Options{APIKey: "AIza-example"})
	body, err := p.Dialect().EncodeRequest(&r, "gemini-2.5-flash")
	if err != nil {
		panic(err)
	}
	req, err := p.NewRequest(chat.OpChat, "gemini-2.5-flash", true, body)
	if err != nil {
		panic(err)
	}
	fmt.Println(req.Method, req.URL)
	fmt.Println(string(req.Body))
	// Output:
	// POST https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse
	// {"contents":[{"role":"user","parts":[{"text":"Hello"}]}],"systemInstruction":{"parts":[{"text":"Be brief."}]},"generationConfig":{"maxOutputTokens":64}}
}
