package httpapi_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

// TestHammerIngest has several edges post usage concurrently to two control
// replicas (separate stores, separate connection pools) sharing one
// database file. Batches overlap, are replayed to the other replica, and
// are sometimes sent to both at once, as edges retrying after a lost answer
// would. Every valid record must be stored and charged exactly once.
func TestHammerIngest(t *testing.T) {
	replicas := []*server{newServer(t, "", nil)}
	replicas = append(replicas, newServer(t, replicas[0].path, replicas[0].clock))
	const accounts, keysPer, credit = 4, 2, 1_000_000_000
	var keys []control.APIKey
	for i := 0; i < accounts; i++ {
		c, _ := signup(t, replicas[i%2], fmt.Sprintf("acct%d@example.com", i))
		for j := 0; j < keysPer; j++ {
			k := createKey(t, c, map[string]any{"name": "k"})
			if _, err := replicas[0].svc.GrantCredits(t.Context(), k.Key.AccountID, credit/keysPer, "", ""); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k.Key)
		}
	}

	const edges, perEdge, batchSize, overlap = 4, 400, 40, 10
	now := replicas[0].clock.Now()
	wantCost := map[string]int64{}
	valid := 0
	type edgeLoad struct{ batches [][]edgeapi.UsageRecord }
	loads := make([]edgeLoad, edges)
	for e := range loads {
		rng := rand.New(rand.NewPCG(uint64(e), 7))
		recs := make([]edgeapi.UsageRecord, perEdge)
		for i := range recs {
			k := keys[rng.IntN(len(keys))]
			recs[i] = record(fmt.Sprintf("req_e%d_%d", e, i), k, now)
			recs[i].InputTokens, recs[i].OutputTokens = 1+rng.IntN(5000), rng.IntN(500)
			if i%97 == 13 {
				recs[i].Status = 0 // malformed: rejected every time it is sent
				continue
			}
			valid++
			wantCost[k.AccountID] += int64(recs[i].InputTokens + recs[i].OutputTokens)
		}
		for start := 0; start < perEdge; start += batchSize - overlap {
			loads[e].batches = append(loads[e].batches, recs[start:min(start+batchSize, perEdge)])
		}
	}

	var accepted, rejected atomic.Int64
	post := func(t *testing.T, r *server, edge int, batch []edgeapi.UsageRecord) {
		var res edgeapi.UsageResult
		r.edge(t).must(http.StatusOK, "POST", "/edge/v1/usage",
			edgeapi.UsageBatch{EdgeID: fmt.Sprintf("edge-%d", edge), Records: batch}).decode(t, &res)
		accepted.Add(int64(res.Accepted))
		rejected.Add(int64(len(res.Rejected)))
		if res.Accepted+res.Duplicates+len(res.Rejected) != len(batch) {
			t.Errorf("result %+v does not account for %d records", res, len(batch))
		}
	}
	var wg sync.WaitGroup
	for e := range loads {
		wg.Add(1)
		go func(e int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(e), 11))
			for i, b := range loads[e].batches {
				r := rng.IntN(2)
				switch rng.IntN(4) {
				case 0: // the answer was lost: the edge resends to the other replica
					post(t, replicas[r], e, b)
					post(t, replicas[1-r], e, b)
				case 1: // a slow answer: the same batch reaches both replicas at once
					var both sync.WaitGroup
					for _, rep := range replicas {
						both.Add(1)
						go func() { defer both.Done(); post(t, rep, e, b) }()
					}
					both.Wait()
				default:
					post(t, replicas[r], e, b)
				}
				if i > 0 && rng.IntN(5) == 0 { // an old batch replayed after a restart
					post(t, replicas[rng.IntN(2)], e, loads[e].batches[rng.IntN(i)])
				}
			}
		}(e)
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	if got := accepted.Load(); got != int64(valid) {
		t.Errorf("accepted %d records in all answers, want each of %d exactly once", got, valid)
	}
	books := controltest.Audit(t, replicas[0].path)
	var total int64
	for _, c := range wantCost {
		total += c
	}
	if books.UsageRows != int64(valid) || books.UsageCost != total {
		t.Errorf("stored %d records costing %d, want %d costing %d", books.UsageRows, books.UsageCost, valid, total)
	}
	for acct, cost := range wantCost {
		if got := books.Balances[acct]; got != credit-cost {
			t.Errorf("account %s balance %d, want %d", acct, got, credit-cost)
		}
	}
	t.Logf("%d valid records, %d rejections sent back", valid, rejected.Load())
}
