-- What visibility queries (ListWorkflowExecutions, CountWorkflowExecutions) filter and
-- order runs by, kept beside each run's state: the system search attributes as columns,
-- the others (custom ones, and system ones set by clients) as rows of their own.
ALTER TABLE executions ADD COLUMN execution_time INTEGER NOT NULL DEFAULT 0;
-- Like the real server's, these three are recorded when a run closes (NULL before).
ALTER TABLE executions ADD COLUMN history_length INTEGER;
ALTER TABLE executions ADD COLUMN history_size_bytes INTEGER;
ALTER TABLE executions ADD COLUMN state_transitions INTEGER;
ALTER TABLE executions ADD COLUMN parent_workflow_id TEXT;
ALTER TABLE executions ADD COLUMN parent_run_id TEXT;
ALTER TABLE executions ADD COLUMN root_workflow_id TEXT NOT NULL DEFAULT '';
ALTER TABLE executions ADD COLUMN root_run_id TEXT NOT NULL DEFAULT '';
CREATE INDEX executions_by_start_time ON executions (namespace, start_time);
CREATE INDEX executions_by_close_time ON executions (namespace, close_time);
CREATE INDEX executions_by_type ON executions (namespace, workflow_type);
CREATE INDEX executions_by_status ON executions (namespace, status);

-- One row per value: a KeywordList has a row per element. `value` is an INTEGER for Int,
-- Bool (0/1) and Datetime (milliseconds since the epoch), a REAL for Double, TEXT for the
-- rest. Declared BLOB so that SQLite stores each value as given (a Keyword "42" stays text).
CREATE TABLE execution_search_attributes (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX execution_search_attributes_by_run ON execution_search_attributes (run_id, name);
CREATE INDEX execution_search_attributes_by_value ON execution_search_attributes (name, value);
