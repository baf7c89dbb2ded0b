package dashboard

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
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
	Ranges   []rangeLink
	From, To time.Time
	// Filter narrows the page to one model and/or key; Models and Keys
	// are its choices: what has usage in the range, and every key.
	Filter   control.UsageFilter
	Models   []string
	Keys     []control.APIKey
	Total    control.UsageAggregate
	Spend    chart
	Requests chart
	Tokens   chart
	ByModel  []control.UsageAggregate
	ByKey    []keyUsage
	Recent   []recentRequest
}

// rangeLink is one of the page's range choices, keeping the filter.
type rangeLink struct {
	Days int
	URL  string
}

// keyUsage is a key's row of the breakdown, with its name.
type keyUsage struct {
	control.UsageAggregate
	Name string
}

// recentRequest is a row of the latest requests, with its key's name.
type recentRequest struct {
	control.UsageRecord
	KeyName string
}

// maxFilterModel bounds a model name in the page's query.
const maxFilterModel = 256

func (c *Console) usagePage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	days := 30
	if v := q.Get("days"); v != "" {
		n, _ := strconv.Atoi(v)
		if !slices.Contains(usageRanges, n) {
			c.fail(w, r, s, control.Errorf(control.EINVALID, "the range must be 7, 30 or 90 days"))
			return
		}
		days = n
	}
	f := control.UsageFilter{Model: q.Get("model"), KeyID: q.Get("key")}
	if len(f.Model) > maxFilterModel {
		c.fail(w, r, s, control.Errorf(control.EINVALID, "a model name is at most %d characters", maxFilterModel))
		return
	}
	d, err := c.usage(r.Context(), s.account.ID, days, f)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := s.view("Usage", "usage")
	v.Data = d
	c.render(w, r, http.StatusOK, "usage", v)
}

// usage gathers the usage page: whole UTC days, today included, narrowed
// by f.
func (c *Console) usage(ctx context.Context, accountID string, days int, f control.UsageFilter) (*usageData, error) {
	now := c.now()
	today := now.Truncate(24 * time.Hour)
	d := &usageData{Days: days, From: today.AddDate(0, 0, 1-days), To: now, Filter: f}
	from, to := d.From, today.AddDate(0, 0, 1)
	keys, err := c.svc.Keys(ctx, accountID)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(keys))
	for _, k := range keys {
		names[k.ID] = k.Name
	}
	if _, ok := names[f.KeyID]; f.KeyID != "" && !ok {
		return nil, control.Errorf(control.ENOTFOUND, "this account has no such key; choose one from the list")
	}
	br, err := c.svc.UsageBreakdownOf(ctx, accountID, from, to, f)
	if err != nil {
		return nil, err
	}
	recent, err := c.svc.RecentUsage(ctx, accountID, from, to, f, recentRequests)
	if err != nil {
		return nil, err
	}
	for _, r := range recent {
		d.Recent = append(d.Recent, recentRequest{UsageRecord: r, KeyName: names[r.KeyID]})
	}
	d.Keys, d.Models = keys, br.Models
	if f.Model != "" && !slices.Contains(d.Models, f.Model) {
		d.Models = append(d.Models, f.Model) // keep the choice shown
	}
	for _, n := range usageRanges {
		qs := url.Values{"days": {strconv.Itoa(n)}}
		if f.Model != "" {
			qs.Set("model", f.Model)
		}
		if f.KeyID != "" {
			qs.Set("key", f.KeyID)
		}
		d.Ranges = append(d.Ranges, rangeLink{Days: n, URL: "/usage?" + qs.Encode()})
	}
	d.Total = br.Total
	d.Spend, d.Requests, d.Tokens = dailyCharts(br.ByDay, d.From, days)
	d.ByModel = br.ByModel
	slices.SortFunc(d.ByModel, func(a, b control.UsageAggregate) int { return cmp.Compare(b.CostMicros, a.CostMicros) })
	for _, a := range br.ByKey {
		d.ByKey = append(d.ByKey, keyUsage{UsageAggregate: a, Name: names[a.Group]})
	}
	slices.SortFunc(d.ByKey, func(a, b keyUsage) int { return cmp.Compare(b.CostMicros, a.CostMicros) })
	return d, nil
}
