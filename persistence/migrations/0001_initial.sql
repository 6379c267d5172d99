-- Namespaces registered on this server.
CREATE TABLE namespaces (
    name TEXT PRIMARY KEY NOT NULL,
    id TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    owner_email TEXT NOT NULL,
    retention_seconds INTEGER NOT NULL
);

-- One row per workflow run. `state` is the history engine's mutable state, encoded by the
-- engine; the other columns are copies kept for lookups and (later) visibility queries.
CREATE TABLE executions (
    run_id TEXT PRIMARY KEY NOT NULL,
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    task_queue TEXT NOT NULL,
    status INTEGER NOT NULL,
    start_time INTEGER NOT NULL,
    close_time INTEGER,
    state BLOB NOT NULL
);
CREATE INDEX executions_by_workflow ON executions (namespace, workflow_id, start_time);

-- The newest run of each workflow id: what id reuse and conflict policies look at.
CREATE TABLE current_executions (
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (namespace, workflow_id)
) WITHOUT ROWID;

-- History events, encoded `temporal.api.history.v1.HistoryEvent` protobuf messages.
CREATE TABLE history_events (
    run_id TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (run_id, event_id)
) WITHOUT ROWID;

-- Tasks waiting in a task queue for a poller. A workflow or activity task is identified by
-- its run and the id of the event that scheduled it.
CREATE TABLE tasks (
    run_id TEXT NOT NULL,
    scheduled_event_id INTEGER NOT NULL,
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    task_queue TEXT NOT NULL,
    kind INTEGER NOT NULL,
    created_seq INTEGER NOT NULL,
    PRIMARY KEY (run_id, scheduled_event_id)
) WITHOUT ROWID;

-- The next moment each open run needs attention (a user timer, a timeout, a retry).
CREATE TABLE timers (
    run_id TEXT PRIMARY KEY NOT NULL,
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    fire_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX timers_by_fire_at ON timers (fire_at);
