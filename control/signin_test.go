package control_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
)

// TestSigninThrottleShared: failed sign-ins count in the database, so two
// replicas refuse the same guessing as one would; the bound refills over
// its window; the table holds the client address but never the email.
func TestSigninThrottleShared(t *testing.T) {
	clock := controltest.NewClock(controltest.Epoch)
	path := controltest.DBPath(t)
	st := controltest.OpenStore(t, path)
	replica := func() *control.Service {
		svc := control.NewService(st, control.Config{Clock: clock, Password: controltest.FastPasswords,
			Keyring: controltest.Keyring(t), Abuse: control.AbuseConfig{LoginFailuresPerAddress: 100,
				LoginFailuresPerEmail: 4, LoginFailureWindow: 20 * time.Minute}})
		if err := svc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		return svc
	}
	a, b := replica(), replica()
	const email = "victim.whiskey@example.net"
	mustAccount(t, a, email, 0)
	ctx := control.WithClient(context.Background(), "203.0.113.9", "test")

	// Four wrong passwords, alternating replicas, use the email's bound.
	for i := range 4 {
		svc := []*control.Service{a, b}[i%2]
		if _, _, err := svc.Login(ctx, email, "wrong password"); control.ErrorCode(err) != control.EUNAUTHORIZED {
			t.Fatalf("attempt %d: %v, want unauthorized", i+1, err)
		}
	}
	for name, svc := range map[string]*control.Service{"a": a, "b": b} {
		if _, _, err := svc.Login(ctx, email, "correct horse battery"); control.ErrorCode(err) != control.ETHROTTLED {
			t.Errorf("replica %s after 4 failures across replicas: %v, want throttled", name, err)
		}
	}
	// A quarter of the window gives back one attempt.
	clock.Advance(5*time.Minute + time.Second)
	if _, _, err := b.Login(ctx, email, "correct horse battery"); err != nil {
		t.Fatalf("after the refill: %v", err)
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(path + "-wal")
	if all := string(raw) + string(wal); strings.Contains(all, email) || !strings.Contains(all, "addr:203.0.113.9") {
		t.Error("the database holds the email in plain text, or the sign-in buckets not the address")
	}
}
