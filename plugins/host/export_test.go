package host

import "context"

// Instantiate makes and discards one instance, for the instantiation
// benchmark.
func Instantiate(ctx context.Context, p *Plugin) error {
	inst, err := p.instantiate(ctx, "acct_bench")
	if err == nil {
		inst.close()
	}
	return err
}
