package chat

// Tokens is usage normalised for accounting. The dialects disagree on what
// their totals include, so every count here is disjoint:
//
//   - Input: prompt tokens read neither from nor into a cache.
//   - CachedInput: prompt tokens served from a cache (OpenAI cached_tokens,
//     Anthropic cache_read_input_tokens, Gemini cachedContentTokenCount).
//   - CacheWrite: prompt tokens written to a cache (Anthropic
//     cache_creation_input_tokens; other dialects do not report it).
//   - Output: every generated token, reasoning included (OpenAI counts
//     reasoning inside completion_tokens; Gemini reports thoughtsTokenCount
//     beside candidatesTokenCount, so the two are added).
//   - Reasoning: the reasoning share of Output, for display only.
//
// OpenAI's prompt_tokens is Input+CachedInput+CacheWrite; Anthropic's
// input_tokens is Input alone.
type Tokens struct {
	Input       int `json:"input"`
	CachedInput int `json:"cached_input"`
	CacheWrite  int `json:"cache_write"`
	Output      int `json:"output"`
	Reasoning   int `json:"reasoning"`
}

// Prompt is every prompt token, cached or not.
func (t Tokens) Prompt() int { return t.Input + t.CachedInput + t.CacheWrite }

// Total is every token of the request.
func (t Tokens) Total() int { return t.Prompt() + t.Output }

// Usage renders t in OpenAI's convention.
func (t Tokens) Usage() *Usage {
	u := &Usage{
		PromptTokens:     t.Prompt(),
		CompletionTokens: t.Output,
		TotalTokens:      t.Total(),
		PromptTokensDetails: &PromptTokensDetails{
			CachedTokens:     t.CachedInput,
			CacheWriteTokens: t.CacheWrite,
		},
		CompletionTokensDetails: &CompletionTokensDetails{ReasoningTokens: t.Reasoning},
	}
	return u
}

// Tokens converts OpenAI-convention usage into disjoint counts.
func (u *Usage) Tokens() Tokens {
	if u == nil {
		return Tokens{}
	}
	var t Tokens
	if d := u.PromptTokensDetails; d != nil {
		t.CachedInput = d.CachedTokens
		t.CacheWrite = d.CacheWriteTokens
	}
	t.Input = max(u.PromptTokens-t.CachedInput-t.CacheWrite, 0)
	t.Output = u.CompletionTokens
	if d := u.CompletionTokensDetails; d != nil {
		t.Reasoning = d.ReasoningTokens
	}
	return t
}
