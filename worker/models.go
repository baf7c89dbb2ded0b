package worker

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/switchyard-ai/switchyard/worker/chat"
)

// modelsCreated is a fixed timestamp for catalog entries: the catalog has no
// creation dates and a changing value would make responses non-deterministic.
const modelsCreated = 1735689600 // 2025-01-01

// serveModels lists the catalog in OpenAI's format, or Anthropic's when the
// client sends anthropic-version (as the Anthropic SDK does). Prices are per
// million tokens in dollars, as strings, so no float rounding creeps in.
func (g *Gateway) serveModels(req *Request, w Responder) {
	ep := epChat
	if req.Header.Get("Anthropic-Version") != "" {
		ep = epMessages
	}
	if req.Method != http.MethodGet {
		g.respondError(w, ep, "", chat.Errorf(http.StatusMethodNotAllowed, chat.TypeInvalidRequest, "use GET for /v1/models"))
		return
	}
	if _, err := g.authenticate(req); err != nil {
		g.metrics.authFailure()
		g.respondError(w, ep, "", err)
		return
	}
	var body []byte
	if ep == epMessages {
		body = g.anthropicModelList()
	} else {
		body = g.openAIModelList()
	}
	w.Respond(http.StatusOK, [][2]string{{"Content-Type", "application/json"}}, body)
}

type modelPricing struct {
	Prompt      string `json:"prompt"`
	Completion  string `json:"completion"`
	CachedInput string `json:"cached_prompt,omitempty"`
}

func (g *Gateway) openAIModelList() []byte {
	type entry struct {
		ID            string        `json:"id"`
		Object        string        `json:"object"`
		Created       int64         `json:"created"`
		OwnedBy       string        `json:"owned_by"`
		Kind          string        `json:"kind"`
		ContextLength int           `json:"context_length,omitempty"`
		Pricing       *modelPricing `json:"pricing,omitempty"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []entry `json:"data"`
	}{Object: "list", Data: make([]entry, 0, len(g.catalog().ordered))}
	for _, m := range g.catalog().ordered {
		e := entry{ID: m.ID, Object: "model", Created: modelsCreated, OwnedBy: m.Provider, Kind: m.Kind, ContextLength: m.ContextLength}
		if m.InputPrice > 0 || m.OutputPrice > 0 {
			e.Pricing = &modelPricing{Prompt: dollars(m.InputPrice), Completion: dollars(m.OutputPrice)}
			if m.CachedInputPrice > 0 {
				e.Pricing.CachedInput = dollars(m.CachedInputPrice)
			}
		}
		list.Data = append(list.Data, e)
	}
	b, _ := json.Marshal(list)
	return b
}

func (g *Gateway) anthropicModelList() []byte {
	type entry struct {
		Type        string `json:"type"`
		ID          string `json:"id"`
		DisplayName string `json:"display_name"`
		CreatedAt   string `json:"created_at"`
	}
	list := struct {
		Data    []entry `json:"data"`
		HasMore bool    `json:"has_more"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
	}{Data: []entry{}}
	created := time.Unix(modelsCreated, 0).UTC().Format(time.RFC3339)
	for _, m := range g.catalog().ordered {
		if m.Kind != "chat" {
			continue
		}
		list.Data = append(list.Data, entry{Type: "model", ID: m.ID, DisplayName: m.ID, CreatedAt: created})
	}
	if n := len(list.Data); n > 0 {
		list.FirstID, list.LastID = &list.Data[0].ID, &list.Data[n-1].ID
	}
	b, _ := json.Marshal(list)
	return b
}

// dollars renders micro-dollars per million tokens as dollars per million.
func dollars(micros int64) string {
	whole, frac := micros/1_000_000, micros%1_000_000
	s := []byte(fmt.Sprintf("%d.%06d", whole, frac))
	for len(s) > 0 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return string(s)
}
