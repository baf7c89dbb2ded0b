package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/control/libsql"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

// childDBEnv, when set, turns the test binary into a control replica
// serving that database file (see TestKilledReplicas).
const childDBEnv = "SWITCHYARD_TEST_CONTROL_DB"

func TestMain(m *testing.M) {
	if path := os.Getenv(childDBEnv); path != "" {
		serveChild(path)
		return
	}
	os.Exit(m.Run())
}

// serveChild runs a control replica until it is killed, announcing its
// address on stdout.
func serveChild(path string) {
	ctx := context.Background()
	st, err := libsql.Open(ctx, "file:"+path, libsql.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	svc := control.NewService(st, control.Config{Password: controltest.FastPasswords, Catalog: controltest.Catalog()})
	if err := svc.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	h := httpapi.New(svc, httpapi.Config{EdgeTokens: []string{edgeToken},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	http.Serve(ln, h)
}

// replica is a control service running in a child process.
type replica struct {
	cmd  *exec.Cmd
	addr string
}

func startReplica(t *testing.T, path string) *replica {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDBEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("replica did not start: %v", err)
	}
	r := &replica{cmd: cmd, addr: strings.TrimSpace(strings.TrimPrefix(line, "LISTEN "))}
	t.Cleanup(func() { r.kill() })
	return r
}

func (r *replica) kill() {
	r.cmd.Process.Kill()
	r.cmd.Wait()
}

// TestKilledReplicas runs two control replicas as separate processes on
// one database file while edges post usage to them, SIGKILLs each replica
// mid-load and restarts it. Edges resend every batch until some replica
// acknowledges it. Every record must end up stored exactly once, and the
// books must balance.
func TestKilledReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := controltest.DBPath(t)
	ctx := context.Background()
	setup := controltest.NewService(t, controltest.OpenStore(t, path), control.SystemClock)
	var keys []*control.APIKey
	for i := 0; i < 3; i++ {
		a, err := setup.CreateAccount(ctx, control.AccountCreate{Name: "A", Email: fmt.Sprintf("a%d@example.com", i),
			BillingAddress: "x", Password: "password1"})
		if err != nil {
			t.Fatal(err)
		}
		k, _, err := setup.CreateKey(ctx, a.ID, control.KeyCreate{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}

	var slots [2]atomic.Pointer[replica]
	for i := range slots {
		slots[i].Store(startReplica(t, path))
	}
	const edges, batches, batchSize = 4, 20, 50
	wantCost := map[string]int64{}
	loads := make([][][]edgeapi.UsageRecord, edges)
	now := time.Now()
	for e := range loads {
		for b := 0; b < batches; b++ {
			batch := make([]edgeapi.UsageRecord, batchSize)
			for i := range batch {
				k := keys[(e+b+i)%len(keys)]
				batch[i] = record(fmt.Sprintf("req_e%d_b%d_%d", e, b, i), *k, now)
				wantCost[k.AccountID] += 120
			}
			loads[e] = append(loads[e], batch)
		}
	}

	var acked, failed atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for e := range loads {
		wg.Add(1)
		go func(e int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(e), 3))
			for b, batch := range loads[e] {
				body, _ := json.Marshal(edgeapi.UsageBatch{EdgeID: fmt.Sprintf("edge-%d", e), Records: batch})
				for attempt := 0; ; attempt++ {
					if attempt > 500 {
						t.Errorf("edge %d batch %d never acknowledged", e, b)
						return
					}
					r := slots[rng.IntN(2)].Load()
					req, _ := http.NewRequest("POST", "http://"+r.addr+"/edge/v1/usage", bytes.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+edgeToken)
					resp, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						time.Sleep(10 * time.Millisecond)
						continue
					}
					var res edgeapi.UsageResult
					err = json.NewDecoder(resp.Body).Decode(&res)
					resp.Body.Close()
					if err != nil || resp.StatusCode != http.StatusOK {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					if res.Accepted+res.Duplicates != len(batch) || len(res.Rejected) != 0 {
						t.Errorf("edge %d batch %d: %+v", e, b, res)
					}
					acked.Add(1)
					break
				}
			}
		}(e)
	}

	total := int64(edges * batches)
	start := time.Now()
	for i, at := range []int64{total / 4, total / 2, 3 * total / 4} {
		for acked.Load() < at {
			time.Sleep(time.Millisecond)
		}
		slot := &slots[i%2]
		slot.Load().kill()
		time.Sleep(20 * time.Millisecond)
		slot.Store(startReplica(t, path))
	}
	wg.Wait()
	t.Logf("%d batches acknowledged in %v; %d attempts failed on killed replicas", acked.Load(), time.Since(start), failed.Load())
	if t.Failed() {
		return
	}

	books := controltest.Audit(t, path)
	var cost int64
	for _, c := range wantCost {
		cost += c
	}
	if books.UsageRows != int64(edges*batches*batchSize) || books.UsageCost != cost {
		t.Fatalf("stored %d records costing %d, want %d costing %d", books.UsageRows, books.UsageCost,
			edges*batches*batchSize, cost)
	}
	for acct, c := range wantCost {
		if books.Balances[acct] != -c {
			t.Errorf("account %s balance %d, want %d", acct, books.Balances[acct], -c)
		}
	}
}
