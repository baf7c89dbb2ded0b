package dashboard

import (
	"strconv"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

// Chart geometry, in SVG user units; the SVG scales to its container.
const (
	chartWidth  = 720
	chartHeight = 180
	// chartTop and chartBottom keep the tallest bar and the axis inside.
	chartTop    = 4
	chartBottom = 1
)

// chart is a bar chart of one value per day, drawn by the template as SVG.
// Each bar has its own <title>, so hovering (or a screen reader) gives the
// day's figure; the chart's <title> and <desc> summarise it.
type chart struct {
	Title, Desc   string
	Width, Height int
	// Baseline is the y of the bars' bottom.
	Baseline float64
	Max      string
	Bars     []bar
	// Ticks label the first, middle and last days under the bars (as
	// HTML: SVG text would stretch with the chart).
	Ticks []string
}

type bar struct {
	X, Y, W, H float64
	Label      string
}

// dailyCharts draws spend, requests and tokens per day for the days
// from..from+days, filling days without usage with zero.
func dailyCharts(perDay []control.UsageAggregate, from time.Time, days int) (spend, requests, tokens chart) {
	byDay := make(map[string]*control.UsageAggregate, len(perDay))
	for i := range perDay {
		byDay[perDay[i].Group] = &perDay[i]
	}
	dates := make([]string, days)
	spendV, reqV, tokV := make([]int64, days), make([]int64, days), make([]int64, days)
	var totalSpend, totalReq, totalTok int64
	for i := range days {
		dates[i] = from.AddDate(0, 0, i).Format("2006-01-02")
		if a := byDay[dates[i]]; a != nil {
			spendV[i], reqV[i] = a.CostMicros, a.Requests
			tokV[i] = a.InputTokens + a.OutputTokens
			totalSpend, totalReq, totalTok = totalSpend+spendV[i], totalReq+reqV[i], totalTok+tokV[i]
		}
	}
	span := "the last " + strconv.Itoa(days) + " days (" + dates[0] + " to " + dates[days-1] + ", UTC)"
	spend = barChart("Spend per day", "Spend per day over "+span+": "+cost(totalSpend)+" in total.",
		dates, spendV, cost)
	requests = barChart("Requests per day", "Requests per day over "+span+": "+number(totalReq)+" in total.",
		dates, reqV, func(v int64) string { return number(v) + " requests" })
	tokens = barChart("Tokens per day", "Input and output tokens per day over "+span+": "+number(totalTok)+" in total.",
		dates, tokV, func(v int64) string { return number(v) + " tokens" })
	return spend, requests, tokens
}

func barChart(title, desc string, dates []string, values []int64, format func(int64) string) chart {
	c := chart{Title: title, Desc: desc, Width: chartWidth, Height: chartHeight,
		Baseline: chartHeight - chartBottom}
	var max int64
	for _, v := range values {
		max = maxOf(max, v)
	}
	c.Max = format(max)
	slot := float64(chartWidth) / float64(len(values))
	gap := slot * 0.15
	plot := float64(chartHeight - chartTop - chartBottom)
	for i, v := range values {
		h := 0.0
		if max > 0 {
			h = plot * float64(v) / float64(max)
		}
		if v > 0 && h < 1 {
			h = 1 // a day with any usage stays visible
		}
		c.Bars = append(c.Bars, bar{X: round1(float64(i)*slot + gap/2), Y: round1(c.Baseline - h),
			W: round1(slot - gap), H: round1(h), Label: dates[i] + ": " + format(v)})
	}
	last := len(values) - 1
	c.Ticks = []string{dates[0], dates[last/2], dates[last]}
	return c
}

func maxOf(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// round1 keeps the SVG short: a tenth of a unit is finer than a pixel.
func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
