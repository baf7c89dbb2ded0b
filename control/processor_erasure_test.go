package control_test

import (
	"context"
	"sync"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
)

// customerDeleter is a payment processor that only deletes customers,
// failing while down is set.
type customerDeleter struct {
	mu      sync.Mutex
	down    bool
	deleted []string
	tries   int
}

func (p *customerDeleter) DeleteCustomer(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tries++
	if p.down {
		return control.Errorf(control.EUNAVAILABLE, "the payment processor cannot be reached")
	}
	p.deleted = append(p.deleted, id)
	return nil
}

func (*customerDeleter) CreateCustomer(context.Context, string, string) (string, error) {
	return "", control.Errorf(control.EINTERNAL, "not in this test")
}

func (*customerDeleter) CreateCheckout(context.Context, control.CheckoutRequest) (*control.CheckoutSession, error) {
	return nil, control.Errorf(control.EINTERNAL, "not in this test")
}

func (*customerDeleter) ChargeSavedCard(context.Context, control.SavedCardCharge) (*control.ChargeResult, error) {
	return nil, control.Errorf(control.EINTERNAL, "not in this test")
}

func (*customerDeleter) ParseWebhook([]byte, string) (*control.PaymentEvent, error) {
	return nil, control.Errorf(control.EINVALID, "not in this test")
}

// TestClosureDeletesProcessorCustomer: closing an account deletes its
// Stripe customer (which holds the email and saved cards) at once; if
// Stripe cannot be reached the customer stays queued, and the retention
// job deletes it later.
func TestClosureDeletesProcessorCustomer(t *testing.T) {
	ctx := context.Background()
	clock := controltest.NewClock(controltest.Epoch)
	path := controltest.DBPath(t)
	st := controltest.OpenStore(t, path)
	p := &customerDeleter{down: true}
	svc := control.NewService(st, control.Config{Clock: clock, Password: controltest.FastPasswords,
		Catalog: controltest.Catalog(), Payments: p, Keyring: controltest.Keyring(t)})
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	customer := func(email, id string) *control.Account {
		t.Helper()
		a := mustAccount(t, svc, email, 0)
		if _, err := st.SetCustomer(ctx, a.ID, id, clock.Now()); err != nil {
			t.Fatal(err)
		}
		return a
	}
	queued := func() []string {
		t.Helper()
		ids, err := st.ProcessorErasures(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}

	// Stripe is down: the closure succeeds, the customer waits.
	a := customer("down@example.com", "cus_down")
	if _, err := svc.CloseAccount(ctx, a.ID, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if ids := queued(); len(ids) != 1 || ids[0] != "cus_down" || len(p.deleted) != 0 || p.tries != 1 {
		t.Fatalf("queued %v, deleted %v after %d tries; want cus_down queued after one try", ids, p.deleted, p.tries)
	}

	// Stripe is back: the next retention run deletes it.
	p.down = false
	rep, err := svc.RunRetention(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted.ProcessorCustomers != 1 || len(queued()) != 0 || len(p.deleted) != 1 || p.deleted[0] != "cus_down" {
		t.Fatalf("after retention: report %+v, queue %v, deleted %v", rep.Deleted, queued(), p.deleted)
	}

	// Stripe is up: the closure deletes the customer itself. An account
	// without a customer queues nothing.
	b := customer("up@example.com", "cus_up")
	if _, err := svc.CloseAccount(ctx, b.ID, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	c := mustAccount(t, svc, "none@example.com", 0)
	if _, err := svc.CloseAccount(ctx, c.ID, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if len(queued()) != 0 || len(p.deleted) != 2 || p.deleted[1] != "cus_up" {
		t.Fatalf("queue %v, deleted %v; want cus_up deleted at its closure", queued(), p.deleted)
	}
	controltest.Audit(t, path)
}
