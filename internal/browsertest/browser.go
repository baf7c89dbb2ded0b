// Package browsertest drives Debian's Chromium, headless, through chromedp,
// for end-to-end tests of the web console.
//
// The browser is /usr/bin/chromium (`apt-get install chromium`; .ci/run
// installs it) or the executable named by SWITCHYARD_CHROMIUM. A missing
// browser fails the test rather than skipping it, so the console is never
// silently untested in CI. A developer without Chromium may set
// SWITCHYARD_BROWSER_TESTS=off to skip these tests instead.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/switchyard-ai/switchyard/internal/repo"
)

// Environment variables the package reads.
const (
	// EnvChromium names the browser executable. Default /usr/bin/chromium.
	EnvChromium = "SWITCHYARD_CHROMIUM"
	// EnvBrowserTests, set to "off", skips browser tests instead of
	// failing them when the browser is missing. Never set it in CI.
	EnvBrowserTests = "SWITCHYARD_BROWSER_TESTS"
)

const defaultChromium = "/usr/bin/chromium"

// Chromium returns the browser executable. When it is missing it fails tb,
// saying how to install it, unless SWITCHYARD_BROWSER_TESTS=off, which
// skips tb.
func Chromium(tb testing.TB) string {
	tb.Helper()
	path, from := defaultChromium, "the default path"
	if p := os.Getenv(EnvChromium); p != "" {
		path, from = p, EnvChromium
	}
	_, err := os.Stat(path)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("browsertest: no Chromium at %s (%s): %v; install it with "+
		"`apt-get install -y --no-install-recommends chromium` (as .ci/run does) or set %s", path, from, err, EnvChromium)
	if os.Getenv(EnvBrowserTests) == "off" {
		tb.Skipf("%s=off: %s", EnvBrowserTests, msg)
	}
	tb.Fatal(msg)
	return ""
}

// Flags are the command-line switches Chromium runs with, besides
// --headless and a fresh --user-data-dir. The machine's network is closed:
// without the background-networking switches Chromium keeps dialling
// Google's hosts and the refused connections pile up.
var Flags = []string{
	"no-sandbox", // CI runs as root, where Chromium refuses its sandbox
	"disable-gpu",
	"disable-quic",
	"no-first-run",
	"disable-background-networking",
	"disable-component-update",
	"disable-sync",
	"disable-dev-shm-usage",
}

// Widths are the viewport widths every screenshot is taken at: a desktop
// and a phone.
var Widths = []int64{1280, 375}

// viewportHeight is the height pages are laid out in; full-page
// screenshots extend past it.
const viewportHeight = 800

// Browser is a headless Chromium with a fresh profile and one tab. The
// pages' uncaught JavaScript exceptions are reported as test errors when
// the test ends.
type Browser struct {
	// Ctx is the tab's chromedp context: pass it to chromedp.Do and
	// chromedp.Run. It ends with the parent context given to Start.
	Ctx context.Context
	// Shots is where Screenshot writes.
	Shots string

	tb     testing.TB
	cancel context.CancelFunc

	mu         sync.Mutex
	exceptions []string
}

// Start starts Chromium under ctx and opens a tab; the browser is closed
// when tb ends or ctx is done. Screenshots go to ScreenshotDir(tb).
func Start(ctx context.Context, tb testing.TB) *Browser {
	tb.Helper()
	exe := Chromium(tb)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(int(Widths[0]), viewportHeight),
	}
	for _, f := range Flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(tb.Logf))
	b := &Browser{Ctx: tctx, Shots: ScreenshotDir(tb), tb: tb,
		cancel: func() { cancelTab(); cancelAlloc() }}
	tb.Cleanup(b.close)
	// The first action starts the browser; a failure here is the browser's.
	if err := chromedp.Do(tctx, chromedp.EmulateViewport(Widths[0], viewportHeight)); err != nil {
		tb.Fatalf("browsertest: start %s: %v", exe, err)
	}
	if err := chromedp.Listen(tctx, b.record); err != nil {
		tb.Fatalf("browsertest: listen: %v", err)
	}
	return b
}

func (b *Browser) record(ev any) {
	if e, ok := ev.(*runtime.EventExceptionThrown); ok {
		d := e.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text = d.Exception.Description
		}
		b.mu.Lock()
		b.exceptions = append(b.exceptions, fmt.Sprintf("%s:%d: %s", d.URL, d.LineNumber+1, text))
		b.mu.Unlock()
	}
}

func (b *Browser) close() {
	b.mu.Lock()
	exceptions := b.exceptions
	b.mu.Unlock()
	for _, e := range exceptions {
		b.tb.Errorf("browsertest: uncaught JavaScript exception: %s", e)
	}
	b.cancel()
}

// StepTimeout bounds each Do and Run, so a missing element fails the test
// while the browser can still say what it shows.
const StepTimeout = 15 * time.Second

// Do runs steps in the tab, failing tb with what, the page's address and
// its text when one fails or takes longer than StepTimeout: a missing
// element on an error page is easier to read that way.
func (b *Browser) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.tb.Helper()
	Run(b, what, chromedp.Steps(steps...))
}

// describe says where the tab is and what it shows, for failure messages.
// It has its own short deadline: it often runs after the test's has gone.
func (b *Browser) describe() string {
	ctx, cancel := context.WithTimeout(b.Ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		text = "(page text unavailable: " + err.Error() + ")"
	}
	const max = 2000
	if len(text) > max {
		text = text[:max] + "…"
	}
	return fmt.Sprintf("page %s:\n%s", loc, text)
}

// Follow runs steps that leave the page, a click on a link or a submit
// button, and waits until the next document has loaded. Waiting for an
// element instead is not enough when the old page has it too: the test
// would read, or photograph, the page being left.
func (b *Browser) Follow(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.tb.Helper()
	b.Do(what+" (mark the page)", chromedp.Evaluate[chromedp.Void](`window.browsertestLeaving = true`))
	b.Do(what, steps...)
	for deadline := time.Now().Add(StepTimeout); ; time.Sleep(20 * time.Millisecond) {
		// A document being replaced may not answer: ask again.
		ctx, cancel := context.WithTimeout(b.Ctx, time.Second)
		arrived, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!window.browsertestLeaving && document.readyState === "complete"`))
		cancel()
		if err == nil && arrived {
			return
		}
		if time.Now().After(deadline) {
			b.tb.Fatalf("%s: no new page loaded within %s (last error %v)\n%s", what, StepTimeout, err, b.describe())
		}
	}
}

// Run runs one action in the tab and returns its value, failing tb as Do
// does.
func Run[T any](b *Browser, what string, a chromedp.Action[T]) T {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.tb.Fatalf("%s: %v\n%s", what, err, b.describe())
	}
	return v
}

// Visit navigates to url, checks that the document arrived with a 2xx
// status, waits for the element ready (a CSS selector) and takes the
// page's screenshots under name.
func (b *Browser) Visit(url, ready, name string) {
	b.tb.Helper()
	b.Do("visit "+url, chromedp.Navigate(url))
	b.Arrived(ready, name)
}

// Arrived is Visit after a navigation the page made itself (a form, a
// link): it waits for ready, checks for a 2xx status and takes the
// screenshots.
func (b *Browser) Arrived(ready, name string) {
	b.tb.Helper()
	b.ArrivedStatus(ready, name, 0)
}

// ArrivedStatus is Arrived for a page that must come with status want, a
// form sent back with its errors (400) for one; 0 means any 2xx.
func (b *Browser) ArrivedStatus(ready, name string, want int) {
	b.tb.Helper()
	b.Do("wait for "+ready, chromedp.WaitReady(chromedp.CSS(ready)))
	status := Run(b, "read the document's status",
		chromedp.Evaluate[int](`(performance.getEntriesByType("navigation")[0] || {}).responseStatus || 0`))
	if want == 0 && status/100 != 2 || want != 0 && status != want {
		b.tb.Fatalf("%s: status %d\n%s", name, status, b.describe())
	}
	b.Screenshot(name)
}

// Screenshot saves full-page PNGs of the current page at every width in
// Widths, as <Shots>/<name>-<width>.png, then restores the first width.
func (b *Browser) Screenshot(name string) {
	b.tb.Helper()
	for _, w := range Widths {
		// A page wider than the viewport comes out wider than w, blank
		// past it: the measure below names what a phone would scroll
		// sideways to.
		b.Do("resize for "+name, chromedp.EmulateViewport(w, viewportHeight))
		shot := b.stitched(name)
		if over := Run(b, "measure "+name, chromedp.Evaluate[[]string](overflowing)); len(over) > 0 {
			b.tb.Errorf("%s at %d px: the page is wider than the viewport; overflowing: %s", name, w, strings.Join(over, ", "))
		}
		path := filepath.Join(b.Shots, fmt.Sprintf("%s-%d.png", name, w))
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			b.tb.Fatal(err)
		}
	}
	b.Do("restore the viewport", chromedp.EmulateViewport(Widths[0], viewportHeight))
}

// stitched captures the page as the viewport shows it, one viewport
// height at a time from the top, and joins the slices into one PNG.
// Chromium's own full-page capture leaves scrolling boxes below the fold
// blank (a table in an overflow-x box came out empty), which is not what
// a user sees.
func (b *Browser) stitched(name string) []byte {
	b.tb.Helper()
	size := Run(b, "measure "+name, chromedp.Evaluate[[]int](
		`[document.documentElement.scrollWidth, document.documentElement.scrollHeight, window.innerHeight]`))
	width, height, view := size[0], size[1], size[2]
	page := image.NewRGBA(image.Rect(0, 0, width, height))
	for y := 0; y < height; y += view {
		at := Run(b, "scroll "+name, chromedp.Evaluate[int](fmt.Sprintf(`window.scrollTo(0, %d), window.scrollY`, y)))
		shot := Run(b, "screenshot "+name, chromedp.CaptureScreenshot())
		slice, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			b.tb.Fatalf("screenshot %s: %v", name, err)
		}
		draw.Draw(page, slice.Bounds().Add(image.Pt(0, at)), slice, image.Point{}, draw.Src)
	}
	Run(b, "scroll back "+name, chromedp.Evaluate[int](`window.scrollTo(0, 0), 0`))
	var out bytes.Buffer
	if err := png.Encode(&out, page); err != nil {
		b.tb.Fatal(err)
	}
	return out.Bytes()
}

// overflowing lists the innermost elements that reach past the right
// edge of the viewport and are not clipped by a scrolling box, which make
// a phone scroll the whole page sideways. An absolutely positioned element
// escapes every box up to its containing block, so only positioned
// ancestors clip it.
const overflowing = `(() => {
	const w = document.documentElement.clientWidth, out = [];
	if (document.documentElement.scrollWidth <= w) return out;
	const past = el => el.getBoundingClientRect().right > w + 1;
	for (const el of document.body.querySelectorAll("*")) {
		if (!past(el) || [...el.children].some(past)) continue;
		let pos = getComputedStyle(el).position, clipped = pos === "fixed";
		for (let p = el.parentElement; p && !clipped; p = p.parentElement) {
			const s = getComputedStyle(p);
			if (pos === "absolute" && s.position === "static") continue;
			clipped = s.overflowX !== "visible" && !past(p);
			pos = s.position;
		}
		if (clipped) continue;
		const cls = typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\s+/).join(".") : "";
		out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + cls + " (right edge " + Math.round(el.getBoundingClientRect().right) + " px)");
		if (out.length === 5) break;
	}
	if (out.length === 0) out.push("document " + document.documentElement.scrollWidth + " px wide");
	return out;
})()`

// Exists reports whether an element matches the CSS selector now, without
// waiting.
func (b *Browser) Exists(selector string) bool {
	b.tb.Helper()
	return Run(b, "query "+selector, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q) !== null`, selector)))
}

// KeyboardProblems presses Tab from the top of the page until the focus
// has been through every visible link, button and form control inside
// container (a CSS selector, "main" for a console page) and returns what
// a keyboard user would trip over, in words: a control the focus skips or
// reaches out of document order, a stop inside container that is none of
// those controls, and a form field without a <label> or without an
// accessible name (as Chromium's accessibility tree computes it). It
// returns nil when there is nothing.
//
// Call it on a page just loaded: Tab starts where the focus last was.
// Stops before container (a skip link, the navigation) are passed over.
func (b *Browser) KeyboardProblems(container string) []string {
	b.tb.Helper()
	stops := Run(b, "list the controls in "+container, chromedp.Evaluate[[]string](fmt.Sprintf(tabStops, jsQuote(container))))
	var problems []string
	reached := make([]bool, len(stops))
	// first is the first stop, in document order, the focus has not
	// reached: the one the next Tab must reach.
	first := 0
	// Each press moves one stop; the stops before container are few.
	for press := 0; first < len(stops) && press < len(stops)+50 && len(problems) <= 10; press++ {
		b.Do("press Tab", chromedp.KeyEvent(kb.Tab))
		f := Run(b, "where is the focus", chromedp.Evaluate[focused](fmt.Sprintf(focusedNow, jsQuote(container))))
		if f.Stop < 0 {
			if f.Inside {
				problems = append(problems, fmt.Sprintf("Tab stops on %s, which is no link, button or form control", f.Desc))
			} else if first > 0 {
				problems = append(problems, fmt.Sprintf("Tab leaves %s for %s before reaching %s", container, f.Desc, stops[first]))
			}
			continue
		}
		if reached[f.Stop] {
			break // round again: the stops not reached are out of reach
		}
		reached[f.Stop] = true
		if f.Stop != first {
			problems = append(problems, fmt.Sprintf("Tab reaches %s before %s, which comes first in the page", f.Desc, stops[first]))
		}
		if f.Field && !f.Labelled {
			problems = append(problems, fmt.Sprintf("%s has no <label>", f.Desc))
		}
		if name := b.focusedName(); name == "" {
			problems = append(problems, fmt.Sprintf("%s has no accessible name", f.Desc))
		}
		for first < len(stops) && reached[first] {
			first++
		}
	}
	for i, ok := range reached {
		if !ok {
			problems = append(problems, fmt.Sprintf("Tab never reaches %s", stops[i]))
		}
	}
	b.tb.Logf("keyboard: %d controls in %s, %d problems", len(stops), container, len(problems))
	return problems
}

// focused is where the focus is: the index of its element among the tab
// stops (-1 when it is none of them), whether it is inside the container,
// and, for a form field, whether a <label> names it.
type focused struct {
	Stop     int    `json:"stop"`
	Inside   bool   `json:"inside"`
	Field    bool   `json:"field"`
	Labelled bool   `json:"labelled"`
	Desc     string `json:"desc"`
}

// tabStops lists, in document order, the visible and enabled links,
// buttons and form controls in the container %s that are in the tab order,
// keeps them for focusedNow, and describes each.
const tabStops = `(() => {
	const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
	window.browsertestStops = [...document.querySelector(%s).querySelectorAll("a[href], button, input, select, textarea, [tabindex]")]
		.filter(el => !el.disabled && el.type !== "hidden" && el.tabIndex >= 0 && shown(el));
	return window.browsertestStops.map(browsertestDescribe);
})();
function browsertestDescribe(el) {
	const cls = typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\s+/).join(".") : "";
	const text = (el.innerText || el.value || "").trim().slice(0, 40);
	return el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + cls + (text ? " “" + text + "”" : "");
}`

// focusedNow says where the focus is, as a focused.
const focusedNow = `(() => {
	const el = document.activeElement;
	if (!el || el === document.body) return {stop: -1, inside: false, field: false, labelled: false, desc: "the page itself"};
	const field = ["INPUT", "SELECT", "TEXTAREA"].includes(el.tagName);
	return {stop: (window.browsertestStops || []).indexOf(el), inside: document.querySelector(%s).contains(el),
		field: field, labelled: field && el.labels.length > 0 && [...el.labels].some(l => l.textContent.trim() !== ""),
		desc: browsertestDescribe(el)};
})()`

// focusedName returns the accessible name of the focused element.
func (b *Browser) focusedName() string {
	b.tb.Helper()
	return Run(b, "read the focused element's accessible name", chromedp.Action[string](func(ctx context.Context, tg *chromedp.Target) (string, error) {
		el, err := chromedp.Evaluate[*runtime.RemoteObject](`document.activeElement`)(ctx, tg)
		if err != nil {
			return "", err
		}
		defer cdp.Call(ctx, tg, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: el.ObjectID})
		alone := false
		tree, err := cdp.Call(ctx, tg, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{ObjectID: el.ObjectID, FetchRelatives: &alone})
		if err != nil {
			return "", err
		}
		for _, n := range tree.Nodes {
			if n.Name == nil || len(n.Name.Value) == 0 {
				continue
			}
			var name string
			if err := json.Unmarshal(n.Name.Value, &name); err != nil {
				return "", fmt.Errorf("accessible name %s: %w", n.Name.Value, err)
			}
			return strings.TrimSpace(name), nil
		}
		return "", nil
	}))
}

func jsQuote(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// ScreenshotDir returns <repository root>/artifacts/screenshots, which
// .gitignore keeps out of the repository, creating it.
func ScreenshotDir(tb testing.TB) string {
	tb.Helper()
	root, err := repo.Root()
	if err != nil {
		tb.Fatalf("browsertest: %v", err)
	}
	dir := filepath.Join(root, "artifacts", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

var dollarAmount = regexp.MustCompile(`^(-?)\$([0-9]+)(?:\.([0-9]{2}))?$`)

// Dollars reads a displayed amount such as "$12.34", "$1,234.50" or
// "-$0.05" into micro-dollars.
func Dollars(s string) (int64, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	m := dollarAmount.FindStringSubmatch(strings.Replace(t, "−", "-", 1))
	if m == nil {
		return 0, fmt.Errorf("%q is not a dollar amount", s)
	}
	whole, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a dollar amount: %w", s, err)
	}
	var cents int64
	if m[3] != "" {
		cents, _ = strconv.ParseInt(m[3], 10, 64)
	}
	v := whole*1_000_000 + cents*10_000
	if m[1] == "-" {
		v = -v
	}
	return v, nil
}
