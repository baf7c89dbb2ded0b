package httpapi

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/control"
)

// maxFormField bounds the text fields of a multipart plugin upload.
const maxFormField = 4 << 10

// uploadPlugin stores a new plugin version. The module is the raw body
// (Content-Type application/wasm) or the "module" file of a multipart form;
// name, fail, headers (a comma-separated list) and wants_body (true or
// false, default false) come from the query string or, for a form, from
// its fields.
func (h *Handler) uploadPlugin(w http.ResponseWriter, r *http.Request, a *control.Account) {
	q := r.URL.Query()
	in := control.PluginUpload{Name: q.Get("name"), Fail: q.Get("fail"), Headers: splitHeaders(q.Get("headers"))}
	var err error
	if in.WantsBody, err = parseWantsBody(q.Get("wants_body")); err != nil {
		h.error(w, r, err)
		return
	}
	limit := h.svc.MaxPluginBytes()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err != nil:
		err = &httpError{http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Content-Type must be application/wasm or multipart/form-data"}
	case mt == "application/wasm":
		in.Module, err = readModule(http.MaxBytesReader(w, r.Body, int64(limit)+1), limit)
	case mt == "multipart/form-data":
		// Room for the form's fields and boundaries beside the module.
		r.Body = http.MaxBytesReader(w, r.Body, int64(limit)+64<<10)
		err = readPluginForm(r, &in, limit)
	default:
		err = &httpError{http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Content-Type must be application/wasm or multipart/form-data"}
	}
	if err != nil {
		h.error(w, r, err)
		return
	}
	out, err := h.svc.UploadPlugin(r.Context(), a.ID, in)
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

// readModule reads at most limit bytes; a larger module is refused in the
// words UploadPlugin would use, without reading the rest.
func readModule(rd io.Reader, limit int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(rd, int64(limit)+1))
	var maxErr *http.MaxBytesError
	switch {
	case len(b) > limit || errors.As(err, &maxErr):
		return nil, control.Errorf(control.EINVALID, "the module is larger than the limit of %d bytes", limit)
	case err != nil:
		return nil, control.Errorf(control.EINVALID, "the module could not be read")
	}
	return b, nil
}

func readPluginForm(r *http.Request, in *control.PluginUpload, limit int) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return control.Errorf(control.EINVALID, "the body is not a valid multipart form")
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return control.Errorf(control.EINVALID, "the body is not a valid multipart form")
		}
		if part.FormName() == "module" {
			if in.Module, err = readModule(part, limit); err != nil {
				return err
			}
			continue
		}
		value, err := formField(part)
		if err != nil {
			return err
		}
		switch part.FormName() {
		case "name":
			in.Name = value
		case "fail":
			in.Fail = value
		case "headers":
			in.Headers = splitHeaders(value)
		case "wants_body":
			if in.WantsBody, err = parseWantsBody(value); err != nil {
				return err
			}
		default:
			return control.Errorf(control.EINVALID, "unknown form field; the fields are module, name, fail, headers and wants_body")
		}
	}
	if in.Module == nil {
		return control.Errorf(control.EINVALID, "the form has no module file")
	}
	return nil
}

func formField(part *multipart.Part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
	if err != nil || len(b) > maxFormField {
		return "", control.Errorf(control.EINVALID, "form fields other than module are at most %d bytes", maxFormField)
	}
	return string(b), nil
}

// parseWantsBody reads wants_body: true or false, empty for false.
func parseWantsBody(s string) (bool, error) {
	switch s {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, control.Errorf(control.EINVALID, "wants_body must be true or false")
}

func splitHeaders(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

func (h *Handler) listPlugins(w http.ResponseWriter, r *http.Request, a *control.Account) {
	ps, err := h.svc.Plugins(r.Context(), a.ID)
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": nonNil(ps)})
}

// activatePlugin runs a version for the account, or with ?key= for one key
// in place of the account's.
func (h *Handler) activatePlugin(w http.ResponseWriter, r *http.Request, a *control.Account) {
	p, err := h.svc.ActivatePlugin(r.Context(), a.ID, r.PathValue("id"), r.URL.Query().Get("key"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// rollbackPlugin returns the account (or ?key=) to the plugin that ran
// before the last change; "plugin" is null when that was none.
func (h *Handler) rollbackPlugin(w http.ResponseWriter, r *http.Request, a *control.Account) {
	p, err := h.svc.RollbackPlugin(r.Context(), a.ID, r.URL.Query().Get("key"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"plugin": p})
}

// deactivatePlugin stops the account's plugin, or with ?key= makes the key
// follow the account again.
func (h *Handler) deactivatePlugin(w http.ResponseWriter, r *http.Request, a *control.Account) {
	if err := h.svc.DeactivatePlugin(r.Context(), a.ID, r.URL.Query().Get("key")); err != nil {
		h.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
