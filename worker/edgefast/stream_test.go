package edgefast

import (
	"bytes"
	"testing"

	"github.com/switchyard-ai/switchyard/worker"
)

// TestStreamBodyRunsOnce checks that the core's stream function runs exactly
// once, and with failing sends if fasthttp closes the body without writing
// it, so the core always records the request and closes the upstream.
func TestStreamBodyRunsOnce(t *testing.T) {
	for _, written := range []bool{true, false} {
		runs, cancels := 0, 0
		var sendErr error
		b := &streamBody{
			fn: func(sw worker.StreamWriter) {
				runs++
				sendErr = sw.Send([]byte("data: x\n\n"))
			},
			cancel: func() { cancels++ },
		}
		var out bytes.Buffer
		if written {
			if n, err := b.WriteTo(&out); n != 9 || err != nil {
				t.Errorf("WriteTo = %d, %v", n, err)
			}
		}
		b.Close()
		b.Close()
		if runs != 1 || cancels != 1 {
			t.Errorf("written=%v: fn ran %d times, cancel %d times; want once each", written, runs, cancels)
		}
		if (sendErr == nil) != written {
			t.Errorf("written=%v: Send error %v", written, sendErr)
		}
	}
}
