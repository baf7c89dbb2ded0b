package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"mime"
	"net/http"
	"sync"
)

// CSRFHeader carries the CSRF token on state-changing requests that a
// session cookie authenticates; HTML forms send it as the field
// CSRFField instead.
const (
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf_token"
)

// csrfToken derives the session's CSRF token from its secret. Only the
// holder of the session cookie (HttpOnly, so not even the page's own
// scripts) can compute it, and the token does not reveal the secret, so
// it can be handed to the page; being derived, it needs no storage and is
// the same on every replica. See RATIONALE.md.
func csrfToken(sessionSecret string) string {
	sum := sha256.Sum256([]byte("switchyard csrf v1\x00" + sessionSecret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// safeMethod reports methods that change nothing and need no token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// validCSRF checks a cookie-authenticated request's token: the header, or
// for a URL-encoded form its csrf_token field. A multipart form must use
// the header, since reading its fields here would consume the upload.
func validCSRF(r *http.Request, sessionSecret string) bool {
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			got = r.PostFormValue(CSRFField)
		}
	}
	want := csrfToken(sessionSecret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// CSRFTransport is an http.RoundTripper for programs that sign in with the
// session cookie, as a console page does: it keeps the CSRF token the API
// answers sign-up, sign-in and GET /api/v1/account with, and sends it on
// every later request that does not set its own. Base nil means
// http.DefaultTransport. Tests and scripts use it; a management token
// needs none of this.
type CSRFTransport struct {
	Base http.RoundTripper

	mu    sync.Mutex
	token string
}

func (c *CSRFTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	tok := c.token
	c.mu.Unlock()
	if tok != "" && req.Header.Get(CSRFHeader) == "" {
		req = req.Clone(req.Context())
		req.Header.Set(CSRFHeader, tok)
	}
	base := c.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err == nil {
		if t := resp.Header.Get(CSRFHeader); t != "" {
			c.mu.Lock()
			c.token = t
			c.mu.Unlock()
		}
	}
	return resp, err
}
