//! A checked query as SQL over `executions e` and `execution_search_attributes`. Every value
//! and attribute name a query brings is a bound parameter; the SQL text comes from this file
//! alone.

use super::{Check, Comparison, Filter, Query, Sort, Sql, SqlValue, Target, Test};

/// Newest first, as the real server lists: open runs, then by close time, then by start
/// time, the run id breaking ties (which keeps pages stable).
pub const DEFAULT_ORDER_BY: &str =
    "COALESCE(e.close_time, 9223372036854775807) DESC, e.start_time DESC, e.run_id";

/// The system attributes kept as columns of `executions`, and their SQL.
const COLUMNS: [(&str, &str); 16] = [
    ("WorkflowId", "e.workflow_id"),
    ("WorkflowType", "e.workflow_type"),
    ("RunId", "e.run_id"),
    ("ExecutionStatus", "e.status"),
    ("StartTime", "e.start_time"),
    ("CloseTime", "e.close_time"),
    ("ExecutionTime", "e.execution_time"),
    // NULL while the run is open, as the real server's.
    ("ExecutionDuration", "(e.close_time - e.execution_time)"),
    ("TaskQueue", "e.task_queue"),
    ("HistoryLength", "e.history_length"),
    ("HistorySizeBytes", "e.history_size_bytes"),
    ("StateTransitionCount", "e.state_transitions"),
    ("ParentWorkflowId", "e.parent_workflow_id"),
    ("ParentRunId", "e.parent_run_id"),
    ("RootWorkflowId", "e.root_workflow_id"),
    ("RootRunId", "e.root_run_id"),
];

/// The run's rows of one attribute (the name is the next parameter).
const ROWS: &str = "FROM execution_search_attributes s WHERE s.run_id = e.run_id AND s.name = ?";

/// The SQL of an attribute's column, if it has one.
pub(super) fn column(name: &str) -> Option<&'static str> {
    COLUMNS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, column)| *column)
}

impl Query {
    pub fn to_sql(&self) -> Sql {
        let mut writer = Writer::default();
        match &self.filter {
            Some(filter) => writer.filter(filter),
            None => writer.sql.push('1'),
        }
        Sql {
            filter: writer.sql,
            params: writer.params,
            order_by: order_by(&self.order_by),
            group_by_status: self.group_by_status,
        }
    }
}

fn order_by(sorts: &[Sort]) -> String {
    if sorts.is_empty() {
        return DEFAULT_ORDER_BY.to_owned();
    }
    let mut terms: Vec<String> = sorts
        .iter()
        .map(|sort| {
            let direction = if sort.descending { "DESC" } else { "ASC" };
            // Where Elasticsearch (the store that takes ORDER BY) puts runs without a value.
            format!("{} {direction} NULLS LAST", sort.column)
        })
        .collect();
    terms.push("e.run_id".to_owned());
    terms.join(", ")
}

#[derive(Default)]
struct Writer {
    sql: String,
    params: Vec<SqlValue>,
}

impl Writer {
    fn filter(&mut self, filter: &Filter) {
        match filter {
            Filter::And(terms) => self.balanced(terms, " AND ", '1'),
            Filter::Or(terms) => self.balanced(terms, " OR ", '0'),
            Filter::Not(negated) => {
                self.sql.push_str("NOT (");
                self.filter(negated);
                self.sql.push(')');
            }
            Filter::Test(test) => self.test(test),
        }
    }

    /// Terms joined in a balanced tree (SQLite refuses expressions nested 1000 deep, which a
    /// long chain would be); no terms at all are the operator's `identity`.
    fn balanced(&mut self, terms: &[Filter], operator: &str, identity: char) {
        match terms {
            [] => self.sql.push(identity),
            [term] => self.filter(term),
            _ => {
                let (left, right) = terms.split_at(terms.len() / 2);
                self.sql.push('(');
                self.balanced(left, operator, identity);
                self.sql.push_str(operator);
                self.balanced(right, operator, identity);
                self.sql.push(')');
            }
        }
    }

    fn test(&mut self, test: &Test) {
        match test {
            Test::Scalar { target, check } => {
                self.target(target);
                self.check(check);
            }
            Test::Present { target, present } => match target {
                Target::Column(column) => {
                    let not = if *present { " NOT" } else { "" };
                    self.sql.push_str(&format!("{column} IS{not} NULL"));
                }
                Target::Stored(name) => {
                    self.open_rows(name, *present);
                    self.sql.push(')');
                }
            },
            Test::ListHas {
                name,
                values,
                negated,
            } => {
                self.open_rows(name, !negated);
                let placeholders = self.bind_all(values.iter().cloned().map(SqlValue::Text));
                self.sql
                    .push_str(&format!(" AND lower(s.value) IN ({placeholders}))"));
            }
            Test::TextHas {
                name,
                words,
                negated,
            } => {
                if words.is_empty() {
                    // Punctuation alone: no word to find.
                    self.sql.push(if *negated { '1' } else { '0' });
                    return;
                }
                // Text is stored as its words (`text_words`), so a word matches a row.
                self.open_rows(name, !negated);
                let placeholders = self.bind_all(words.iter().cloned().map(SqlValue::Text));
                self.sql
                    .push_str(&format!(" AND s.value IN ({placeholders}))"));
            }
        }
    }

    /// An attribute as a value: a column, or a single-valued attribute's row, which is NULL
    /// when the run has none, just as a column would be.
    fn target(&mut self, target: &Target) {
        match target {
            Target::Column(column) => self.sql.push_str(column),
            Target::Stored(name) => {
                self.sql.push_str(&format!("(SELECT s.value {ROWS})"));
                self.params.push(SqlValue::Text(name.clone()));
            }
        }
    }

    fn check(&mut self, check: &Check) {
        let sql = match check {
            Check::Compare(comparison, value) => {
                let operator = match comparison {
                    Comparison::Equal => "=",
                    Comparison::NotEqual => "!=",
                    Comparison::Less => "<",
                    Comparison::LessOrEqual => "<=",
                    Comparison::Greater => ">",
                    Comparison::GreaterOrEqual => ">=",
                };
                self.params.push(value.clone());
                format!(" {operator} ?")
            }
            Check::In { negated, values } => {
                let not = if *negated { " NOT" } else { "" };
                let placeholders = self.bind_all(values.iter().cloned());
                format!("{not} IN ({placeholders})")
            }
            Check::Between { negated, low, high } => {
                let not = if *negated { " NOT" } else { "" };
                self.params.extend([low.clone(), high.clone()]);
                format!("{not} BETWEEN ? AND ?")
            }
            Check::StartsWith { negated, prefix } => {
                let not = if *negated { " NOT" } else { "" };
                self.params.push(SqlValue::Text(like_prefix(prefix)));
                // LIKE, as the real dev server's: it ignores ASCII case.
                format!("{not} LIKE ? ESCAPE '!'")
            }
        };
        self.sql.push_str(&sql);
    }

    /// Opens `[NOT] EXISTS (` a row of the attribute, for the caller to add a condition on
    /// `s.value` and close.
    fn open_rows(&mut self, name: &str, exists: bool) {
        let not = if exists { "" } else { "NOT " };
        self.sql.push_str(&format!("{not}EXISTS (SELECT 1 {ROWS}"));
        self.params.push(SqlValue::Text(name.to_owned()));
    }

    /// Binds values; returns their placeholders.
    fn bind_all(&mut self, values: impl Iterator<Item = SqlValue>) -> String {
        let count = self.params.len();
        self.params.extend(values);
        vec!["?"; self.params.len() - count].join(", ")
    }
}

/// A LIKE pattern of the strings that start with `prefix`, `!` escaping the wildcards.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
