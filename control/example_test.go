package control_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/libsql"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

// The life of a key: an operator creates an account and grants credit, the
// customer creates a key, the edge looks the key up by the hash of its
// secret and reports a request, and the account is charged at the catalog
// price.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "switchyard-example")
	defer os.RemoveAll(dir)

	st, err := libsql.Open(ctx, libsql.FileURL(dir), libsql.Options{})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	svc := control.NewService(st, control.Config{})
	if err := svc.Start(ctx); err != nil {
		panic(err)
	}

	acct, _ := svc.CreateAccount(ctx, control.AccountCreate{Name: "Ada", Email: "ada@example.com",
		BillingAddress: "12 St James's Square, London", Password: "difference engine"})
	svc.GrantCredits(ctx, acct.ID, 5_000_000, "welcome credit", "")
	key, secret, _ := svc.CreateKey(ctx, acct.ID, control.KeyCreate{Name: "laptop"})

	snap, _ := svc.KeySnapshot(ctx, control.HashSecret(secret))
	fmt.Println("edge sees key:", snap.Status, snap.Balance, snap.BalanceMicros)

	res, _ := svc.IngestUsage(ctx, "edge-1", []edgeapi.UsageRecord{{
		RequestID: "req_1", KeyID: key.ID, AccountID: acct.ID, StartedAt: time.Now(), Endpoint: "chat.completions",
		Model: "openai/gpt-4o-mini", Status: 200, InputTokens: 1_000_000, OutputTokens: 100_000,
	}})
	fmt.Println("accepted:", res.Accepted)

	acct, _ = svc.Account(ctx, acct.ID)
	fmt.Println("balance:", acct.BalanceMicros)
	// Output:
	// edge sees key: active ok 5000000
	// accepted: 1
	// balance: 4790000
}
