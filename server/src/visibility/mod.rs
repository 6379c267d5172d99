//! Visibility queries: the list-filter language of `ListWorkflowExecutions` and
//! `CountWorkflowExecutions` (`WorkflowType = 'Foo' AND StartTime > '2024-01-01T00:00:00Z'`),
//! read (`parser`), checked against the attributes' types (`resolve`) and translated to SQL
//! (`sql`). Pure: no I/O.
//!
//! What it accepts, and how it matches, follows the real dev server (Temporal 1.32 with its
//! SQLite store), as probed with the Python SDK; its error messages are repeated word for word:
//! - Keywords are case-insensitive; attribute names and status names are not. A status is
//!   `'Running'`, `'WORKFLOW_EXECUTION_STATUS_RUNNING'` or its number (0 to 7).
//! - A single-valued attribute a run lacks is NULL, as a column is: `!=`, `NOT IN`,
//!   `NOT BETWEEN`, `NOT STARTS_WITH` and `NOT (...)` of a test on it leave that run out.
//! - KeywordList and Text tests are yes or no: their `!=` and `NOT IN` take in runs without
//!   the attribute. A KeywordList element matches regardless of case (the real server's
//!   full-text index folds case). Text matches when it has any word of the value, whole
//!   words regardless of case, as the real server's full-text index does.
//! - `STARTS_WITH` is SQL's LIKE on both servers, so it ignores ASCII case.
//! - Datetime values are RFC 3339 strings or integers of nanoseconds since the epoch;
//!   ExecutionDuration values are integers of nanoseconds or duration strings (`'1h30m'`,
//!   `'2d'`, `'01:30:00'`). Both compare at milliseconds, the precision the store keeps.
//! - ORDER BY: the real dev server refuses it ("operation is not supported: 'ORDER BY'
//!   clause"); servers on Elasticsearch take it, so we do, on attributes kept as columns.
//! - GROUP BY: ExecutionStatus only; a listing ignores it, as on the real server.

mod parser;
mod resolve;
mod sql;
mod values;

#[cfg(test)]
mod tests;

pub use devserver_persistence::SqlValue;
pub use resolve::status_name;
pub use sql::DEFAULT_ORDER_BY;
use temporalio_protos::temporal::api::enums::v1::IndexedValueType;

/// Longest query taken. Every bound value takes at least two bytes of query text, which
/// keeps a query's parameters well below SQLite's limit of 32766 per statement.
pub const MAX_QUERY_BYTES: usize = 32 * 1024;

/// A query the real server would refuse; the message is its, `invalid query: ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid query: {0}")]
pub struct QueryError(String);

impl QueryError {
    fn new(message: impl Into<String>) -> QueryError {
        QueryError(message.into())
    }
}

/// The words of a Text value as visibility stores and matches them, like the real server's
/// full-text index: lower-case runs of letters and digits. A Text matches a query's value
/// when they share a word.
pub fn text_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Reads a query; `custom` gives the type of each custom attribute of the namespace.
pub fn parse(
    query: &str,
    custom: &dyn Fn(&str) -> Option<IndexedValueType>,
) -> Result<Query, QueryError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(QueryError::new(format!(
            "operation is not supported: query longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let query = query.trim();
    if query.is_empty() {
        return Ok(Query {
            filter: None,
            order_by: Vec::new(),
            group_by_status: false,
        });
    }
    resolve::resolve(parser::parse(query)?, custom)
}

/// A query, checked: what it selects, in what order, and whether it counts by status.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    filter: Option<Filter>,
    order_by: Vec<Sort>,
    group_by_status: bool,
}

/// A query as SQL over `executions e`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sql {
    /// A boolean expression; `1` when the query selects every run.
    pub filter: String,
    /// The values of `filter`'s `?` placeholders, in order.
    pub params: Vec<SqlValue>,
    /// ORDER BY terms, without placeholders: [`DEFAULT_ORDER_BY`] unless the query has one.
    pub order_by: String,
    /// The query counts by ExecutionStatus (`GROUP BY ExecutionStatus`).
    pub group_by_status: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Test(Test),
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    /// A single-valued attribute, NULL if the run lacks it.
    Scalar { target: Target, check: Check },
    /// `IS NOT NULL` (`present`) or `IS NULL`.
    Present { target: Target, present: bool },
    /// A KeywordList has one of `values` (lower-case), or with `negated`, none.
    ListHas {
        name: String,
        values: Vec<String>,
        negated: bool,
    },
    /// A Text contains one of `words` (lower-case), or with `negated`, none.
    TextHas {
        name: String,
        words: Vec<String>,
        negated: bool,
    },
}

/// Where an attribute's value is.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// A column of `executions e` (SQL).
    Column(&'static str),
    /// Rows of `execution_search_attributes` under this name.
    Stored(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Check {
    Compare(Comparison, SqlValue),
    In {
        negated: bool,
        values: Vec<SqlValue>,
    },
    Between {
        negated: bool,
        low: SqlValue,
        high: SqlValue,
    },
    StartsWith {
        negated: bool,
        prefix: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

#[derive(Debug, Clone, PartialEq)]
struct Sort {
    /// SQL of the column.
    column: &'static str,
    descending: bool,
}
