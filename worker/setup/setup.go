// Package setup turns an edge configuration file and the environment into a
// worker.Config. It is shared by every edge main (native, dev, Workers).
package setup

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/switchyard-ai/switchyard/worker"
	"github.com/switchyard-ai/switchyard/worker/chat"
	"github.com/switchyard-ai/switchyard/worker/providers/anthropic"
	"github.com/switchyard-ai/switchyard/worker/providers/gemini"
	"github.com/switchyard-ai/switchyard/worker/providers/openai"
)

//go:embed default.json
var defaultFile []byte

// ProviderConfig describes one upstream.
type ProviderConfig struct {
	// Name is the provider id used in model ids.
	Name string `json:"name"`
	// Type is the wire format: "openai" (also any OpenAI-compatible host),
	// "anthropic" or "gemini".
	Type string `json:"type"`
	// BaseURL overrides the provider's public API root.
	BaseURL string `json:"base_url,omitempty"`
	// BaseURLEnv names an environment variable that overrides BaseURL.
	BaseURLEnv string `json:"base_url_env,omitempty"`
	// APIKeyEnv names the environment variable holding the API key; keys
	// never live in the file.
	APIKeyEnv string `json:"api_key_env,omitempty"`
	// Timeout bounds one attempt until response headers. Default 60s.
	Timeout Duration `json:"timeout,omitempty"`
}

// File is an edge configuration file.
type File struct {
	Providers []ProviderConfig    `json:"providers"`
	Models    []worker.Model      `json:"models"`
	Aliases   map[string][]string `json:"aliases,omitempty"`
	// MaxBodyBytes bounds request bodies. Default 10 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// RequestTimeout bounds a request until its first byte. Default 120s.
	RequestTimeout Duration `json:"request_timeout,omitempty"`
	// MaxAttempts per candidate. Default 2.
	MaxAttempts int `json:"max_attempts,omitempty"`
}

// Duration is a time.Duration written as "1.5s" in JSON.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`durations are strings such as "30s"`)
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Default returns the built-in configuration: OpenAI, Anthropic and Google
// with a small catalog of their current models.
func Default() *File {
	f, err := Parse(defaultFile)
	if err != nil {
		panic(fmt.Sprintf("setup: built-in configuration is invalid: %v", err))
	}
	return f
}

// Load reads a configuration file strictly; "" means Default.
func Load(path string) (*File, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Parse reads a configuration file's contents strictly: unknown fields are
// an error.
func Parse(b []byte) (*File, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Env reads a variable; tests substitute their own.
type Env func(string) string

// BuildProviders builds the upstreams, reading keys and base-URL overrides from env.
func (f *File) BuildProviders(env Env) ([]chat.Provider, map[string]time.Duration, error) {
	var out []chat.Provider
	timeouts := make(map[string]time.Duration)
	var errs []error
	for _, pc := range f.Providers {
		base := pc.BaseURL
		if pc.BaseURLEnv != "" && env(pc.BaseURLEnv) != "" {
			base = env(pc.BaseURLEnv)
		}
		key := ""
		if pc.APIKeyEnv != "" {
			key = env(pc.APIKeyEnv)
		}
		switch pc.Type {
		case "openai":
			out = append(out, openai.New(openai.Options{Name: pc.Name, BaseURL: base, APIKey: key}))
		case "anthropic":
			out = append(out, anthropic.New(anthropic.Options{Name: pc.Name, BaseURL: base, APIKey: key}))
		case "gemini":
			out = append(out, gemini.New(gemini.Options{Name: pc.Name, BaseURL: base, APIKey: key}))
		default:
			errs = append(errs, fmt.Errorf("provider %q: type must be openai, anthropic or gemini", pc.Name))
		}
		if pc.Timeout > 0 {
			timeouts[pc.Name] = time.Duration(pc.Timeout)
		}
	}
	return out, timeouts, errors.Join(errs...)
}

// Config builds the gateway configuration around the given parts.
func (f *File) Config(env Env, keys worker.KeyResolver, up worker.Upstream, usage worker.UsageSink) (worker.Config, error) {
	providers, timeouts, err := f.BuildProviders(env)
	if err != nil {
		return worker.Config{}, err
	}
	return worker.Config{
		Providers:        providers,
		Models:           f.Models,
		Aliases:          f.Aliases,
		Keys:             keys,
		Usage:            usage,
		Upstream:         up,
		MaxBodyBytes:     f.MaxBodyBytes,
		RequestTimeout:   time.Duration(f.RequestTimeout),
		ProviderTimeouts: timeouts,
		MaxAttempts:      f.MaxAttempts,
	}, nil
}
