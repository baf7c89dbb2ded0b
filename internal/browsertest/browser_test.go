package browsertest_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchyard-ai/switchyard/internal/browsertest"
)

func TestDollars(t *testing.T) {
	tests := []struct {
		name  string
		shown string
		want  int64
		bad   bool
	}{
		{name: "cents", shown: "$12.34", want: 12_340_000},
		{name: "whole", shown: "$5", want: 5_000_000},
		{name: "thousands", shown: "$1,234.50", want: 1_234_500_000},
		{name: "spaces", shown: "  $0.05\n", want: 50_000},
		{name: "negative", shown: "-$0.05", want: -50_000},
		{name: "minus sign", shown: "−$3.00", want: -3_000_000},
		{name: "no dollar sign", shown: "12.34", bad: true},
		{name: "words", shown: "$twelve", bad: true},
		{name: "not a number", shown: "$NaN", bad: true},
		{name: "one decimal", shown: "$1.5", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := browsertest.Dollars(tt.shown)
			if tt.bad {
				if err == nil {
					t.Fatalf("Dollars(%q) = %d, want an error", tt.shown, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Dollars(%q) = %d, %v; want %d", tt.shown, got, err, tt.want)
			}
		})
	}
}

// TestBrowser starts Chromium on a page served here and takes its
// screenshots: the harness the console test stands on.
func TestBrowser(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>harness</title><main id="ready"><p>Hello, browser.</p></main>`)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := browsertest.Start(ctx, t)
	b.Shots = t.TempDir()
	b.Visit(srv.URL, "main#ready", "harness")
	if !b.Exists("main#ready p") || b.Exists("#absent") {
		t.Error("Exists does not tell present from absent")
	}
	if got := browsertest.Run(b, "read the text", chromedp.Text(chromedp.CSS("main#ready p"))); got != "Hello, browser." {
		t.Errorf("text %q", got)
	}
	for _, w := range browsertest.Widths {
		png, err := os.ReadFile(filepath.Join(b.Shots, fmt.Sprintf("harness-%d.png", w)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("screenshot at %d px is not a PNG", w)
		}
	}
}

// TestKeyboardProblems checks the Tab walk on pages made to pass and to
// trip it.
func TestKeyboardProblems(t *testing.T) {
	pages := map[string]string{
		"/good": `<a href="#m">Skip</a><nav><a href="/x">Nav</a></nav><main id="m" tabindex="-1">
			<a href="/a">A link</a><label for="f">Field</label><input id="f"><input type="hidden" name="h">
			<p class="check"><input id="c" type="checkbox"><label for="c">Tick</label></p>
			<button hidden>Hidden</button><input disabled aria-label="off"><select id="s"><option>1</select><label for="s">Choice</label>
			<button>Go</button></main>`,
		"/bad": `<main><input id="unlabelled" placeholder="type here"><input id="aria" aria-label="Named only by ARIA">
			<button tabindex="2">Jumps the queue</button><a href="/y">Y</a><div inert><a href="/i">Inert</a></div><div tabindex="0"></div><a href="/z" hidden>Z</a></main><footer><a href="/after">After</a></footer>`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><title>keyboard</title>%s`, pages[r.URL.Path])
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := browsertest.Start(ctx, t)

	b.Do("open the good page", chromedp.Navigate(srv.URL+"/good"))
	if problems := b.KeyboardProblems("main"); len(problems) != 0 {
		t.Errorf("a page without problems has %q", problems)
	}

	b.Do("open the bad page", chromedp.Navigate(srv.URL+"/bad"))
	problems := strings.Join(b.KeyboardProblems("main"), "\n")
	t.Logf("problems found:\n%s", problems)
	for _, want := range []string{
		"input#unlabelled has no <label>",
		"input#aria has no <label>",
		"Tab reaches button “Jumps the queue” before input#unlabelled",
		"Tab never reaches a “Inert”",
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems lack %q:\n%s", want, problems)
		}
	}
	if !strings.Contains(problems, "Tab stops on div, which is no link") && !strings.Contains(problems, "div has no accessible name") {
		t.Errorf("an empty focusable div goes unnoticed:\n%s", problems)
	}
	if strings.Contains(problems, "input#aria has no accessible name") {
		t.Errorf("aria-label is an accessible name:\n%s", problems)
	}
}
