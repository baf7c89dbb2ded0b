package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkUsagePage measures GET /usage in the server (the handler, no
// network) for an account with 10,000 usage records over five keys in its
// 30-day range: the daily totals, the key list, the latest 50 requests
// and the rendering. The budget is 20 ms.
func BenchmarkUsagePage(b *testing.B) {
	s := newServer(b, false)
	br, a := s.signup(b, "bench@example.com")
	for range 5 {
		br.post("/keys", "name", "bench").want(b, http.StatusCreated)
	}
	keys, _ := s.svc.Keys(b.Context(), a.ID)
	for i := range keys {
		s.ingest(b, &keys[i], 2000, 29)
	}
	u, _ := url.Parse(s.URL)
	cookies := br.http.Jar.Cookies(u)
	h := s.Config.Handler
	get := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/usage", nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := get(); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="total-requests">10,000<`) {
		b.Fatalf("status %d, or not 10,000 requests in range", w.Code)
	}
	for b.Loop() {
		if w := get(); w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
