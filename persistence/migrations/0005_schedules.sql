-- Schedules. `state` is the scheduler's state of one schedule (its spec, action, policies,
-- counters, buffered starts, running workflows), encoded by the scheduler; `wake_at` is the
-- next moment it must be looked at (its next action, or none), written with the state so a
-- restart puts it back in the timer queue.
CREATE TABLE schedules (
    namespace TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    state BLOB NOT NULL,
    wake_at INTEGER,
    PRIMARY KEY (namespace, schedule_id)
) WITHOUT ROWID;
