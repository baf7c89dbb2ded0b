// Package openapispec checks JSON documents against the schemas of OpenAI's
// published OpenAPI description, so that tests can prove a body is what the
// OpenAI SDKs and clients expect rather than what we think they expect.
//
// The description is not vendored into the module: it lives in the shared
// reference folder beside the repository (shared/reference/openai-openapi.json,
// i.e. ../shared/reference from the repository root). A missing file fails the
// test instead of skipping it, because a silently skipped wire check is worse
// than none.
//
// Typical use:
//
//	validate := openapispec.Validator(t, "CreateChatCompletionResponse")
//	if err := validate(body); err != nil { t.Fatal(err) }
//
// The file declares OpenAPI 3.1 (JSON Schema 2020-12) but still marks many
// fields with the OpenAPI 3.0 keyword `nullable: true`, which 2020-12 ignores.
// Taken literally, every real streaming chunk (`"finish_reason": null`,
// `"logprobs": null`) would be rejected, so the loader rewrites each nullable
// schema S into `anyOf: [S, {type: null}]` before compiling.
package openapispec

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SpecRelPath is where the description sits relative to the folder that
// holds both the repository and shared/.
const SpecRelPath = "shared/reference/openai-openapi.json"

// specURL names the loaded description for reference resolution; it is never
// fetched.
const specURL = "https://switchyard.invalid/openai-openapi.json"

var (
	loadOnce sync.Once
	compiler *jsonschema.Compiler
	loadErr  error

	mu       sync.Mutex
	compiled = map[string]*jsonschema.Schema{}
)

// Validator returns a function that validates one JSON document against
// #/components/schemas/<schemaName>. The document may be raw JSON ([]byte,
// json.RawMessage, string) or any value encoding/json can marshal. The test
// fails at once if the description cannot be found or the schema does not
// compile.
func Validator(t testing.TB, schemaName string) func(doc any) error {
	t.Helper()
	sch, err := schema(schemaName)
	if err != nil {
		t.Fatalf("openapispec: %v", err)
	}
	return func(doc any) error {
		v, err := decode(doc)
		if err != nil {
			return err
		}
		if err := sch.Validate(v); err != nil {
			return fmt.Errorf("%s: %w", schemaName, err)
		}
		return nil
	}
}

// FindSpec returns the absolute path of the OpenAPI description, searching
// upwards from this source file and from the working directory.
func FindSpec() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, SpecRelPath)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("%s not found above %v (the shared/ folder must sit beside the repository)", SpecRelPath, starts)
}

func schema(name string) (*jsonschema.Schema, error) {
	loadOnce.Do(load)
	if loadErr != nil {
		return nil, loadErr
	}
	mu.Lock()
	defer mu.Unlock()
	if s, ok := compiled[name]; ok {
		return s, nil
	}
	s, err := compiler.Compile(specURL + "#/components/schemas/" + name)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", name, err)
	}
	compiled[name] = s
	return s, nil
}

// embeddedSpec is a gzipped copy of shared/reference/openai-openapi.json, so
// the tests validate against the spec on a machine that has only the
// repository (CI clones it alone). TestEmbeddedSpecIsCurrent keeps the copy
// equal to the shared original wherever that is present.
//
//go:embed openai-openapi.json.gz
var embeddedSpec []byte

// EmbeddedSpec returns the spec the validators use.
func EmbeddedSpec() ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(embeddedSpec))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func load() {
	raw, err := EmbeddedSpec()
	if err != nil {
		loadErr = fmt.Errorf("embedded OpenAPI spec: %w", err)
		return
	}
	path := "embedded openai-openapi.json"
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		loadErr = fmt.Errorf("parse %s: %w", path, err)
		return
	}
	doc = rewriteNullable(doc)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(specURL, doc); err != nil {
		loadErr = err
		return
	}
	compiler = c
}

// rewriteNullable turns every `nullable: true` schema into an anyOf that also
// admits null (see the package comment).
func rewriteNullable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			v[k] = rewriteNullable(child)
		}
		if b, ok := v["nullable"].(bool); ok {
			delete(v, "nullable")
			if b {
				return map[string]any{"anyOf": []any{v, map[string]any{"type": "null"}}}
			}
		}
		return v
	case []any:
		for i, child := range v {
			v[i] = rewriteNullable(child)
		}
		return v
	default:
		return v
	}
}

func decode(doc any) (any, error) {
	var raw []byte
	switch d := doc.(type) {
	case []byte:
		raw = d
	case json.RawMessage:
		raw = d
	case string:
		raw = []byte(d)
	default:
		b, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("marshal document: %w", err)
		}
		raw = b
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("document is not JSON: %w", err)
	}
	return v, nil
}
