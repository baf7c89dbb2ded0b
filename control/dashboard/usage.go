package dashboard

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

// usageRanges are the spans, in days, the usage page offers.
var usageRanges = []int{7, 30, 90}

// recentRequests is how many of the newest requests the usage page lists.
const recentRequests = 50

// usageData is the usage page.
type usageData struct {
	Days     int
	Ranges   []int
	From, To time.Time
	Total    control.UsageAggregate
	Spend    chart
	Requests chart
	Tokens   chart
	ByModel  []control.UsageAggregate
	ByKey    []keyUsage
	Recent   []control.UsageRecord
}

// keyUsage is a key's row of the breakdown, with its name.
type keyUsage struct {
	control.UsageAggregate
	Name string
}

func (c *Console) usagePage(w http.ResponseWriter, r *http.Request, s *session) {
	days := 30
	if v := r.URL.Query().Get("days"); v != "" {
		n, _ := strconv.Atoi(v)
		if !slices.Contains(usageRanges, n) {
			c.fail(w, r, s, control.Errorf(control.EINVALID, "the range must be 7, 30 or 90 days"))
			return
		}
		days = n
	}
	d, err := c.usage(r.Context(), s.account.ID, days)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := s.view("Usage", "usage")
	v.Data = d
	c.render(w, r, http.StatusOK, "usage", v)
}

// usage gathers the usage page: whole UTC days, today included.
func (c *Console) usage(ctx context.Context, accountID string, days int) (*usageData, error) {
	now := c.now()
	today := now.Truncate(24 * time.Hour)
	d := &usageData{Days: days, Ranges: usageRanges, From: today.AddDate(0, 0, 1-days), To: now}
	q := control.UsageQuery{AccountID: accountID, From: d.From, To: today.AddDate(0, 0, 1)}
	br, err := c.svc.UsageBreakdown(ctx, accountID, q.From, q.To)
	if err != nil {
		return nil, err
	}
	keys, err := c.svc.Keys(ctx, accountID)
	if err != nil {
		return nil, err
	}
	if d.Recent, err = c.recent(ctx, accountID, q.From, q.To); err != nil {
		return nil, err
	}
	d.Total = br.Total
	d.Spend, d.Requests, d.Tokens = dailyCharts(br.ByDay, d.From, days)
	d.ByModel = br.ByModel
	slices.SortFunc(d.ByModel, func(a, b control.UsageAggregate) int { return cmp.Compare(b.CostMicros, a.CostMicros) })
	names := make(map[string]string, len(keys))
	for _, k := range keys {
		names[k.ID] = k.Name
	}
	for _, a := range br.ByKey {
		d.ByKey = append(d.ByKey, keyUsage{UsageAggregate: a, Name: names[a.Group]})
	}
	slices.SortFunc(d.ByKey, func(a, b keyUsage) int { return cmp.Compare(b.CostMicros, a.CostMicros) })
	return d, nil
}

// recent returns the newest requests started in [from, to), newest first.
func (c *Console) recent(ctx context.Context, accountID string, from, to time.Time) ([]control.UsageRecord, error) {
	return c.svc.RecentUsage(ctx, accountID, from, to, recentRequests)
}
