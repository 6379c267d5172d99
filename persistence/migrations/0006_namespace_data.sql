-- What RegisterNamespace adds to a namespace: its data (a JSON object of strings) and its
-- replication state (a `ReplicationState` code; 0 for the namespaces the server creates
-- itself at start, as on the real dev server).
ALTER TABLE namespaces ADD COLUMN data TEXT NOT NULL DEFAULT '{}';
ALTER TABLE namespaces ADD COLUMN replication_state INTEGER NOT NULL DEFAULT 0;
