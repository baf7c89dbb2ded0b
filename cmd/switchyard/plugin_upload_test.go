package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/control"
	"github.com/switchyard-ai/switchyard/control/controltest"
	"github.com/switchyard-ai/switchyard/control/httpapi"
	"github.com/switchyard-ai/switchyard/internal/wasmtest"
)

// TestPluginUpload runs `switchyard plugin upload` against a real control
// service: upload, activation for one key, and a refusal in plain words.
func TestPluginUpload(t *testing.T) {
	ctx := context.Background()
	svc := controltest.NewService(t, controltest.OpenStore(t, controltest.DBPath(t)), controltest.NewClock(controltest.Epoch))
	srv := httptest.NewServer(httpapi.New(svc, httpapi.Config{}))
	t.Cleanup(srv.Close)
	a, err := svc.CreateAccount(ctx, control.AccountCreate{Name: "Ada", Email: "ada@example.com", BillingAddress: "1 Road", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := svc.CreateManagementToken(ctx, a.ID, "cli")
	if err != nil {
		t.Fatal(err)
	}
	key, secret, err := svc.CreateKey(ctx, a.ID, control.KeyCreate{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SWITCHYARD_TOKEN", token)
	t.Setenv("SWITCHYARD_CONTROL_URL", srv.URL)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.wasm")
	os.WriteFile(good, wasmtest.Decision(`{"action":"route"}`), 0o600)
	bad := filepath.Join(dir, "bad.wasm")
	os.WriteFile(bad, wasmtest.Module{Decision: `{"action":"route"}`, ABIVersion: 7}.Bytes(), 0o600)

	var stdout, stderr bytes.Buffer
	if err := pluginUpload(ctx, []string{"--name", "eu-only", good, "--fail", "closed", "--wants-body", "--key", key.ID}, &stdout, &stderr); err != nil {
		t.Fatalf("upload: %v (%s)", err, stderr.String())
	}
	var out control.PluginUploaded
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("output %s: %v", stdout.String(), err)
	}
	if out.Plugin.Name != "eu-only" || out.Plugin.Version != 1 || out.Plugin.Fail != "closed" || !out.Plugin.WantsBody ||
		len(out.Plugin.ActiveKeys) != 1 || out.Plugin.ActiveKeys[0] != key.ID {
		t.Fatalf("uploaded %+v", out.Plugin)
	}
	snap, err := svc.KeySnapshot(ctx, control.HashSecret(secret))
	if err != nil || snap.PluginHash != out.Plugin.Hash || snap.PluginFail != "closed" || !snap.PluginBody {
		t.Fatalf("snapshot %+v, %v", snap, err)
	}

	err = pluginUpload(ctx, []string{bad, "--name", "eu-only"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "returned 7") {
		t.Fatalf("bad module: %v", err)
	}
	t.Setenv("SWITCHYARD_TOKEN", "")
	if err := pluginUpload(ctx, []string{good, "--name", "x"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "SWITCHYARD_TOKEN") {
		t.Fatalf("no token: %v", err)
	}
}
