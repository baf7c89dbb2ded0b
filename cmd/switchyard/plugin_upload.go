package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/control"
)

// pluginUpload sends a module to the control service's plugin API and,
// when asked, activates the new version. It prints the service's answer as
// JSON and repeats its warnings on stderr, where a script's reader sees
// them.
func pluginUpload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plugin upload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "plugin name; each upload under it is a new version (required)")
	fail := fs.String("fail", "open", "when the plugin fails: open (route as if there were none) or closed (refuse with 503)")
	headers := fs.String("headers", "", "comma-separated request headers the plugin may see besides x-sy-*")
	wantsBody := fs.Bool("wants-body", false, "pass the request body to the plugin (RouteRequest.body); the edge then drops the plugin's log lines")
	activate := fs.Bool("activate", false, "run the new version for the account")
	key := fs.String("key", "", "run the new version for this API key id only (implies -activate)")
	controlURL := fs.String("control-url", envOr("SWITCHYARD_CONTROL_URL", "http://127.0.0.1:8081"), "control service root (env SWITCHYARD_CONTROL_URL)")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	token := os.Getenv("SWITCHYARD_TOKEN")
	switch {
	case len(files) != 1:
		return errors.New("give exactly one module file: switchyard plugin upload PLUGIN.wasm --name N")
	case *name == "":
		return errors.New("--name is required")
	case token == "":
		return errors.New("SWITCHYARD_TOKEN must hold a management token (create one in the dashboard or with POST /api/v1/tokens)")
	}
	module, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	api := &controlAPI{base: strings.TrimRight(*controlURL, "/"), token: token, http: &http.Client{Timeout: time.Minute}}
	q := url.Values{"name": {*name}, "fail": {*fail}}
	if *headers != "" {
		q.Set("headers", *headers)
	}
	if *wantsBody {
		q.Set("wants_body", "true")
	}
	var out control.PluginUploaded
	if err := api.call(ctx, "/api/v1/plugins?"+q.Encode(), "application/wasm", module, &out); err != nil {
		return err
	}
	for _, w := range out.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if *activate || *key != "" {
		path := "/api/v1/plugins/" + url.PathEscape(out.Plugin.ID) + "/activate"
		if *key != "" {
			path += "?" + url.Values{"key": {*key}}.Encode()
		}
		if err := api.call(ctx, path, "", nil, out.Plugin); err != nil {
			return fmt.Errorf("uploaded as %s version %d, but activation failed: %w", out.Plugin.Name, out.Plugin.Version, err)
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// controlAPI calls the control service's customer API with a management
// token.
type controlAPI struct {
	base  string
	token string
	http  *http.Client
}

// call POSTs body (none when contentType is empty) and decodes a 2xx
// answer into out; other answers become errors carrying the service's
// message.
func (c *controlAPI) call(ctx context.Context, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
			return fmt.Errorf("control service answered %s", resp.Status)
		}
		return fmt.Errorf("control service answered %d: %s", resp.StatusCode, e.Error.Message)
	}
	return json.Unmarshal(b, out)
}
