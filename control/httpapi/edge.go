package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"

	"github.com/switchyard-ai/switchyard/internal/edgeapi"
)

func (h *Handler) edgeKey(w http.ResponseWriter, r *http.Request) {
	snap, err := h.svc.KeySnapshot(r.Context(), r.PathValue("hash"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, snap)
}

func (h *Handler) edgePlugin(w http.ResponseWriter, r *http.Request) {
	module, err := h.svc.PluginModule(r.Context(), r.PathValue("hash"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/wasm")
	w.Header().Set("Content-Length", strconv.Itoa(len(module)))
	w.Write(module)
}

// edgeCatalog answers with the catalog, or 304 when the edge already holds
// this version (ETag "v<version>").
func (h *Handler) edgeCatalog(w http.ResponseWriter, r *http.Request) {
	cat, err := h.svc.Catalog(r.Context())
	if err != nil {
		h.error(w, r, err)
		return
	}
	etag := `"v` + strconv.Itoa(cat.Version) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	out := edgeapi.Catalog{Version: cat.Version, Models: make([]edgeapi.CatalogModel, len(cat.Models))}
	for i, m := range cat.Models {
		out.Models[i] = edgeapi.CatalogModel{ID: m.ID, Provider: m.Provider, Upstream: m.Upstream, Kind: m.Kind,
			ContextLength: m.ContextLength, InputPrice: m.InputPrice, OutputPrice: m.OutputPrice,
			CachedInputPrice: m.CachedInputPrice}
	}
	writeJSON(w, http.StatusOK, out)
}

// edgeUsage ingests a usage batch. Each record is decoded on its own, so
// one malformed record is rejected with a reason while the rest are kept.
//
// Unknown fields are ignored here, unlike on /api/v1: an edge newer than
// this replica may send fields it does not know yet, and refusing the batch
// would jam the edge's queue until every replica is upgraded. Ignored
// fields are never stored.
func (h *Handler) edgeUsage(w http.ResponseWriter, r *http.Request) {
	var batch struct {
		EdgeID  string            `json:"edge_id"`
		Records []json.RawMessage `json:"records"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.cfg.MaxUsageBatchBytes)).Decode(&batch); err != nil {
		h.error(w, r, decodeError(err))
		return
	}
	if len(batch.Records) > h.cfg.MaxUsageBatchRecords {
		h.error(w, r, &httpError{http.StatusRequestEntityTooLarge, codeTooLarge,
			"a batch may hold at most " + strconv.Itoa(h.cfg.MaxUsageBatchRecords) + " records"})
		return
	}
	records := make([]edgeapi.UsageRecord, 0, len(batch.Records))
	index := make([]int, 0, len(batch.Records))
	var malformed []edgeapi.Rejection
	for i, raw := range batch.Records {
		var rec edgeapi.UsageRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			rej := edgeapi.Rejection{Index: i, Reason: "malformed record"}
			var typeErr *json.UnmarshalTypeError
			switch {
			case errors.As(err, &typeErr) && typeErr.Field != "":
				rej.Reason = "malformed record: field " + typeErr.Field + " has the wrong type"
			case errors.As(err, &typeErr):
				rej.Reason = "malformed record: not an object"
			}
			if printableID(rec.RequestID) {
				rej.RequestID = rec.RequestID
			}
			malformed = append(malformed, rej)
			continue
		}
		records = append(records, rec)
		index = append(index, i)
	}
	res, err := h.svc.IngestUsage(r.Context(), batch.EdgeID, records)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.metrics.ingested(res.Accepted, res.Duplicates, len(res.Rejected)+len(malformed))
	for i := range res.Rejected {
		res.Rejected[i].Index = index[res.Rejected[i].Index]
	}
	if len(malformed) > 0 {
		res.Rejected = append(res.Rejected, malformed...)
		sort.Slice(res.Rejected, func(i, j int) bool { return res.Rejected[i].Index < res.Rejected[j].Index })
	}
	writeJSON(w, http.StatusOK, res)
}

// printableID reports whether a request id from a malformed record is safe
// to echo: short printable ASCII.
func printableID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
