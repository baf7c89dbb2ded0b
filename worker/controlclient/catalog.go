package controlclient

import (
	"context"
	"log/slog"
	"sync"

	"github.com/switchyard-ai/switchyard/worker"
)

// CatalogSync keeps a gateway's catalog equal to the control service's,
// keeping the configured one until the control service first answers. The
// caller decides when to refresh: the native edge on a timer, the Worker
// on requests. It is safe for concurrent use.
type CatalogSync struct {
	conn *Conn
	g    *worker.Gateway
	log  *slog.Logger

	mu      sync.Mutex
	loaded  bool
	version int
}

// NewCatalogSync syncs g's catalog from conn, logging to log.
func NewCatalogSync(conn *Conn, g *worker.Gateway, log *slog.Logger) *CatalogSync {
	return &CatalogSync{conn: conn, g: g, log: log}
}

// Loaded reports whether a catalog from the control service is in use.
func (c *CatalogSync) Loaded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loaded
}

// Refresh fetches the catalog and installs it when its version changed.
// A failure keeps the current catalog and is logged.
func (c *CatalogSync) Refresh(ctx context.Context) {
	cat, err := c.conn.Catalog(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil:
		c.log.Warn("catalog fetch failed; keeping the current one", "err", err.Error())
	case !c.loaded || cat.Version != c.version:
		if err := c.g.SetModels(CatalogModels(cat, c.g.HasProvider), nil); err != nil {
			c.log.Error("catalog from control refused", "err", err.Error())
			return
		}
		c.loaded, c.version = true, cat.Version
		c.log.Info("catalog updated", "version", cat.Version, "models", len(cat.Models))
	}
}
