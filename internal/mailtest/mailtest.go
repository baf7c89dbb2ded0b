// Package mailtest runs a real SMTP server for tests: mailpit, started on
// free loopback ports, read back through its HTTP API.
//
// The binary is <repo root>/bin/tools/mailpit (`make tools` installs it)
// or the path in SWITCHYARD_MAILPIT. A test that needs it fails, never
// skips, when it is missing.
package mailtest

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/switchyard-ai/switchyard/internal/repo"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server is a mailpit process. Stop and Start stage an SMTP outage on the
// same ports; messages survive it (they are kept in a file).
type Server struct {
	// Host and Port are the SMTP listener.
	Host string
	Port int
	// APIURL is the HTTP API's root.
	APIURL string
	// Args are extra mailpit flags, read by Start.
	Args []string

	tb      testing.TB
	bin     string
	db      string
	apiAddr string

	mu   sync.Mutex
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when cmd has exited
}

// Binary returns mailpit's path, failing tb when it is missing.
func Binary(tb testing.TB) string {
	tb.Helper()
	return repo.Tool(tb, "mailpit", "SWITCHYARD_MAILPIT")
}

// FreePort returns a loopback port nothing listens on right now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// New prepares a server on free ports without starting it, so a test can
// point a mailer at it while it is down. It is stopped when tb ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{Host: "127.0.0.1", Port: FreePort(tb), tb: tb, bin: Binary(tb), db: filepath.Join(tb.TempDir(), "mailpit.db")}
	s.apiAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(tb)))
	s.APIURL = "http://" + s.apiAddr
	tb.Cleanup(s.Stop)
	return s
}

// Start starts a new server and waits until it answers.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := New(tb)
	s.Start()
	return s
}

// Addr is the SMTP listener's host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Start starts mailpit (again) and waits until both listeners answer.
func (s *Server) Start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	log, err := os.CreateTemp(s.tb.TempDir(), "mailpit-*.log")
	if err != nil {
		s.tb.Fatal(err)
	}
	args := append([]string{"--smtp", s.Addr(), "--listen", s.apiAddr, "--database", s.db,
		"--disable-version-check", "--smtp-disable-rdns", "--quiet"}, s.Args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		s.tb.Fatalf("start mailpit: %v", err)
	}
	s.cmd, s.log = cmd, log
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	s.done = done
	deadline := time.Now().Add(15 * time.Second)
	for !s.ready() {
		select {
		case <-done:
			out, _ := os.ReadFile(log.Name())
			s.cmd = nil
			s.tb.Fatalf("mailpit exited: %v\n%s", waitErr, out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			s.tb.Fatalf("mailpit did not become ready in 15s\n%s", out)
		}
	}
}

func (s *Server) ready() bool {
	c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	resp, err := http.Get(s.APIURL + "/api/v1/info")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop stops mailpit; it is a no-op when it is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.log.Close()
	s.cmd = nil
}

// Summary is a message as the list API gives it.
type Summary struct {
	ID      string    `json:"ID"`
	Subject string    `json:"Subject"`
	To      []Address `json:"To"`
	Created time.Time `json:"Created"`
}

// Address is a mailbox in mailpit's API.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Message is one message in full.
type Message struct {
	ID        string    `json:"ID"`
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Subject   string    `json:"Subject"`
	Text      string    `json:"Text"`
	HTML      string    `json:"HTML"`
}

// Messages lists every message, newest first.
func (s *Server) Messages(tb testing.TB) []Summary {
	tb.Helper()
	var out struct {
		Messages []Summary `json:"messages"`
	}
	s.get(tb, "/api/v1/messages?limit=1000", &out)
	return out.Messages
}

// Message returns one message by mailpit's id.
func (s *Server) Message(tb testing.TB, id string) *Message {
	tb.Helper()
	var m Message
	s.get(tb, "/api/v1/message/"+id, &m)
	return &m
}

// WaitMessages waits up to timeout for at least n messages and returns
// them all.
func (s *Server) WaitMessages(tb testing.TB, n int, timeout time.Duration) []Summary {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ms := s.Messages(tb)
		if len(ms) >= n || time.Now().After(deadline) {
			return ms
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (s *Server) get(tb testing.TB, path string, v any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("mailpit API: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("mailpit API %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("mailpit API %s: %v", path, err)
	}
}

// String names the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("mailpit smtp=%s api=%s", s.Addr(), s.APIURL) }
