-- Nexus endpoints, global to the server like the real one's (not per namespace).
-- `endpoint` is the encoded `temporal.api.nexus.v1.Endpoint` as clients get it; `id` (its
-- UUID, lower-case with dashes, which sorts like the UUID's bytes: the order List pages
-- in) and `name` are copies kept for lookups and for the uniqueness of names.
CREATE TABLE nexus_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    endpoint BLOB NOT NULL
) WITHOUT ROWID;
