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

// InitFuelUsed makes and discards one instance and returns the fuel its
// start took.
func InitFuelUsed(ctx context.Context, p *Plugin) (int64, error) {
	inst, err := p.instantiate(ctx, "acct_bench")
	if err != nil {
		return 0, err
	}
	defer inst.close()
	return p.h.cfg.InitFuel - int64(inst.fuel.Get()), nil
}
