package control

import "time"

// Clock tells the time. Billing months, key expiry, session lifetimes and
// usage ranges all read it, so tests can move it.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

func (f ClockFunc) Now() time.Time { return f() }

// SystemClock is the wall clock.
var SystemClock Clock = ClockFunc(time.Now)
