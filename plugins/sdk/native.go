//go:build !wasip1

package sdk

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Natively the host imports are stand-ins, so tests run without a host:
// log lines go to slog's default logger, the clock is time.Now, and
// counters live in this process with the host's fixed windows.

var logLevels = [...]slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

func hostLog(level Level, msg string) {
	slog.Log(context.Background(), logLevels[max(Debug, min(level, Error))], msg, "source", "plugin")
}

func hostNowMs() int64 { return time.Now().UnixMilli() }

type counterID struct {
	key    string
	window int32
}

type counter struct{ end, value int64 }

var (
	countersMu sync.Mutex
	counters   = map[counterID]counter{}
)

func hostCounterAdd(key string, delta int64, windowSeconds int32) int64 {
	countersMu.Lock()
	defer countersMu.Unlock()
	sec, w := time.Now().Unix(), int64(windowSeconds)
	end := sec - sec%w + w
	id := counterID{key, windowSeconds}
	c := counters[id]
	if c.end != end {
		c = counter{end: end}
	}
	c.value += delta
	counters[id] = c
	return c.value
}
