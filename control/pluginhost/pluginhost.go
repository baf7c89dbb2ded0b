// Package pluginhost checks uploaded routing plugins with plugins/host, the
// runtime every edge runs them in, so that what the control service accepts
// is what the edges can load, under the same limits.
package pluginhost

import (
	"context"
	"errors"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

// Validator is a control.PluginValidator over a host. The caller keeps the
// host and closes it.
type Validator struct {
	host *host.Host
}

var _ control.PluginValidator = (*Validator)(nil)

// NewValidator returns a validator using h. It does no I/O.
func NewValidator(h *host.Host) *Validator { return &Validator{host: h} }

// ValidatePlugin loads module and runs the host's sample request through
// it. A refusal is EINVALID with the host's plain-words reason.
func (v *Validator) ValidatePlugin(ctx context.Context, module []byte) (*control.PluginCheck, error) {
	rep, err := v.host.Validate(ctx, module)
	var le *host.LoadError
	if errors.As(err, &le) {
		return nil, control.Errorf(control.EINVALID, "the plugin was refused: %s", le.Reason)
	}
	if err != nil {
		return nil, err
	}
	imports := rep.Imports
	if imports == nil {
		imports = []string{}
	}
	return &control.PluginCheck{Imports: imports, MemoryPages: rep.MemoryPages, SmokeCallMicros: rep.CallTime.Microseconds()}, nil
}
