package conformance_test

import (
	"testing"

	"github.com/switchyard-ai/switchyard/internal/conformance"
	"github.com/switchyard-ai/switchyard/internal/edgetest"
	"github.com/switchyard-ai/switchyard/worker"
)

// start runs an edge with the models the suite reserves for its faults.
func start(t *testing.T, native bool) *edgetest.Env {
	return edgetest.Start(t, edgetest.Options{Native: native, Modify: func(c *worker.Config) {
		c.Models = append(c.Models, conformance.Models()...)
	}})
}

// usageOf looks records up in env, the way a target that can see them does.
func usageOf(env *edgetest.Env) func(string) (worker.UsageRecord, bool) {
	return func(id string) (worker.UsageRecord, bool) {
		for _, r := range env.Usage() {
			if r.RequestID == id {
				return r, true
			}
		}
		return worker.UsageRecord{}, false
	}
}

func TestEdges(t *testing.T) {
	for _, edge := range []struct {
		name   string
		native bool
	}{{"net/http", false}, {"fasthttp", true}} {
		t.Run(edge.name, func(t *testing.T) {
			t.Parallel()
			env := start(t, edge.native)
			conformance.Run(t, conformance.Target{
				BaseURL: env.BaseURL,
				APIKey:  edgetest.Key,
				Faults:  env.Emulator,
				Usage:   usageOf(env),
			})
		})
	}
}

// TestOverTheWire drives the edge as a Workers target is driven: faults over
// the emulator's admin API and no view of the usage records.
func TestOverTheWire(t *testing.T) {
	t.Parallel()
	env := start(t, false)
	admin := &conformance.EmulatorAdmin{URL: env.EmulatorURL}
	t.Cleanup(func() {
		if err := admin.Err(); err != nil {
			t.Errorf("emulator admin API: %v", err)
		}
	})
	conformance.Run(t, conformance.Target{BaseURL: env.BaseURL, APIKey: edgetest.Key, Faults: admin})
}
