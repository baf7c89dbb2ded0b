-- A plugin version may ask for the request body (plugins/ABI.md,
-- RouteRequest.body). Versions uploaded before see metadata only, as they
-- did.

ALTER TABLE plugin_versions ADD COLUMN wants_body INTEGER NOT NULL DEFAULT 0 CHECK (wants_body IN (0, 1));
