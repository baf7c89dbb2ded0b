package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/plugins/abi"
)

// Plugin is one version of a tenant's routing plugin (plugins/ABI.md).
// Each upload under a name makes that name's next version; the module's
// bytes are addressed by the hex SHA-256 Hash, which the edge learns from
// key snapshots and fetches the bytes by.
//
// A version runs for the whole account (Active) or, in place of the
// account's, for single keys (ActiveKeys).
type Plugin struct {
	ID        string `json:"id"`
	AccountID string `json:"account_id"`
	Name      string `json:"name"`
	Version   int    `json:"version"`
	Hash      string `json:"hash"`
	Size      int    `json:"size"`
	// Fail is abi.FailOpen or abi.FailClosed: what the edge does when the
	// plugin fails.
	Fail string `json:"fail"`
	// Headers are request headers, beyond the x-sy- ones, the plugin sees.
	Headers []string `json:"headers"`
	// WantsBody passes the request body to the plugin (ABI.md,
	// RouteRequest.body); its log lines then never reach the edge's log.
	WantsBody  bool      `json:"wants_body"`
	Active     bool      `json:"active"`
	ActiveKeys []string  `json:"active_keys"`
	CreatedAt  time.Time `json:"created_at"`
}

// PluginUpload is a new plugin version.
type PluginUpload struct {
	// Name groups versions; letters, digits, '.', '_' and '-', up to 64.
	Name string
	// Fail is abi.FailOpen (the default when empty) or abi.FailClosed.
	Fail string
	// Headers lists request headers the plugin may see besides x-sy-*.
	// Names that carry credentials are refused.
	Headers []string
	// WantsBody passes the request body to the plugin. Default false:
	// the plugin sees metadata only.
	WantsBody bool
	Module    []byte
}

// PluginCheck is what validation learned of a module, for the uploader.
type PluginCheck struct {
	Imports     []string `json:"imports"`
	MemoryPages uint32   `json:"memory_pages"`
	// SmokeCallMicros is how long a routing call on a sample request took.
	SmokeCallMicros int64 `json:"smoke_call_us"`
}

// PluginValidator decides whether a module will run at the edge, by
// loading it and calling it the way the edge does.
type PluginValidator interface {
	// ValidatePlugin is the upload check.
	//
	// # Errors
	//
	// An *Error with EINVALID and a plain-words reason for a module that is
	// unfit; any other error is the validator's own failure.
	ValidatePlugin(ctx context.Context, module []byte) (*PluginCheck, error)
	// RunPlugin calls module once on req under the native edge's limits,
	// for a tenant trying a plugin (TryPlugin). A module that fails to
	// load or a call that fails is a PluginRun with its Failure, not an
	// error; an error is the validator's own failure.
	RunPlugin(ctx context.Context, module []byte, req *abi.RouteRequest) (*PluginRun, error)
}

// PluginUploaded is what an upload answers.
type PluginUploaded struct {
	Plugin *Plugin      `json:"plugin"`
	Check  *PluginCheck `json:"check"`
	// Warnings say where the plugin will not run, although it is valid.
	Warnings []string `json:"warnings"`
}

const (
	maxPluginNameLen   = 64
	maxPluginHeaders   = 16
	maxHeaderNameLen   = 64
	defaultPluginBytes = 16 << 20
	// defaultWorkersBytes and workersMemoryPages are the Workers edge's
	// limits (ABI.md, "Limits").
	defaultWorkersBytes = 1 << 20
	workersMemoryPages  = 256
)

// credentialHeaders carry a client's API key or session. A plugin could
// write what it sees into tags or its log, so it never sees these; the edge
// drops them too.
var credentialHeaders = []string{"authorization", "proxy-authorization", "x-api-key", "cookie"}

func (in *PluginUpload) normalize(maxBytes int) error {
	if err := checkPluginName(in.Name); err != nil {
		return err
	}
	switch in.Fail {
	case "":
		in.Fail = abi.FailOpen
	case abi.FailOpen, abi.FailClosed:
	default:
		return Errorf(EINVALID, "fail must be %q or %q", abi.FailOpen, abi.FailClosed)
	}
	if len(in.Headers) > maxPluginHeaders {
		return Errorf(EINVALID, "a plugin may see at most %d listed headers", maxPluginHeaders)
	}
	headers := make([]string, 0, len(in.Headers))
	for _, h := range in.Headers {
		h = strings.ToLower(strings.TrimSpace(h))
		if !headerToken(h) {
			return Errorf(EINVALID, "headers must be header names (letters, digits, '-' and '_', up to %d)", maxHeaderNameLen)
		}
		if slices.Contains(credentialHeaders, h) {
			return Errorf(EINVALID, "header %s carries credentials; plugins never see it", h)
		}
		if !slices.Contains(headers, h) {
			headers = append(headers, h)
		}
	}
	in.Headers = headers
	if len(in.Module) == 0 {
		return Errorf(EINVALID, "the module is empty")
	}
	if len(in.Module) > maxBytes {
		return Errorf(EINVALID, "the module is %d bytes; the limit is %d bytes", len(in.Module), maxBytes)
	}
	return nil
}

func checkPluginName(name string) error {
	if name == "" || len(name) > maxPluginNameLen {
		return Errorf(EINVALID, "a plugin name is 1 to %d characters", maxPluginNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return Errorf(EINVALID, "a plugin name may hold only letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

func headerToken(h string) bool {
	if h == "" || len(h) > maxHeaderNameLen {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// UploadPlugin checks a module with the configured validator and stores it
// as the next version of in.Name. It does not activate it.
//
// # Errors
//
// EINVALID for bad metadata or a module the validator refuses, with the
// reason; EFORBIDDEN when the service has no validator.
func (s *Service) UploadPlugin(ctx context.Context, accountID string, in PluginUpload) (*PluginUploaded, error) {
	if err := in.normalize(s.cfg.PluginMaxBytes); err != nil {
		return nil, err
	}
	if s.cfg.Plugins == nil {
		return nil, Errorf(EFORBIDDEN, "plugin uploads are not enabled on this service")
	}
	check, err := s.cfg.Plugins.ValidatePlugin(ctx, in.Module)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(in.Module)
	p := &Plugin{ID: newID("plg"), AccountID: accountID, Name: in.Name, Hash: hex.EncodeToString(sum[:]),
		Size: len(in.Module), Fail: in.Fail, Headers: in.Headers, WantsBody: in.WantsBody, ActiveKeys: []string{}, CreatedAt: s.now()}
	if err := s.store.CreatePlugin(ctx, p, in.Module); err != nil {
		return nil, err
	}
	out := &PluginUploaded{Plugin: p, Check: check, Warnings: []string{}}
	if p.Size > s.cfg.WorkersMaxBytes {
		out.Warnings = append(out.Warnings, fmt.Sprintf(
			"the module is %d bytes, over the Cloudflare Workers edge's limit of %d bytes: it runs on native edges only, and on a Workers edge its requests fall under the fail policy (%s)",
			p.Size, s.cfg.WorkersMaxBytes, p.Fail))
	}
	if check.MemoryPages > workersMemoryPages {
		out.Warnings = append(out.Warnings, fmt.Sprintf(
			"the plugin grew to %d memory pages on a sample request, over the Cloudflare Workers edge's cap of %d pages (16 MiB): there it may fail under its fail policy (%s)",
			check.MemoryPages, workersMemoryPages, p.Fail))
	}
	return out, nil
}

// Plugins lists an account's plugin versions, newest first.
func (s *Service) Plugins(ctx context.Context, accountID string) ([]Plugin, error) {
	return s.store.Plugins(ctx, accountID)
}

// ActivatePlugin makes one of the account's plugin versions run for the
// whole account, or, with keyID, for that key in place of the account's.
// Activating what already runs changes nothing.
//
// # Errors
//
// ENOTFOUND for a plugin or key that is not the account's.
func (s *Service) ActivatePlugin(ctx context.Context, accountID, pluginID, keyID string) (*Plugin, error) {
	if pluginID == "" {
		return nil, Errorf(ENOTFOUND, "plugin not found")
	}
	if err := s.store.SetActivePlugin(ctx, accountID, keyID, pluginID, s.now()); err != nil {
		return nil, err
	}
	return s.store.Plugin(ctx, accountID, pluginID)
}

// DeactivatePlugin stops the account's plugin, or, with keyID, ends the
// key's own activation so that the key follows the account again.
//
// # Errors
//
// ENOTFOUND for a key that is not the account's.
func (s *Service) DeactivatePlugin(ctx context.Context, accountID, keyID string) error {
	return s.store.SetActivePlugin(ctx, accountID, keyID, "", s.now())
}

// RollbackPlugin undoes the last activation or deactivation of the account
// (or of keyID), returning to the plugin that ran before it; each rollback
// steps one further back. It returns the plugin that now runs, nil when
// none does.
//
// # Errors
//
// ECONFLICT when there is nothing earlier to return to; ENOTFOUND for a key
// that is not the account's.
func (s *Service) RollbackPlugin(ctx context.Context, accountID, keyID string) (*Plugin, error) {
	id, err := s.store.RollbackPlugin(ctx, accountID, keyID, s.now())
	if err != nil || id == "" {
		return nil, err
	}
	return s.store.Plugin(ctx, accountID, id)
}

// MaxPluginBytes is the largest module UploadPlugin accepts, so that the
// HTTP layer can stop reading a larger one early.
func (s *Service) MaxPluginBytes() int { return s.cfg.PluginMaxBytes }

// PluginModule returns a module's bytes by the hex SHA-256 of its content.
func (s *Service) PluginModule(ctx context.Context, hash string) ([]byte, error) {
	if !isHexHash(hash) {
		return nil, Errorf(EINVALID, "plugin hash must be 64 lowercase hex digits")
	}
	return s.store.PluginModule(ctx, hash)
}
