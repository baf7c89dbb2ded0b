package control

import (
	"testing"
)

func TestPercentile95(t *testing.T) {
	ramp := make([]int64, 100)
	for i := range ramp {
		ramp[i] = int64(i + 1)
	}
	tests := []struct {
		name string
		in   []int64
		want int64
	}{
		{"empty", nil, 0},
		{"one", []int64{7}, 7},
		{"1..100", ramp, 95},
		// A week of hours, busy one in ten: the busy level sets the bar.
		{"mostly idle", append(make([]int64, 152), 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 9), 5},
		{"idle but for a few hours", append(make([]int64, 160), 5, 5, 5, 5, 5, 5, 5, 9), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile95(tc.in); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}
