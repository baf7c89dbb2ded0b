package pluginhost

import (
	"context"
	"errors"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/plugins/abi"
	"github.com/switchyard-ai/switchyard/plugins/host"
)

// trialTenantPrefix keeps trial calls' instances, counters and call slots
// apart from those of upload checks; no account id starts with it.
const trialTenantPrefix = "sy:trial:"

// RunPlugin loads module and calls it once on req, as an edge with the
// host's limits would. A module that does not load or a call that fails
// is a PluginRun with the reason in Failure; the error is the host's own
// failure or ctx's.
//
// # Notes
//
// The call is cold: CallTime includes instantiating the module (and a Go
// plugin's `_initialize`), which an edge does once per pooled instance.
// Counters (sy.counter_add) persist between an account's trials on this
// host, never reaching an edge.
func (v *Validator) RunPlugin(ctx context.Context, module []byte, req *abi.RouteRequest) (*control.PluginRun, error) {
	p, err := v.host.Load(ctx, module)
	var le *host.LoadError
	if errors.As(err, &le) {
		return &control.PluginRun{Failure: "the plugin does not load: " + le.Reason}, nil
	}
	if err != nil {
		return nil, err
	}
	defer p.Close(ctx)
	start := time.Now()
	d, err := p.Route(ctx, trialTenantPrefix+req.Tenant, req)
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ce *host.CallError
	switch {
	case errors.As(err, &ce):
		return &control.PluginRun{Failure: failure(ce), CallTime: elapsed}, nil
	case err != nil:
		return &control.PluginRun{Failure: err.Error(), CallTime: elapsed}, nil
	}
	return &control.PluginRun{Decision: d, CallTime: elapsed}, nil
}

// failure puts a call error in the words the edge's fail policy acts on.
func failure(ce *host.CallError) string {
	switch ce.Kind {
	case host.KindTrap:
		return "the plugin crashed (trapped): " + ce.Detail
	case host.KindExit:
		return "the plugin ended the call with proc_exit: " + ce.Detail
	case host.KindAlloc:
		return "the plugin gave no buffer for the request: " + ce.Detail
	case host.KindInvalidOutput:
		return "the plugin's answer is not a valid decision: " + ce.Detail
	default:
		return ce.Detail
	}
}
