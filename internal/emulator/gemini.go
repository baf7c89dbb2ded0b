package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// geminiStatus maps an HTTP status to Google's canonical error status.
func geminiStatus(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

func (ex *exchange) geminiError(code int, msg string) {
	writeJSON(ex.w, code, map[string]any{"error": map[string]any{"code": code, "message": msg, "status": geminiStatus(code)}})
}

func serveGemini(ex *exchange) {
	// /{version}/models/{model}:{method}
	_, rest, _ := strings.Cut(strings.TrimPrefix(ex.r.URL.Path, "/"), "/")
	rest, isModel := strings.CutPrefix(rest, "models/")
	model, method, _ := strings.Cut(rest, ":")
	if !isModel {
		model, method = "", ""
	}
	ex.record(model, method == "streamGenerateContent")
	key := ex.r.Header.Get("x-goog-api-key")
	if key == "" {
		key = ex.r.URL.Query().Get("key")
	}
	if strings.TrimSpace(key) == "" {
		ex.geminiError(http.StatusForbidden, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")
		return
	}
	if ex.r.Method != http.MethodPost || model == "" {
		ex.geminiError(http.StatusNotFound, fmt.Sprintf("The requested URL %s was not found on this server.", ex.r.URL.Path))
		return
	}
	var body map[string]any
	if err := json.Unmarshal(ex.body, &body); err != nil {
		ex.geminiError(http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
		return
	}
	camelKeys(body)
	switch method {
	case "generateContent", "streamGenerateContent":
		ex.geminiGenerate(model, method == "streamGenerateContent", body)
	case "embedContent", "batchEmbedContents":
		ex.geminiEmbed(model, method == "batchEmbedContents", body)
	default:
		ex.geminiError(http.StatusNotFound, fmt.Sprintf("Method %s is not supported by the Switchyard emulator.", method))
	}
}

// geminiSnakeKeys are the request fields whose proto (snake_case) spelling
// Google accepts alongside the JSON (lowerCamel) one; its own docs use both.
var geminiSnakeKeys = map[string]string{
	"system_instruction": "systemInstruction", "generation_config": "generationConfig",
	"tool_config": "toolConfig", "function_declarations": "functionDeclarations",
	"function_calling_config": "functionCallingConfig", "allowed_function_names": "allowedFunctionNames",
	"inline_data": "inlineData", "file_data": "fileData", "mime_type": "mimeType", "file_uri": "fileUri",
	"function_call": "functionCall", "function_response": "functionResponse",
	"max_output_tokens": "maxOutputTokens", "stop_sequences": "stopSequences",
	"response_mime_type": "responseMimeType", "response_schema": "responseSchema",
	"response_json_schema": "responseJsonSchema", "candidate_count": "candidateCount",
	"output_dimensionality": "outputDimensionality", "task_type": "taskType",
	"parameters_json_schema": "parametersJsonSchema",
}

// geminiOpaqueKeys hold caller data (arguments, schemas) whose keys must not
// be renamed.
var geminiOpaqueKeys = map[string]bool{
	"args": true, "response": true, "parameters": true, "parametersJsonSchema": true,
	"responseSchema": true, "responseJsonSchema": true,
}

func camelKeys(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if camel, ok := geminiSnakeKeys[k]; ok {
				delete(v, k)
				v[camel] = child
				k = camel
			}
			if !geminiOpaqueKeys[k] {
				camelKeys(child)
			}
		}
	case []any:
		for _, child := range v {
			camelKeys(child)
		}
	}
}

type geminiRequest struct {
	Contents          []geminiContent `json:"contents"`
	SystemInstruction *geminiContent  `json:"systemInstruction"`
	Tools             []struct {
		FunctionDeclarations []struct {
			Name                 string         `json:"name"`
			Parameters           map[string]any `json:"parameters"`
			ParametersJSONSchema map[string]any `json:"parametersJsonSchema"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
	ToolConfig *struct {
		FunctionCallingConfig *struct {
			Mode                 string   `json:"mode"`
			AllowedFunctionNames []string `json:"allowedFunctionNames"`
		} `json:"functionCallingConfig"`
	} `json:"toolConfig"`
	GenerationConfig *struct {
		MaxOutputTokens    int            `json:"maxOutputTokens"`
		StopSequences      []string       `json:"stopSequences"`
		ResponseMimeType   string         `json:"responseMimeType"`
		ResponseSchema     map[string]any `json:"responseSchema"`
		ResponseJSONSchema map[string]any `json:"responseJsonSchema"`
		CandidateCount     *int           `json:"candidateCount"`
	} `json:"generationConfig"`
}

type geminiContent struct {
	Role  string       `json:"role"`
	Parts []geminiPart `json:"parts"`
}

type geminiPart struct {
	Text       *string `json:"text"`
	Thought    bool    `json:"thought"`
	InlineData *struct {
		MimeType string `json:"mimeType"`
		Data     string `json:"data"`
	} `json:"inlineData"`
	FileData *struct {
		FileURI string `json:"fileUri"`
	} `json:"fileData"`
	FunctionCall *struct {
		Name string         `json:"name"`
		Args map[string]any `json:"args"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		Name     string         `json:"name"`
		Response map[string]any `json:"response"`
	} `json:"functionResponse"`
}

// summarize counts one content's prompt tokens and reports its text, images
// and function responses.
func (gc *geminiContent) summarize(pc *promptCounter) (texts []string, images, results int) {
	pc.message()
	for _, p := range gc.Parts {
		switch {
		case p.Text != nil:
			pc.text(*p.Text)
			if !p.Thought {
				texts = append(texts, *p.Text)
			}
		case p.InlineData != nil || p.FileData != nil:
			images++
			pc.images(1)
		case p.FunctionCall != nil:
			pc.json(p.FunctionCall.Args)
		case p.FunctionResponse != nil:
			results++
			pc.json(p.FunctionResponse.Response)
		}
	}
	return texts, images, results
}

func (req *geminiRequest) parse(model, seed string) (*conversation, string) {
	if len(req.Contents) == 0 {
		return nil, "* GenerateContentRequest.contents: contents is not specified"
	}
	c := &conversation{model: model, seed: seed}
	var pc promptCounter
	if req.SystemInstruction != nil {
		req.SystemInstruction.summarize(&pc)
	}
	for i, gc := range req.Contents {
		if gc.Role != "" && gc.Role != "user" && gc.Role != "model" {
			return nil, fmt.Sprintf("Please use a valid role: user, model. (contents[%d].role = %q)", i, gc.Role)
		}
		if len(gc.Parts) == 0 {
			return nil, fmt.Sprintf("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.", i)
		}
		texts, images, results := gc.summarize(&pc)
		isUser := gc.Role != "model"
		if isUser && results == 0 {
			c.lastUserText, c.lastImages = strings.Join(texts, " "), images
		}
		if i == len(req.Contents)-1 && isUser {
			c.toolResults = results
			c.lastIsUser = results == 0
		}
	}
	c.promptTokens = pc.tokens
	for _, t := range req.Tools {
		for _, fd := range t.FunctionDeclarations {
			schema := fd.ParametersJSONSchema
			if schema == nil {
				schema = fd.Parameters
			}
			c.tools = append(c.tools, toolSpec{name: fd.Name, schema: schema})
		}
	}
	if tc := req.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		fcc := tc.FunctionCallingConfig
		switch fcc.Mode {
		case "", "MODE_UNSPECIFIED", "AUTO", "VALIDATED":
		case "ANY":
			c.toolMode, c.allowed = toolRequired, fcc.AllowedFunctionNames
		case "NONE":
			c.toolMode = toolNone
		default:
			return nil, fmt.Sprintf("Invalid value at 'tool_config.function_calling_config.mode' (%s)", fcc.Mode)
		}
		for _, name := range c.allowed {
			if !c.hasTool(name) {
				return nil, fmt.Sprintf("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: function %q is not declared", name)
			}
		}
	}
	if gen := req.GenerationConfig; gen != nil {
		if gen.CandidateCount != nil && *gen.CandidateCount > 1 {
			return nil, "The Switchyard emulator only supports candidateCount 1."
		}
		if gen.MaxOutputTokens > 0 {
			c.maxTokens = gen.MaxOutputTokens
		}
		c.stop = gen.StopSequences
		if gen.ResponseMimeType == "application/json" {
			c.jsonMode = true
			c.jsonSchema = gen.ResponseJSONSchema
			if c.jsonSchema == nil {
				c.jsonSchema = gen.ResponseSchema
			}
		}
	}
	return c, ""
}

type geminiUsage struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount         int `json:"totalTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount,omitempty"`
	PromptTokensDetails     []struct {
		Modality   string `json:"modality"`
		TokenCount int    `json:"tokenCount"`
	} `json:"promptTokensDetails,omitempty"`
}

type geminiCandidate struct {
	Content struct {
		Parts []map[string]any `json:"parts"`
		Role  string           `json:"role"`
	} `json:"content"`
	FinishReason string `json:"finishReason,omitempty"`
	Index        int    `json:"index"`
}

type geminiResponse struct {
	Candidates    []geminiCandidate `json:"candidates"`
	UsageMetadata *geminiUsage      `json:"usageMetadata,omitempty"`
	ModelVersion  string            `json:"modelVersion"`
	ResponseID    string            `json:"responseId"`
}

func (rp *reply) geminiUsage() *geminiUsage {
	u := &geminiUsage{
		PromptTokenCount:        rp.promptTokens + rp.cached,
		CandidatesTokenCount:    rp.outputTokens,
		CachedContentTokenCount: rp.cached,
		ThoughtsTokenCount:      rp.reasoning,
	}
	u.TotalTokenCount = u.PromptTokenCount + u.CandidatesTokenCount + u.ThoughtsTokenCount
	u.PromptTokensDetails = append(u.PromptTokensDetails, struct {
		Modality   string `json:"modality"`
		TokenCount int    `json:"tokenCount"`
	}{"TEXT", u.PromptTokenCount})
	return u
}

func (rp *reply) geminiFinish() string {
	if rp.finish == finishLength {
		return "MAX_TOKENS"
	}
	return "STOP"
}

func (ex *exchange) geminiGenerate(model string, stream bool, body map[string]any) {
	var req geminiRequest
	normalized, _ := json.Marshal(body)
	if err := json.Unmarshal(normalized, &req); err != nil {
		ex.geminiError(http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
		return
	}
	if !ex.applyRule(model, ex.geminiError) {
		return
	}
	c, msg := req.parse(model, requestSeed(ProviderGemini, model, ex.body))
	if c == nil {
		ex.geminiError(http.StatusBadRequest, msg)
		return
	}
	rp := c.respond(ex.rule, "")
	respID := hashHex(c.seed, "response")[:22]
	response := func(parts []map[string]any, final bool) geminiResponse {
		cand := geminiCandidate{Index: 0}
		cand.Content.Parts, cand.Content.Role = parts, "model"
		r := geminiResponse{Candidates: []geminiCandidate{cand}, ModelVersion: model, ResponseID: respID}
		if final {
			r.Candidates[0].FinishReason = rp.geminiFinish()
			r.UsageMetadata = rp.geminiUsage()
		} else {
			// Gemini reports the prompt on every chunk and the output only at the end.
			r.UsageMetadata = &geminiUsage{PromptTokenCount: rp.promptTokens + rp.cached, TotalTokenCount: rp.promptTokens + rp.cached}
		}
		return r
	}
	var chunks []geminiResponse
	if len(rp.toolCalls) > 0 {
		var parts []map[string]any
		for _, tc := range rp.toolCalls {
			parts = append(parts, map[string]any{"functionCall": map[string]any{"name": tc.name, "args": json.RawMessage(tc.args)}})
		}
		chunks = append(chunks, response(parts, true))
	} else if !stream || len(rp.pieces) == 0 {
		chunks = append(chunks, response([]map[string]any{{"text": rp.text}}, true))
	} else {
		for i, p := range rp.pieces {
			chunks = append(chunks, response([]map[string]any{{"text": p}}, i == len(rp.pieces)-1))
		}
	}
	if !stream {
		writeJSON(ex.w, http.StatusOK, chunks[0])
		return
	}
	if ex.r.URL.Query().Get("alt") == "sse" {
		ew := ex.startStream("text/event-stream")
		for _, ch := range chunks {
			if !ew.send(sseData(ch, "\r\n\r\n")) {
				return
			}
		}
		return
	}
	// Without alt=sse Google streams one JSON array, element by element.
	ew := ex.startStream("application/json; charset=UTF-8")
	for i, ch := range chunks {
		b, _ := json.Marshal(ch)
		sep := ",\r\n"
		if i == 0 {
			sep = "["
		}
		if !ew.send(append([]byte(sep), b...)) {
			return
		}
	}
	_, _ = ew.w.Write([]byte("]"))
}

type geminiEmbedRequest struct {
	Model   string         `json:"model"`
	Content *geminiContent `json:"content"`
	Dims    int            `json:"outputDimensionality"`
}

func (ex *exchange) geminiEmbed(model string, batch bool, body map[string]any) {
	var reqs []geminiEmbedRequest
	normalized, _ := json.Marshal(body)
	var err error
	if batch {
		var b struct {
			Requests []geminiEmbedRequest `json:"requests"`
		}
		err = json.Unmarshal(normalized, &b)
		reqs = b.Requests
	} else {
		var one geminiEmbedRequest
		err = json.Unmarshal(normalized, &one)
		reqs = []geminiEmbedRequest{one}
	}
	if err != nil {
		ex.geminiError(http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
		return
	}
	if !ex.applyRule(model, ex.geminiError) {
		return
	}
	if len(reqs) == 0 {
		ex.geminiError(http.StatusBadRequest, "* BatchEmbedContentsRequest.requests: requests is not specified")
		return
	}
	type values struct {
		Values []float64 `json:"values"`
	}
	var out []values
	for i, r := range reqs {
		if batch && r.Model != "models/"+model {
			ex.geminiError(http.StatusBadRequest, fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].model: model %q does not match the URL model %q", i, r.Model, "models/"+model))
			return
		}
		var texts []string
		if r.Content != nil {
			for _, p := range r.Content.Parts {
				if p.Text != nil {
					texts = append(texts, *p.Text)
				}
			}
		}
		if len(texts) == 0 {
			ex.geminiError(http.StatusBadRequest, fmt.Sprintf("* EmbedContentRequest.content: content must have a text part (request %d)", i))
			return
		}
		dims := defaultDimensions
		if r.Dims < 0 || r.Dims > maxDimensions {
			ex.geminiError(http.StatusBadRequest, fmt.Sprintf("* EmbedContentRequest.output_dimensionality: must be between 1 and %d", maxDimensions))
			return
		}
		if r.Dims > 0 {
			dims = r.Dims
		}
		out = append(out, values{embedVector(strings.Join(texts, "\n"), dims)})
	}
	if batch {
		writeJSON(ex.w, http.StatusOK, map[string]any{"embeddings": out})
		return
	}
	writeJSON(ex.w, http.StatusOK, map[string]any{"embedding": out[0]})
}
