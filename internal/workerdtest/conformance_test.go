package workerdtest_test

import (
	"testing"

	"github.com/switchyard-ai/switchyard/internal/conformance"
	"github.com/switchyard-ai/switchyard/internal/workerdtest"
)

// TestConformance runs the gateway's SDK conformance suite, the one the
// native edges pass, against the Workers build in workerd.
func TestConformance(t *testing.T) {
	w := workerdtest.Start(t, workerdtest.Options{Models: conformance.Models()})
	admin := &conformance.EmulatorAdmin{URL: w.EmulatorURL}
	t.Cleanup(func() {
		if err := admin.Err(); err != nil {
			t.Errorf("emulator admin API: %v", err)
		}
	})
	conformance.Run(t, conformance.Target{BaseURL: w.URL, APIKey: w.APIKey, Faults: admin, Usage: w.Usage})
}
