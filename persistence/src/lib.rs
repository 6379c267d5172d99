//! The SQLite store of devserver: the only code that knows SQL.
//!
//! Typed rows go in and come out; what a row's opaque columns hold (the engine's mutable state,
//! encoded history events) is the caller's business. Every change to an execution is written
//! by [`Store::commit`] in one transaction, so a crash leaves either all of it or none.

mod observe;

pub use observe::{Observer, Operation};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::{Executor, QueryBuilder, Row, Sqlite, SqliteConnection};

/// Events written by one INSERT, well below SQLite's limit of bound parameters per statement.
const EVENTS_PER_INSERT: usize = 1000;

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A private in-memory database, gone when the process exits.
    Memory,
    /// A database file, created if missing.
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("cannot lock the database file: {0}")]
    Lock(std::io::Error),
    /// SQLite could not grow the database: the disk (or the mount) holding it is full.
    #[error("the disk holding {database} is full; nothing was written, free space and retry")]
    Full { database: String },
    #[error("another process (another devserver?) is using this database file")]
    InUse,
    #[error(
        "the database's schema (version {found}) is newer than this devserver's \
         (version {known}): a newer devserver wrote it"
    )]
    NewerSchema { found: i64, known: i64 },
    /// A column holds what this code never writes.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceRow {
    pub name: String,
    pub id: String,
    pub description: String,
    pub owner_email: String,
    pub retention_seconds: i64,
    /// The namespace's data, free key-value pairs set at registration.
    pub data: BTreeMap<String, String>,
    /// A `ReplicationState` code.
    pub replication_state: i32,
}

/// A custom search attribute of a namespace; `value_type` is an `IndexedValueType` code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchAttributeRow {
    pub namespace: String,
    pub name: String,
    pub value_type: i32,
}

/// A Nexus endpoint. `endpoint` is opaque to the store (the encoded API message); `id` and
/// `name` are its lookup keys, each unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NexusEndpointRow {
    pub id: String,
    pub name: String,
    pub endpoint: Vec<u8>,
}

/// One workflow run. `state` is opaque to the store; the other columns are what lookups and
/// visibility queries filter and order by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecutionRow {
    pub run_id: String,
    pub namespace: String,
    pub workflow_id: String,
    pub workflow_type: String,
    pub task_queue: String,
    pub status: i32,
    pub start_time: i64,
    pub close_time: Option<i64>,
    pub execution_time: i64,
    /// Recorded when the run closes, as the real server's visibility does.
    pub history_length: Option<i64>,
    pub history_size_bytes: Option<i64>,
    pub state_transitions: Option<i64>,
    pub parent_workflow_id: Option<String>,
    pub parent_run_id: Option<String>,
    pub root_workflow_id: String,
    pub root_run_id: String,
    pub state: Vec<u8>,
}

/// A value a visibility query compares: a search attribute's value as stored, or a
/// query's parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Int(i64),
    Real(f64),
    Text(String),
}

/// One value of a run's search attribute (a KeywordList has one per element).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchAttributeValue {
    pub name: String,
    pub value: SqlValue,
}

/// A visibility query, as SQL over the `executions` table (alias `e`): a boolean `filter`
/// with `?` placeholders for `params`, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing<'a> {
    pub namespace: &'a str,
    pub filter: &'a str,
    pub params: &'a [SqlValue],
}

/// What a task row is: work for a worker's task queue, or a transfer task the history
/// service carries out itself against another workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    Workflow = 1,
    Activity = 2,
    StartChild = 3,
    SignalExternal = 4,
    CancelExternal = 5,
    /// A child's chain of runs ended: its parent must hear of it.
    ChildClosed = 6,
    /// A closed parent's close policy must reach a running child.
    ParentClosePolicy = 7,
    /// A Nexus operation's StartOperation request is due.
    NexusStart = 8,
    /// A started Nexus operation's CancelOperation request is due.
    NexusCancel = 9,
    /// A chain of runs ended: the Nexus operations it backs must hear how.
    CompletionCallbacks = 10,
}

impl TaskKind {
    const ALL: [TaskKind; 10] = [
        TaskKind::Workflow,
        TaskKind::Activity,
        TaskKind::StartChild,
        TaskKind::SignalExternal,
        TaskKind::CancelExternal,
        TaskKind::ChildClosed,
        TaskKind::ParentClosePolicy,
        TaskKind::NexusStart,
        TaskKind::NexusCancel,
        TaskKind::CompletionCallbacks,
    ];

    fn from_code(code: i64) -> Option<TaskKind> {
        Self::ALL.into_iter().find(|kind| *kind as i64 == code)
    }

    /// Whether the task waits for a worker's poll (else the history service runs it).
    pub fn is_polled(self) -> bool {
        matches!(self, TaskKind::Workflow | TaskKind::Activity)
    }
}

/// A task waiting in a queue; identified by its run and the event that scheduled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    pub run_id: String,
    pub scheduled_event_id: i64,
    pub namespace: String,
    pub workflow_id: String,
    pub task_queue: String,
    pub kind: TaskKind,
}

/// The next moment a run needs attention, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerRow {
    pub run_id: String,
    pub namespace: String,
    pub workflow_id: String,
    pub fire_at: i64,
}

/// A schedule; `state` is opaque to the store (the scheduler's encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    pub namespace: String,
    pub schedule_id: String,
    pub state: Vec<u8>,
    pub wake_at: Option<i64>,
}

/// Everything one state change of one run writes, committed together.
#[derive(Debug, Default)]
pub struct ExecutionWrite {
    pub execution: Option<ExecutionRow>,
    /// Make this run the current run of its workflow id.
    pub make_current: bool,
    /// New history events: (event id, encoded event).
    pub events: Vec<(i64, Vec<u8>)>,
    pub new_tasks: Vec<TaskRow>,
    /// Tasks (run id, scheduled event id) that are no longer waiting.
    pub removed_tasks: Vec<(String, i64)>,
    pub timer: Option<TimerChange>,
    /// The run's search attribute values, when they changed: they replace the old ones.
    pub search_attributes: Option<Vec<SearchAttributeValue>>,
}

/// A new value for a run's timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerChange {
    Set(TimerRow),
    /// The run needs no timer any more.
    Clear {
        run_id: String,
    },
}

fn schedule_row(row: sqlx::sqlite::SqliteRow) -> ScheduleRow {
    ScheduleRow {
        namespace: row.get(0),
        schedule_id: row.get(1),
        state: row.get(2),
        wake_at: row.get(3),
    }
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    task_seq: std::sync::Arc<AtomicI64>,
    /// A database file's exclusive lock, held while any handle lives: two servers on one
    /// file would each trust their own cache of its runs and tasks.
    _file_lock: Option<std::sync::Arc<std::fs::File>>,
    /// What errors call the database: its file, or the in-memory one.
    database: std::sync::Arc<str>,
    observer: Option<Arc<dyn Observer>>,
}

/// Locks the database file for this process alone. The lock is an advisory `flock` of the
/// file, which SQLite's own (fcntl) locks ignore; the OS drops it when the process dies, so
/// a crash never leaves the file locked.
fn lock_file(path: &std::path::Path) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(StoreError::Lock)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse),
        Err(std::fs::TryLockError::Error(error)) => Err(StoreError::Lock(error)),
    }
}

impl Store {
    /// Opens (and migrates) the database.
    pub async fn open(location: &Location) -> Result<Store> {
        let file_lock = match location {
            Location::Memory => None,
            Location::File(path) => Some(std::sync::Arc::new(lock_file(path)?)),
        };
        let options = match location {
            // sqlx names each `:memory:` database uniquely and opens it with a shared cache,
            // so every connection of the pool sees the same database.
            Location::Memory => SqliteConnectOptions::from_str("sqlite::memory:")?,
            Location::File(path) => SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // NORMAL in WAL mode survives a process crash (SIGKILL) without an fsync per
                // commit; only an OS crash or power loss can drop the last commits.
                .synchronous(SqliteSynchronous::Normal),
        }
        .busy_timeout(std::time::Duration::from_secs(10));
        // One connection: writes are serialized anyway, and a lone connection never meets
        // SQLITE_BUSY or shared-cache table locks. It is never recycled, which keeps an
        // in-memory database alive for the life of the process.
        let pool = SqlitePoolOptions::new()
            // A ping before each use would be a round trip to the connection's thread for a
            // database that cannot go away underneath us.
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        let migrator = sqlx::migrate!("./migrations");
        migrator.run(&pool).await.map_err(|error| match error {
            sqlx::migrate::MigrateError::VersionMissing(found) => StoreError::NewerSchema {
                found,
                known: migrator.iter().map(|m| m.version).max().unwrap_or(0),
            },
            other => other.into(),
        })?;
        let max_seq: Option<i64> = sqlx::query_scalar("SELECT MAX(created_seq) FROM tasks")
            .fetch_one(&pool)
            .await?;
        Ok(Store {
            pool,
            task_seq: std::sync::Arc::new(AtomicI64::new(max_seq.unwrap_or(0))),
            _file_lock: file_lock,
            database: match location {
                Location::Memory => "the in-memory database".into(),
                Location::File(path) => format!("the database {}", path.display()).into(),
            },
            observer: None,
        })
    }

    /// This store (and its clones made from now on), telling `observer` how long each
    /// operation takes.
    pub fn observed_by(self, observer: Arc<dyn Observer>) -> Store {
        Store {
            observer: Some(observer),
            ..self
        }
    }

    /// Times an operation until the returned guard is dropped.
    fn time(&self, operation: Operation) -> Option<observe::Timing<'_>> {
        self.observer.as_deref().map(|observer| observe::Timing {
            observer,
            operation,
            started: Instant::now(),
        })
    }

    pub async fn namespaces(&self) -> Result<Vec<NamespaceRow>> {
        let _timing = self.time(Operation::ListNamespaces);
        let rows = sqlx::query(
            "SELECT name, id, description, owner_email, retention_seconds, data, replication_state
             FROM namespaces ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let data: String = row.get(5);
                Ok(NamespaceRow {
                    name: row.get(0),
                    id: row.get(1),
                    description: row.get(2),
                    owner_email: row.get(3),
                    retention_seconds: row.get(4),
                    data: serde_json::from_str(&data)
                        .map_err(|e| StoreError::Corrupt(format!("namespace data: {e}")))?,
                    replication_state: row.get(6),
                })
            })
            .collect()
    }

    /// Inserts a namespace; returns false if one with that name exists already.
    pub async fn insert_namespace(&self, row: &NamespaceRow) -> Result<bool> {
        let _timing = self.time(Operation::CreateNamespace);
        let insert = sqlx::query(
            "INSERT INTO namespaces
             (name, id, description, owner_email, retention_seconds, data, replication_state)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&row.name)
        .bind(&row.id)
        .bind(&row.description)
        .bind(&row.owner_email)
        .bind(row.retention_seconds)
        .bind(serde_json::to_string(&row.data).expect("a map of strings serializes"))
        .bind(row.replication_state);
        let done = self.write(insert).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every custom search attribute, by namespace and name.
    pub async fn search_attributes(&self) -> Result<Vec<SearchAttributeRow>> {
        let _timing = self.time(Operation::ListSearchAttributes);
        let rows = sqlx::query(
            "SELECT namespace, name, value_type FROM search_attributes ORDER BY namespace, name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| SearchAttributeRow {
                namespace: row.get(0),
                name: row.get(1),
                value_type: row.get(2),
            })
            .collect())
    }

    /// Adds search attributes in one statement; a name its namespace has already keeps its
    /// type.
    pub async fn add_search_attributes(&self, rows: &[SearchAttributeRow]) -> Result<()> {
        let _timing = self.time(Operation::AddSearchAttributes);
        if rows.is_empty() {
            return Ok(());
        }
        let mut sql = QueryBuilder::<Sqlite>::new(
            "INSERT INTO search_attributes (namespace, name, value_type) ",
        );
        sql.push_values(rows, |mut values, row| {
            values
                .push_bind(&row.namespace)
                .push_bind(&row.name)
                .push_bind(row.value_type);
        });
        sql.push(" ON CONFLICT (namespace, name) DO NOTHING");
        self.write(sql.build()).await?;
        Ok(())
    }

    /// Removes search attributes of a namespace; names it does not have are ignored.
    pub async fn remove_search_attributes(&self, namespace: &str, names: &[String]) -> Result<()> {
        let _timing = self.time(Operation::RemoveSearchAttributes);
        if names.is_empty() {
            return Ok(());
        }
        let mut sql =
            QueryBuilder::<Sqlite>::new("DELETE FROM search_attributes WHERE namespace = ");
        sql.push_bind(namespace).push(" AND name IN (");
        let mut list = sql.separated(", ");
        for name in names {
            list.push_bind(name);
        }
        sql.push(")");
        self.write(sql.build()).await?;
        Ok(())
    }

    /// Every Nexus endpoint, by id.
    pub async fn nexus_endpoints(&self) -> Result<Vec<NexusEndpointRow>> {
        let _timing = self.time(Operation::ListNexusEndpoints);
        let rows = sqlx::query("SELECT id, name, endpoint FROM nexus_endpoints ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| NexusEndpointRow {
                id: row.get(0),
                name: row.get(1),
                endpoint: row.get(2),
            })
            .collect())
    }

    /// Inserts a Nexus endpoint; returns false if its id or its name is taken.
    pub async fn insert_nexus_endpoint(&self, row: &NexusEndpointRow) -> Result<bool> {
        let _timing = self.time(Operation::CreateNexusEndpoint);
        let insert = sqlx::query(
            "INSERT INTO nexus_endpoints (id, name, endpoint) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.endpoint);
        let done = self.write(insert).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a Nexus endpoint (its name may change); returns false if there is none with
    /// that id. A name another endpoint has fails on the uniqueness of names.
    pub async fn update_nexus_endpoint(&self, row: &NexusEndpointRow) -> Result<bool> {
        let _timing = self.time(Operation::UpdateNexusEndpoint);
        let done = self
            .write(
                sqlx::query("UPDATE nexus_endpoints SET name = ?, endpoint = ? WHERE id = ?")
                    .bind(&row.name)
                    .bind(&row.endpoint)
                    .bind(&row.id),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a Nexus endpoint; returns false if there is none with that id.
    pub async fn delete_nexus_endpoint(&self, id: &str) -> Result<bool> {
        let _timing = self.time(Operation::DeleteNexusEndpoint);
        let done = self
            .write(sqlx::query("DELETE FROM nexus_endpoints WHERE id = ?").bind(id))
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Inserts a schedule; returns false if one with that id exists in its namespace.
    pub async fn insert_schedule(&self, row: &ScheduleRow) -> Result<bool> {
        let _timing = self.time(Operation::CreateSchedule);
        let insert = sqlx::query(
            "INSERT INTO schedules (namespace, schedule_id, state, wake_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&row.namespace)
        .bind(&row.schedule_id)
        .bind(&row.state)
        .bind(row.wake_at);
        let done = self.write(insert).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces a schedule's state; returns false if it does not exist.
    pub async fn update_schedule(&self, row: &ScheduleRow) -> Result<bool> {
        let _timing = self.time(Operation::UpdateSchedule);
        let update = sqlx::query(
            "UPDATE schedules SET state = ?, wake_at = ? WHERE namespace = ? AND schedule_id = ?",
        )
        .bind(&row.state)
        .bind(row.wake_at)
        .bind(&row.namespace)
        .bind(&row.schedule_id);
        let done = self.write(update).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a schedule; returns false if it does not exist.
    pub async fn delete_schedule(&self, namespace: &str, schedule_id: &str) -> Result<bool> {
        let _timing = self.time(Operation::DeleteSchedule);
        let done = self
            .write(
                sqlx::query("DELETE FROM schedules WHERE namespace = ? AND schedule_id = ?")
                    .bind(namespace)
                    .bind(schedule_id),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn schedule(
        &self,
        namespace: &str,
        schedule_id: &str,
    ) -> Result<Option<ScheduleRow>> {
        let _timing = self.time(Operation::GetSchedule);
        let row = sqlx::query(
            "SELECT namespace, schedule_id, state, wake_at FROM schedules \
             WHERE namespace = ? AND schedule_id = ?",
        )
        .bind(namespace)
        .bind(schedule_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(schedule_row))
    }

    /// Up to `limit` schedules of a namespace whose ids sort after `after`, by id.
    pub async fn schedules(
        &self,
        namespace: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<ScheduleRow>> {
        let _timing = self.time(Operation::ListSchedules);
        let rows = sqlx::query(
            "SELECT namespace, schedule_id, state, wake_at FROM schedules \
             WHERE namespace = ? AND schedule_id > ? ORDER BY schedule_id LIMIT ?",
        )
        .bind(namespace)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(schedule_row).collect())
    }

    pub async fn count_schedules(&self, namespace: &str) -> Result<i64> {
        let _timing = self.time(Operation::CountSchedules);
        let row = sqlx::query("SELECT COUNT(*) FROM schedules WHERE namespace = ?")
            .bind(namespace)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get(0))
    }

    /// Every schedule of every namespace (what a restart puts back in motion).
    pub async fn all_schedules(&self) -> Result<Vec<ScheduleRow>> {
        let _timing = self.time(Operation::ListAllSchedules);
        let rows = sqlx::query("SELECT namespace, schedule_id, state, wake_at FROM schedules")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(schedule_row).collect())
    }

    /// The newest run of a workflow id.
    pub async fn current_execution(
        &self,
        namespace: &str,
        workflow_id: &str,
    ) -> Result<Option<ExecutionRow>> {
        let _timing = self.time(Operation::GetCurrentExecution);
        let row = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM current_executions c JOIN executions e USING (run_id)
             WHERE c.namespace = ? AND c.workflow_id = ?"
        ))
        .bind(namespace)
        .bind(workflow_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(execution_row))
    }

    pub async fn execution(&self, run_id: &str) -> Result<Option<ExecutionRow>> {
        let _timing = self.time(Operation::GetWorkflowExecution);
        let row = sqlx::query(&format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions e WHERE run_id = ?"
        ))
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(execution_row))
    }

    /// Encoded events of a run with `first <= event_id < end`, in order, at most `limit`.
    pub async fn events(
        &self,
        run_id: &str,
        first: i64,
        end: i64,
        limit: i64,
    ) -> Result<Vec<Vec<u8>>> {
        let _timing = self.time(Operation::ReadHistoryBranch);
        Ok(sqlx::query_scalar(
            "SELECT data FROM history_events WHERE run_id = ? AND event_id >= ? AND event_id < ?
             ORDER BY event_id LIMIT ?",
        )
        .bind(run_id)
        .bind(first)
        .bind(end)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Encoded events of a run with `event_id < end`, newest first, at most `limit`: the
    /// pages of a history read backwards.
    pub async fn events_before(&self, run_id: &str, end: i64, limit: i64) -> Result<Vec<Vec<u8>>> {
        let _timing = self.time(Operation::ReadHistoryBranchReverse);
        Ok(sqlx::query_scalar(
            "SELECT data FROM history_events WHERE run_id = ? AND event_id < ?
             ORDER BY event_id DESC LIMIT ?",
        )
        .bind(run_id)
        .bind(end)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every waiting task, oldest first.
    pub async fn tasks(&self) -> Result<Vec<TaskRow>> {
        let _timing = self.time(Operation::GetTasks);
        let rows = sqlx::query(
            "SELECT run_id, scheduled_event_id, namespace, workflow_id, task_queue, kind
             FROM tasks ORDER BY created_seq",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            // A kind this build does not know came from a newer one: leave it alone.
            .filter_map(|row| {
                Some(TaskRow {
                    kind: TaskKind::from_code(row.get(5))?,
                    run_id: row.get(0),
                    scheduled_event_id: row.get(1),
                    namespace: row.get(2),
                    workflow_id: row.get(3),
                    task_queue: row.get(4),
                })
            })
            .collect())
    }

    pub async fn timers(&self) -> Result<Vec<TimerRow>> {
        let _timing = self.time(Operation::GetTimers);
        let rows = sqlx::query("SELECT run_id, namespace, workflow_id, fire_at FROM timers")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| TimerRow {
                run_id: row.get(0),
                namespace: row.get(1),
                workflow_id: row.get(2),
                fire_at: row.get(3),
            })
            .collect())
    }

    /// Removes a task that turned out to be stale (its run moved on without it).
    pub async fn delete_task(&self, run_id: &str, scheduled_event_id: i64) -> Result<()> {
        let _timing = self.time(Operation::CompleteTask);
        self.write(
            sqlx::query("DELETE FROM tasks WHERE run_id = ? AND scheduled_event_id = ?")
                .bind(run_id)
                .bind(scheduled_event_id),
        )
        .await?;
        Ok(())
    }

    /// A page of the runs that match a listing, in `order_by` (SQL over alias `e`).
    pub async fn list_executions(
        &self,
        listing: &Listing<'_>,
        order_by: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ExecutionRow>> {
        let _timing = self.time(Operation::ListWorkflowExecutions);
        let sql = format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions e WHERE e.namespace = ? AND ({})
             ORDER BY {order_by} LIMIT ? OFFSET ?",
            listing.filter
        );
        let query = bind_listing(sqlx::query(&sql), listing)
            .bind(limit)
            .bind(offset);
        Ok(query
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(execution_row)
            .collect())
    }

    /// How many runs match a listing, by status.
    pub async fn count_executions_by_status(
        &self,
        listing: &Listing<'_>,
    ) -> Result<Vec<(i32, i64)>> {
        let _timing = self.time(Operation::CountWorkflowExecutions);
        let sql = format!(
            "SELECT e.status, count(*) FROM executions e WHERE e.namespace = ? AND ({})
             GROUP BY e.status ORDER BY e.status",
            listing.filter
        );
        let rows = bind_listing(sqlx::query(&sql), listing)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// How many runs have `status`, per namespace (namespaces without one are left out).
    pub async fn count_runs_with_status(&self, status: i32) -> Result<Vec<(String, i64)>> {
        let _timing = self.time(Operation::CountRunsWithStatus);
        // The (namespace, status) index covers this: the table's rows are not read.
        let rows = sqlx::query(
            "SELECT namespace, count(*) FROM executions WHERE status = ? GROUP BY namespace",
        )
        .bind(status)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// Deletes a run: its state, history, tasks and timer, and its current-run entry.
    pub async fn delete_run(&self, run_id: &str) -> Result<()> {
        let _timing = self.time(Operation::DeleteWorkflowExecution);
        let mut sql = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE;");
        for table in [
            "executions",
            "current_executions",
            "history_events",
            "tasks",
            "timers",
            "execution_search_attributes",
        ] {
            sql.push(format!(" DELETE FROM {table} WHERE run_id = "))
                .push_bind(run_id)
                .push(";");
        }
        sql.push(" COMMIT;");
        self.execute_transaction(sql).await
    }

    /// Writes state changes (of one run, or of a run and the run that continues it) in a
    /// single transaction.
    ///
    /// The transaction goes to SQLite as one multi-statement query: every statement sent
    /// separately is a round trip to the connection's thread, and those round trips, not
    /// SQLite's work, were most of the cost of a state change.
    pub async fn commit(&self, writes: &[ExecutionWrite]) -> Result<()> {
        let _timing = self.time(Operation::Commit);
        let mut sql = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE;");
        for write in writes {
            if let Some(execution) = &write.execution {
                sql.push(format!(
                    " INSERT INTO executions ({EXECUTION_FIELDS}) VALUES ("
                ));
                sql.separated(", ")
                    .push_bind(&execution.run_id)
                    .push_bind(&execution.namespace)
                    .push_bind(&execution.workflow_id)
                    .push_bind(&execution.workflow_type)
                    .push_bind(&execution.task_queue)
                    .push_bind(execution.status)
                    .push_bind(execution.start_time)
                    .push_bind(execution.close_time)
                    .push_bind(execution.execution_time)
                    .push_bind(execution.history_length)
                    .push_bind(execution.history_size_bytes)
                    .push_bind(execution.state_transitions)
                    .push_bind(&execution.parent_workflow_id)
                    .push_bind(&execution.parent_run_id)
                    .push_bind(&execution.root_workflow_id)
                    .push_bind(&execution.root_run_id)
                    .push_bind(&execution.state);
                sql.push(
                    ") ON CONFLICT (run_id) DO UPDATE SET status = excluded.status,
                         close_time = excluded.close_time, execution_time = excluded.execution_time,
                         history_length = excluded.history_length,
                         history_size_bytes = excluded.history_size_bytes,
                         state_transitions = excluded.state_transitions, state = excluded.state;",
                );
                if let Some(values) = &write.search_attributes {
                    sql.push(" DELETE FROM execution_search_attributes WHERE run_id = ")
                        .push_bind(&execution.run_id)
                        .push(";");
                    for batch in values.chunks(EVENTS_PER_INSERT) {
                        sql.push(" INSERT INTO execution_search_attributes (run_id, name, value) ");
                        sql.push_values(batch, |mut row, value| {
                            row.push_bind(&execution.run_id).push_bind(&value.name);
                            match &value.value {
                                SqlValue::Int(v) => row.push_bind(v),
                                SqlValue::Real(v) => row.push_bind(v),
                                SqlValue::Text(v) => row.push_bind(v),
                            };
                        });
                        sql.push(";");
                    }
                }
                if write.make_current {
                    sql.push(
                        " INSERT INTO current_executions (namespace, workflow_id, run_id) VALUES (",
                    );
                    sql.separated(", ")
                        .push_bind(&execution.namespace)
                        .push_bind(&execution.workflow_id)
                        .push_bind(&execution.run_id);
                    sql.push(") ON CONFLICT (namespace, workflow_id) DO UPDATE SET run_id = excluded.run_id;");
                }
                for batch in write.events.chunks(EVENTS_PER_INSERT) {
                    sql.push(" INSERT INTO history_events (run_id, event_id, data) ");
                    sql.push_values(batch, |mut row, (event_id, data)| {
                        row.push_bind(&execution.run_id)
                            .push_bind(event_id)
                            .push_bind(data);
                    });
                    sql.push(";");
                }
            }
            for (run_id, scheduled_event_id) in &write.removed_tasks {
                sql.push(" DELETE FROM tasks WHERE run_id = ")
                    .push_bind(run_id)
                    .push(" AND scheduled_event_id = ")
                    .push_bind(scheduled_event_id)
                    .push(";");
            }
            for task in &write.new_tasks {
                let seq = self.task_seq.fetch_add(1, Ordering::Relaxed) + 1;
                sql.push(
                    " INSERT INTO tasks (run_id, scheduled_event_id, namespace, workflow_id, task_queue,
                                         kind, created_seq) VALUES (",
                );
                sql.separated(", ")
                    .push_bind(&task.run_id)
                    .push_bind(task.scheduled_event_id)
                    .push_bind(&task.namespace)
                    .push_bind(&task.workflow_id)
                    .push_bind(&task.task_queue)
                    .push_bind(task.kind as i64)
                    .push_bind(seq);
                sql.push(
                    ") ON CONFLICT (run_id, scheduled_event_id) DO UPDATE SET task_queue = excluded.task_queue;",
                );
            }
            match &write.timer {
                Some(TimerChange::Set(timer)) => {
                    sql.push(
                        " INSERT INTO timers (run_id, namespace, workflow_id, fire_at) VALUES (",
                    );
                    sql.separated(", ")
                        .push_bind(&timer.run_id)
                        .push_bind(&timer.namespace)
                        .push_bind(&timer.workflow_id)
                        .push_bind(timer.fire_at);
                    sql.push(") ON CONFLICT (run_id) DO UPDATE SET fire_at = excluded.fire_at;");
                }
                Some(TimerChange::Clear { run_id }) => {
                    sql.push(" DELETE FROM timers WHERE run_id = ")
                        .push_bind(run_id)
                        .push(";");
                }
                None => {}
            }
        }
        sql.push(" COMMIT;");
        self.execute_transaction(sql).await
    }

    /// Runs a `BEGIN ... COMMIT` script as one query, rolling back if a statement fails.
    async fn execute_transaction(&self, mut sql: QueryBuilder<'_, Sqlite>) -> Result<()> {
        let mut connection = RollbackOnDrop(Some(self.pool.acquire().await?));
        let executed = sql.build().execute(connection.get()).await;
        let mut connection = connection.0.take().expect("taken once");
        if let Err(error) = executed {
            // A statement failed mid-way: undo what ran before it. If BEGIN itself failed
            // there is nothing to undo and ROLLBACK's own error says only that.
            let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
            return Err(self.failed_write(error));
        }
        Ok(())
    }

    /// Runs a statement that writes: the one path of a write outside a transaction script,
    /// so that a full disk is reported the same way whatever the write.
    async fn write<'q>(
        &self,
        statement: impl sqlx::Execute<'q, Sqlite> + 'q,
    ) -> Result<SqliteQueryResult> {
        self.pool
            .execute(statement)
            .await
            .map_err(|error| self.failed_write(error))
    }

    /// A failed write, with a full disk told apart: SQLite's own words for it ("database or
    /// disk is full") name neither the file nor what to do.
    fn failed_write(&self, error: sqlx::Error) -> StoreError {
        match &error {
            sqlx::Error::Database(database_error)
                if database_error.code().as_deref() == Some(SQLITE_FULL) =>
            {
                StoreError::Full {
                    database: self.database.to_string(),
                }
            }
            _ => error.into(),
        }
    }
}

/// A connection running a transaction script. If the caller is cancelled before the script
/// answered, the script may have stopped after BEGIN: the connection goes back to the pool
/// only after a ROLLBACK, so no later statement runs inside that transaction (and is undone
/// with it). A script that did reach COMMIT makes the ROLLBACK a no-op.
struct RollbackOnDrop(Option<PoolConnection<Sqlite>>);

impl RollbackOnDrop {
    fn get(&mut self) -> &mut SqliteConnection {
        self.0.as_mut().expect("held until taken")
    }
}

impl Drop for RollbackOnDrop {
    fn drop(&mut self) {
        if let Some(mut connection) = self.0.take() {
            tokio::spawn(async move {
                let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
            });
        }
    }
}

/// SQLite's result code for a write that found no space.
const SQLITE_FULL: &str = "13";

const EXECUTION_FIELDS: &str = "run_id, namespace, workflow_id, workflow_type, task_queue, \
    status, start_time, close_time, execution_time, history_length, history_size_bytes, \
    state_transitions, parent_workflow_id, parent_run_id, root_workflow_id, root_run_id, state";
const EXECUTION_COLUMNS: &str = "e.run_id, e.namespace, e.workflow_id, e.workflow_type, \
    e.task_queue, e.status, e.start_time, e.close_time, e.execution_time, e.history_length, \
    e.history_size_bytes, e.state_transitions, e.parent_workflow_id, e.parent_run_id, \
    e.root_workflow_id, e.root_run_id, e.state";

fn execution_row(row: sqlx::sqlite::SqliteRow) -> ExecutionRow {
    ExecutionRow {
        run_id: row.get(0),
        namespace: row.get(1),
        workflow_id: row.get(2),
        workflow_type: row.get(3),
        task_queue: row.get(4),
        status: row.get(5),
        start_time: row.get(6),
        close_time: row.get(7),
        execution_time: row.get(8),
        history_length: row.get(9),
        history_size_bytes: row.get(10),
        state_transitions: row.get(11),
        parent_workflow_id: row.get(12),
        parent_run_id: row.get(13),
        root_workflow_id: row.get(14),
        root_run_id: row.get(15),
        state: row.get(16),
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds a listing's namespace, then its filter's params, to a query whose `WHERE` is
/// `e.namespace = ? AND (filter)`.
fn bind_listing<'q>(query: SqliteQuery<'q>, listing: &Listing<'q>) -> SqliteQuery<'q> {
    let mut query = query.bind(listing.namespace);
    for param in listing.params {
        query = match param {
            SqlValue::Int(v) => query.bind(v),
            SqlValue::Real(v) => query.bind(v),
            SqlValue::Text(v) => query.bind(v.as_str()),
        };
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution(run_id: &str, status: i32) -> ExecutionRow {
        ExecutionRow {
            run_id: run_id.into(),
            namespace: "default".into(),
            workflow_id: "wf".into(),
            workflow_type: "Greeting".into(),
            task_queue: "q".into(),
            status,
            start_time: 1,
            close_time: None,
            state: vec![1, 2, 3],
            ..Default::default()
        }
    }

    fn task(run_id: &str, scheduled_event_id: i64) -> TaskRow {
        TaskRow {
            run_id: run_id.into(),
            scheduled_event_id,
            namespace: "default".into(),
            workflow_id: "wf".into(),
            task_queue: "q".into(),
            kind: TaskKind::Workflow,
        }
    }

    fn start_write(run_id: &str) -> ExecutionWrite {
        ExecutionWrite {
            execution: Some(execution(run_id, 1)),
            make_current: true,
            events: vec![(1, b"started".to_vec()), (2, b"scheduled".to_vec())],
            new_tasks: vec![task(run_id, 2)],
            removed_tasks: vec![],
            timer: Some(TimerChange::Set(TimerRow {
                run_id: run_id.into(),
                namespace: "default".into(),
                workflow_id: "wf".into(),
                fire_at: 99,
            })),
            search_attributes: None,
        }
    }

    #[tokio::test]
    async fn commit_writes_execution_events_tasks_and_timer_together() {
        let store = Store::open(&Location::Memory).await.unwrap();
        store.commit(&[start_write("r1")]).await.unwrap();
        let current = store.current_execution("default", "wf").await.unwrap();
        assert_eq!(current.unwrap().run_id, "r1");
        assert_eq!(
            store.execution("r1").await.unwrap().unwrap().state,
            vec![1, 2, 3]
        );
        assert_eq!(
            store.events("r1", 1, i64::MAX, 100).await.unwrap(),
            vec![b"started".to_vec(), b"scheduled".to_vec()]
        );
        assert_eq!(store.events("r1", 2, 3, 100).await.unwrap().len(), 1);
        assert_eq!(
            store.events_before("r1", i64::MAX, 100).await.unwrap(),
            vec![b"scheduled".to_vec(), b"started".to_vec()]
        );
        assert_eq!(
            store.events_before("r1", 2, 100).await.unwrap(),
            vec![b"started".to_vec()]
        );
        assert_eq!(
            store.events_before("r1", i64::MAX, 1).await.unwrap(),
            vec![b"scheduled".to_vec()]
        );
        assert_eq!(store.tasks().await.unwrap(), vec![task("r1", 2)]);
        assert_eq!(store.timers().await.unwrap()[0].fire_at, 99);

        let mut next = ExecutionWrite {
            execution: Some(execution("r1", 2)),
            removed_tasks: vec![("r1".into(), 2)],
            timer: Some(TimerChange::Clear {
                run_id: "r1".into(),
            }),
            ..Default::default()
        };
        next.events.push((3, b"completed".to_vec()));
        store.commit(&[next]).await.unwrap();
        assert!(store.tasks().await.unwrap().is_empty());
        assert!(store.timers().await.unwrap().is_empty());
        assert_eq!(store.execution("r1").await.unwrap().unwrap().status, 2);
    }

    /// Remembers what it was told.
    #[derive(Debug, Default)]
    struct Recorder(std::sync::Mutex<Vec<Operation>>);

    impl Observer for Recorder {
        fn observe(&self, operation: Operation, _elapsed: std::time::Duration) {
            self.0.lock().unwrap().push(operation);
        }
    }

    #[tokio::test]
    async fn an_observer_hears_of_every_operation_even_a_failed_one() {
        let recorder = Arc::new(Recorder::default());
        let store = Store::open(&Location::Memory)
            .await
            .unwrap()
            .observed_by(recorder.clone());
        store.commit(&[start_write("r1")]).await.unwrap();
        assert_eq!(
            store.count_runs_with_status(1).await.unwrap(),
            vec![("default".to_owned(), 1)]
        );
        assert!(store.count_runs_with_status(2).await.unwrap().is_empty());
        // Run r1's events again: the commit fails, and is reported all the same.
        let mut clash = start_write("r2");
        clash.execution.as_mut().unwrap().run_id = "r1".into();
        assert!(store.commit(&[clash]).await.is_err());
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [
                Operation::Commit,
                Operation::CountRunsWithStatus,
                Operation::CountRunsWithStatus,
                Operation::Commit,
            ]
        );
    }

    #[tokio::test]
    async fn failed_commit_leaves_nothing_behind() {
        let store = Store::open(&Location::Memory).await.unwrap();
        store.commit(&[start_write("r1")]).await.unwrap();
        // Event 2 exists already: the whole write must roll back, task and timer included.
        let mut clash = start_write("r2");
        clash.execution.as_mut().unwrap().run_id = "r1".into();
        clash.new_tasks = vec![task("r9", 7)];
        assert!(store.commit(&[clash]).await.is_err());
        assert_eq!(store.tasks().await.unwrap(), vec![task("r1", 2)]);
        // The failed transaction is not left open: the next commit goes through.
        store.commit(&[start_write("r3")]).await.unwrap();
        assert_eq!(
            store.tasks().await.unwrap(),
            vec![task("r1", 2), task("r3", 2)]
        );
    }

    #[tokio::test]
    async fn a_write_that_finds_no_room_names_the_file_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dev.db");
        let store = Store::open(&Location::File(path.clone())).await.unwrap();
        store.commit(&[start_write("r1")]).await.unwrap();
        // A page limit at the current size stands in for a full disk: SQLite answers both
        // with the same result code.
        sqlx::query("PRAGMA max_page_count = 1")
            .execute(&store.pool)
            .await
            .unwrap();
        let mut big = start_write("r2");
        big.events.push((3, vec![7; 1 << 20]));
        let error = store.commit(&[big]).await.unwrap_err();
        assert!(matches!(error, StoreError::Full { .. }), "{error:?}");
        assert!(error.to_string().contains(&path.display().to_string()));
        assert!(store.execution("r2").await.unwrap().is_none());

        sqlx::query("PRAGMA max_page_count = 1073741823")
            .execute(&store.pool)
            .await
            .unwrap();
        store.commit(&[start_write("r2")]).await.unwrap();
        assert_eq!(
            store.tasks().await.unwrap(),
            vec![task("r1", 2), task("r2", 2)]
        );
    }

    #[tokio::test]
    async fn memory_database_is_shared_and_file_database_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::File(dir.path().join("dev.db"));
        let store = Store::open(&location).await.unwrap();
        store.commit(&[start_write("r1")]).await.unwrap();
        let row = NamespaceRow {
            name: "default".into(),
            id: "id".into(),
            description: String::new(),
            owner_email: String::new(),
            retention_seconds: 86400,
            data: BTreeMap::from([("team".to_owned(), "payments".to_owned())]),
            replication_state: 1,
        };
        assert!(store.insert_namespace(&row).await.unwrap());
        assert!(!store.insert_namespace(&row).await.unwrap());
        drop(store);

        let reopened = Store::open(&location).await.unwrap();
        assert_eq!(reopened.namespaces().await.unwrap(), vec![row]);
        assert_eq!(reopened.tasks().await.unwrap(), vec![task("r1", 2)]);
        assert_eq!(
            reopened.events("r1", 1, i64::MAX, 10).await.unwrap().len(),
            2
        );
        // Search attributes survive a reopen too.
        let attribute = SearchAttributeRow {
            namespace: "default".into(),
            name: "Customer".into(),
            value_type: 2,
        };
        reopened
            .add_search_attributes(std::slice::from_ref(&attribute))
            .await
            .unwrap();
        // New tasks keep queue order after a reopen.
        let mut later = ExecutionWrite::default();
        later.new_tasks.push(task("r2", 2));
        reopened.commit(&[later]).await.unwrap();
        assert_eq!(reopened.tasks().await.unwrap()[1], task("r2", 2));
        drop(reopened);
        let again = Store::open(&location).await.unwrap();
        assert_eq!(again.search_attributes().await.unwrap(), vec![attribute]);
    }

    fn endpoint(id: &str, name: &str, data: &[u8]) -> NexusEndpointRow {
        NexusEndpointRow {
            id: id.into(),
            name: name.into(),
            endpoint: data.to_vec(),
        }
    }

    fn schedule(namespace: &str, id: &str, wake_at: Option<i64>) -> ScheduleRow {
        ScheduleRow {
            namespace: namespace.into(),
            schedule_id: id.into(),
            state: id.as_bytes().to_vec(),
            wake_at,
        }
    }

    #[tokio::test]
    async fn schedules_are_unique_per_namespace_paged_by_id_and_keep_their_wakeups() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::File(dir.path().join("dev.db"));
        let store = Store::open(&location).await.unwrap();
        for row in [
            schedule("default", "b", Some(20)),
            schedule("default", "a", None),
            schedule("default", "c", Some(10)),
            schedule("other", "a", Some(5)),
        ] {
            assert!(store.insert_schedule(&row).await.unwrap());
        }
        assert!(
            !store
                .insert_schedule(&schedule("default", "a", Some(1)))
                .await
                .unwrap()
        );
        assert_eq!(store.count_schedules("default").await.unwrap(), 3);
        let page = store.schedules("default", "a", 1).await.unwrap();
        assert_eq!(page, [schedule("default", "b", Some(20))]);
        let mut moved = schedule("default", "b", None);
        moved.state = b"new".to_vec();
        assert!(store.update_schedule(&moved).await.unwrap());
        assert!(
            !store
                .update_schedule(&schedule("default", "z", None))
                .await
                .unwrap()
        );
        assert!(store.delete_schedule("default", "c").await.unwrap());
        assert!(!store.delete_schedule("default", "c").await.unwrap());
        drop(store);
        let store = Store::open(&location).await.unwrap();
        assert_eq!(store.schedule("default", "b").await.unwrap(), Some(moved));
        let wakeups: Vec<_> = store
            .all_schedules()
            .await
            .unwrap()
            .into_iter()
            .map(|row| (row.namespace, row.schedule_id, row.wake_at))
            .collect();
        assert_eq!(wakeups.len(), 3);
        assert!(wakeups.contains(&("other".into(), "a".into(), Some(5))));
    }

    #[tokio::test]
    async fn nexus_endpoints_keep_ids_and_names_unique_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::File(dir.path().join("dev.db"));
        let store = Store::open(&location).await.unwrap();
        assert!(store.nexus_endpoints().await.unwrap().is_empty());
        assert!(
            store
                .insert_nexus_endpoint(&endpoint("b", "one", b"1"))
                .await
                .unwrap()
        );
        assert!(
            store
                .insert_nexus_endpoint(&endpoint("a", "two", b"2"))
                .await
                .unwrap()
        );
        // A taken name or id inserts nothing.
        assert!(
            !store
                .insert_nexus_endpoint(&endpoint("c", "one", b"3"))
                .await
                .unwrap()
        );
        assert!(
            !store
                .insert_nexus_endpoint(&endpoint("a", "three", b"3"))
                .await
                .unwrap()
        );
        // A rename frees the old name; another endpoint's name is refused.
        assert!(
            store
                .update_nexus_endpoint(&endpoint("b", "uno", b"1b"))
                .await
                .unwrap()
        );
        assert!(
            store
                .update_nexus_endpoint(&endpoint("b", "two", b"1c"))
                .await
                .is_err()
        );
        assert!(
            !store
                .update_nexus_endpoint(&endpoint("z", "zed", b"z"))
                .await
                .unwrap()
        );
        assert!(
            store
                .insert_nexus_endpoint(&endpoint("c", "one", b"3"))
                .await
                .unwrap()
        );
        assert!(store.delete_nexus_endpoint("c").await.unwrap());
        assert!(!store.delete_nexus_endpoint("c").await.unwrap());
        drop(store);

        let reopened = Store::open(&location).await.unwrap();
        assert_eq!(
            reopened.nexus_endpoints().await.unwrap(),
            vec![endpoint("a", "two", b"2"), endpoint("b", "uno", b"1b")]
        );
    }

    fn attribute(namespace: &str, name: &str, value_type: i32) -> SearchAttributeRow {
        SearchAttributeRow {
            namespace: namespace.into(),
            name: name.into(),
            value_type,
        }
    }

    #[tokio::test]
    async fn search_attributes_are_added_once_and_removed_per_namespace() {
        let store = Store::open(&Location::Memory).await.unwrap();
        assert!(store.search_attributes().await.unwrap().is_empty());
        store
            .add_search_attributes(&[attribute("default", "B", 3), attribute("extra", "B", 2)])
            .await
            .unwrap();
        // An existing name keeps its first type; the new one in the same call is added.
        store
            .add_search_attributes(&[attribute("default", "B", 7), attribute("default", "A", 1)])
            .await
            .unwrap();
        assert_eq!(
            store.search_attributes().await.unwrap(),
            vec![
                attribute("default", "A", 1),
                attribute("default", "B", 3),
                attribute("extra", "B", 2),
            ]
        );
        store
            .remove_search_attributes("default", &["B".into(), "Missing".into()])
            .await
            .unwrap();
        assert_eq!(
            store.search_attributes().await.unwrap(),
            vec![attribute("default", "A", 1), attribute("extra", "B", 2)]
        );
    }

    #[tokio::test]
    async fn a_database_file_serves_one_process_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::File(dir.path().join("dev.db"));
        let store = Store::open(&location).await.unwrap();
        // The lock is on the open file, so a second open in this process meets it too.
        let second = Store::open(&location).await;
        assert!(matches!(second, Err(StoreError::InUse)), "{second:?}");
        drop(store);
        Store::open(&location).await.unwrap();
    }

    #[tokio::test]
    async fn a_database_of_a_newer_schema_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::File(dir.path().join("dev.db"));
        let store = Store::open(&location).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from the future', 1, x'00', 0)",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        drop(store);
        let known = sqlx::migrate!("./migrations")
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap();
        match Store::open(&location).await {
            Err(StoreError::NewerSchema { found, known: k }) => {
                assert_eq!((found, k), (9999, known))
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
    }
}
