package mailtest_test

import (
	"net"
	"net/smtp"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/internal/mailtest"
)

func TestServerStopStart(t *testing.T) {
	s := mailtest.Start(t)
	msg := "From: a@example.com\r\nTo: b@example.com\r\nSubject: hello\r\n\r\nbody\r\n"
	if err := smtp.SendMail(s.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := s.WaitMessages(t, 1, 5*time.Second)
	if len(got) != 1 || got[0].Subject != "hello" {
		t.Fatalf("messages = %+v", got)
	}
	m := s.Message(t, got[0].ID)
	if m.Text != "body\r\n" && m.Text != "body\n" && m.Text != "body" {
		t.Errorf("text = %q", m.Text)
	}

	s.Stop()
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("SMTP still answers after Stop")
	}
	s.Start()
	if got := s.Messages(t); len(got) != 1 {
		t.Fatalf("after a restart, %d messages, want the 1 kept", len(got))
	}
}
