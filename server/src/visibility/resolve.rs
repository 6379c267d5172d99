//! From syntax to meaning: names become attributes, values are read as the attribute's type,
//! operators are checked against it. Errors are the real server's, found in the order it
//! finds them: LIMIT, then the condition from left to right (for each predicate: the name,
//! the values, then the operator), then GROUP BY, then ORDER BY.

use temporalio_protos::temporal::api::enums::v1::IndexedValueType::{
    self, Bool, Datetime, Double, Int, Keyword, KeywordList, Text,
};

use super::parser::{Condition, Operand, Operator, Statement, Test as Syntax, display_name};
use super::values::{NANOS_PER_MILLI, duration_nanos};
use super::{Check, Comparison, Filter, Query, QueryError, Sort, SqlValue, Target, Test, sql};
use crate::go_format::{go_float, go_quote};
use crate::{rfc3339, search_attributes};

/// Workflow execution statuses: their code, name and enum constant, each of which a query
/// may use (names are case-sensitive, as on the real server).
const STATUSES: [(i64, &str, &str); 8] = [
    (0, "Unspecified", "WORKFLOW_EXECUTION_STATUS_UNSPECIFIED"),
    (1, "Running", "WORKFLOW_EXECUTION_STATUS_RUNNING"),
    (2, "Completed", "WORKFLOW_EXECUTION_STATUS_COMPLETED"),
    (3, "Failed", "WORKFLOW_EXECUTION_STATUS_FAILED"),
    (4, "Canceled", "WORKFLOW_EXECUTION_STATUS_CANCELED"),
    (5, "Terminated", "WORKFLOW_EXECUTION_STATUS_TERMINATED"),
    (
        6,
        "ContinuedAsNew",
        "WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW",
    ),
    (7, "TimedOut", "WORKFLOW_EXECUTION_STATUS_TIMED_OUT"),
];

/// The two system attributes whose values are not read as their type says.
const EXECUTION_STATUS: &str = "ExecutionStatus";
const EXECUTION_DURATION: &str = "ExecutionDuration";

pub(super) fn resolve(
    statement: Statement,
    custom: &dyn Fn(&str) -> Option<IndexedValueType>,
) -> Result<Query, QueryError> {
    let resolver = Resolver { custom };
    if statement.has_limit {
        return Err(QueryError::new(
            "operation is not supported: 'LIMIT' clause",
        ));
    }
    let filter = statement
        .filter
        .map(|condition| resolver.condition(condition))
        .transpose()?;
    let mut group_by = statement.group_by.into_iter();
    let group_by_status = match (group_by.next(), group_by.next()) {
        (None, _) => false,
        (Some(field), None) => {
            let attribute = resolver.attribute(field)?;
            // The real server also groups by TemporalNamespaceDivision, which runs here
            // never have: only the status is worth a count.
            if attribute.name != EXECUTION_STATUS {
                return Err(QueryError::new(format!(
                    "operation is not supported: 'GROUP BY' clause is not supported for \
                     search attribute {}",
                    attribute.alias
                )));
            }
            true
        }
        (Some(_), Some(_)) => {
            return Err(QueryError::new(
                "operation is not supported: 'GROUP BY' clause supports only a single field",
            ));
        }
    };
    let order_by = statement
        .order_by
        .into_iter()
        .map(|(field, descending)| resolver.sort(field, descending))
        .collect::<Result<_, _>>()?;
    Ok(Query {
        filter,
        order_by,
        group_by_status,
    })
}

/// An attribute a query names.
struct Attribute {
    /// As the query spells it, which messages repeat.
    alias: String,
    name: String,
    value_type: IndexedValueType,
    target: Target,
}

/// What an operator does to an attribute of a given type.
enum Operation {
    Compare(Comparison),
    In { negated: bool },
    StartsWith { negated: bool },
    ListHas { negated: bool },
    TextHas { negated: bool },
}

/// A value as the real server holds it between reading and typing.
enum Raw {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Raw {
    /// As Go's `%#v` prints it.
    fn go_value(&self) -> String {
        match self {
            Raw::String(text) => go_quote(text),
            Raw::Int(value) => value.to_string(),
            Raw::Float(value) => go_float(*value),
            Raw::Bool(value) => value.to_string(),
        }
    }

    fn go_type(&self) -> &'static str {
        match self {
            Raw::String(_) => "string",
            Raw::Int(_) => "int64",
            Raw::Float(_) => "float64",
            Raw::Bool(_) => "bool",
        }
    }
}

struct Resolver<'a> {
    custom: &'a dyn Fn(&str) -> Option<IndexedValueType>,
}

impl Resolver<'_> {
    fn condition(&self, condition: Condition) -> Result<Filter, QueryError> {
        Ok(match condition {
            Condition::And(terms) => Filter::And(self.conditions(terms)?),
            Condition::Or(terms) => Filter::Or(self.conditions(terms)?),
            Condition::Not(negated) => Filter::Not(Box::new(self.condition(*negated)?)),
            Condition::Predicate { subject, test } => Filter::Test(self.predicate(subject, test)?),
        })
    }

    fn conditions(&self, conditions: Vec<Condition>) -> Result<Vec<Filter>, QueryError> {
        conditions
            .into_iter()
            .map(|condition| self.condition(condition))
            .collect()
    }

    fn predicate(&self, subject: Operand, test: Syntax) -> Result<Test, QueryError> {
        match test {
            Syntax::Nothing => Err(QueryError::new(match subject {
                Operand::Name(_) => "invalid expression: incomplete expression".to_owned(),
                other => format!(
                    "operation is not supported: expression of type {}",
                    go_type(&other)
                ),
            })),
            Syntax::Compare(operator, value) => {
                let attribute = self.attribute(subject)?;
                let values = match value {
                    // `= ('a', 'b')`: read as a list, as the real server does; only IN takes one.
                    Operand::Tuple(items) if items.len() > 1 => self.values(&attribute, items)?,
                    value => vec![self.value(&attribute, value)?],
                };
                operator_test(attribute, operator, values)
            }
            Syntax::In { negated, values } => {
                let attribute = self.attribute(subject)?;
                let values = self.values(&attribute, values)?;
                let operator = if negated {
                    Operator::NotIn
                } else {
                    Operator::In
                };
                operator_test(attribute, operator, values)
            }
            Syntax::Between { negated, low, high } => {
                let attribute = self.attribute(subject)?;
                if !matches!(attribute.value_type, Datetime | Double | Int | Keyword) {
                    return Err(QueryError::new(format!(
                        "invalid expression: cannot do range condition on search attribute \
                         '{}' of type {}",
                        attribute.alias,
                        search_attributes::type_name(attribute.value_type)
                    )));
                }
                let check = Check::Between {
                    negated,
                    low: self.value(&attribute, low)?,
                    high: self.value(&attribute, high)?,
                };
                Ok(Test::Scalar {
                    target: attribute.target,
                    check,
                })
            }
            Syntax::Is { negated, what } => {
                let attribute = self.attribute(subject)?;
                match what {
                    Operand::Null => Ok(Test::Present {
                        target: attribute.target,
                        present: negated,
                    }),
                    _ => Err(QueryError::new(
                        "invalid expression: 'IS' operator can only be used as 'IS NULL' or \
                         'IS NOT NULL'",
                    )),
                }
            }
        }
    }

    fn sort(&self, field: Operand, descending: bool) -> Result<Sort, QueryError> {
        let attribute = self.attribute(field)?;
        if attribute.value_type == Text {
            return Err(QueryError::new(
                "operation is not supported: unable to sort by search attribute type Text",
            ));
        }
        match attribute.target {
            Target::Column(column) => Ok(Sort { column, descending }),
            // A stored attribute would need its name bound in ORDER BY, and a listing's
            // ordering has no parameters.
            Target::Stored(_) => Err(QueryError::new(format!(
                "operation is not supported: 'ORDER BY' clause is not supported for search \
                 attribute {}",
                attribute.alias
            ))),
        }
    }

    /// The attribute an operand names.
    fn attribute(&self, operand: Operand) -> Result<Attribute, QueryError> {
        let Operand::Name(name) = operand else {
            return Err(QueryError::new(format!(
                "invalid expression: must be a column name but was {}",
                go_type(&operand)
            )));
        };
        // The real server drops back-quotes from names, even doubled ones.
        let alias = name.replace('`', "");
        let (name, value_type) = self
            .resolve_name(&alias)
            .ok_or_else(|| QueryError::new(format!("invalid search attribute: {alias}")))?;
        let target = match sql::column(&name) {
            Some(column) => Target::Column(column),
            None => Target::Stored(name.clone()),
        };
        Ok(Attribute {
            alias,
            name,
            value_type,
            target,
        })
    }

    /// A name as the real server resolves it: a custom attribute, then a system one as
    /// spelled, `ScheduleId` for `WorkflowId`, then the system one with `Temporal` added or
    /// removed (`ChangeVersion` is `TemporalChangeVersion`).
    fn resolve_name(&self, alias: &str) -> Option<(String, IndexedValueType)> {
        let system = |name: &str| {
            search_attributes::system()
                .find(|(known, _)| *known == name)
                .map(|(known, value_type)| (known.to_owned(), value_type))
        };
        let unprefixed = alias.strip_prefix("Temporal");
        if system(alias).is_none()
            && let Some(value_type) = (self.custom)(alias)
        {
            return Some((alias.to_owned(), value_type));
        }
        system(alias)
            .or_else(|| {
                (unprefixed.unwrap_or(alias) == "ScheduleId")
                    .then(|| system("WorkflowId"))
                    .flatten()
            })
            .or_else(|| system(&format!("Temporal{alias}")))
            .or_else(|| unprefixed.and_then(system))
    }

    fn values(
        &self,
        attribute: &Attribute,
        operands: Vec<Operand>,
    ) -> Result<Vec<SqlValue>, QueryError> {
        operands
            .into_iter()
            .map(|operand| self.value(attribute, operand))
            .collect()
    }

    /// A value of the attribute's type, as it is stored: Datetime in milliseconds since the
    /// epoch, ExecutionDuration in milliseconds, ExecutionStatus as its code, Bool as 0/1.
    fn value(&self, attribute: &Attribute, operand: Operand) -> Result<SqlValue, QueryError> {
        let raw = match operand {
            Operand::String(text) => Raw::String(text),
            Operand::Number(text) => number(&text)?,
            Operand::Bool(value) => {
                // As on the real server, booleans skip the status and duration readers.
                return typed(attribute, Raw::Bool(value));
            }
            Operand::Name(name) => {
                return Err(QueryError::new(format!(
                    "operation is not supported: column name on the right side of comparison \
                     expression (did you forget to quote {}?)",
                    go_quote(&display_name(&name))
                )));
            }
            other => {
                return Err(QueryError::new(format!(
                    "invalid expression: unexpected value type {}",
                    go_type(&other)
                )));
            }
        };
        match attribute.name.as_str() {
            EXECUTION_STATUS => status(raw),
            EXECUTION_DURATION => duration(raw),
            _ => typed(attribute, raw),
        }
    }
}

/// The Go type the real server's parser makes of an operand, which its messages name.
fn go_type(operand: &Operand) -> &'static str {
    match operand {
        Operand::Name(_) => "*sqlparser.ColName",
        Operand::String(_) | Operand::Number(_) => "*sqlparser.SQLVal",
        Operand::Bool(_) => "sqlparser.BoolVal",
        Operand::Null => "*sqlparser.NullVal",
        Operand::Tuple(items) if items.len() == 1 => "*sqlparser.ParenExpr",
        Operand::Tuple(_) => "sqlparser.ValTuple",
    }
}

/// A number: an integer if it fits 64 bits, else a float.
fn number(text: &str) -> Result<Raw, QueryError> {
    if let Ok(value) = text.parse() {
        return Ok(Raw::Int(value));
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Raw::Float(value)),
        _ => Err(QueryError::new(format!(
            "invalid expression: unable to parse value {}",
            go_quote(text)
        ))),
    }
}

fn typed(attribute: &Attribute, raw: Raw) -> Result<SqlValue, QueryError> {
    let value_type = attribute.value_type;
    Ok(match (value_type, raw) {
        (Int | Double, Raw::Int(value)) => SqlValue::Int(value),
        (Int | Double, Raw::Float(value)) => SqlValue::Real(value),
        (Bool, Raw::Bool(value)) => SqlValue::Int(i64::from(value)),
        (Datetime, Raw::Int(nanos)) => SqlValue::Int(nanos.div_euclid(NANOS_PER_MILLI)),
        (Datetime, Raw::String(text)) => match rfc3339::parse_millis(&text) {
            Some(millis) => SqlValue::Int(millis),
            None => {
                return Err(QueryError::new(format!(
                    "invalid expression: unable to parse datetime '{text}'"
                )));
            }
        },
        (Keyword | KeywordList | Text, Raw::String(text)) => SqlValue::Text(text),
        (IndexedValueType::Unspecified, _) => {
            return Err(QueryError::new(format!(
                "invalid expression: unknown search attribute type Unspecified for {}",
                attribute.alias
            )));
        }
        (_, raw) => {
            return Err(QueryError::new(format!(
                "invalid expression: invalid value type for search attribute {} of type {}: \
                 {} (type: {})",
                attribute.alias,
                search_attributes::type_name(value_type),
                raw.go_value(),
                raw.go_type()
            )));
        }
    })
}

/// A status's name as queries and the real server's counts spell it (`Running`,
/// `ContinuedAsNew`, ...).
pub fn status_name(code: i64) -> Option<&'static str> {
    STATUSES
        .iter()
        .find(|(known, _, _)| *known == code)
        .map(|(_, name, _)| *name)
}

fn status(raw: Raw) -> Result<SqlValue, QueryError> {
    let code = match &raw {
        Raw::String(name) => STATUSES
            .iter()
            .find(|(_, short, constant)| short == name || constant == name)
            .map(|(code, _, _)| *code)
            .ok_or_else(|| format!("invalid {EXECUTION_STATUS} value '{name}'")),
        Raw::Int(code) if (0..STATUSES.len() as i64).contains(code) => Ok(*code),
        Raw::Int(code) => Err(format!("invalid {EXECUTION_STATUS} value {code}")),
        other => Err(format!(
            "unexpected value type {} for search attribute {EXECUTION_STATUS}",
            other.go_type()
        )),
    };
    code.map(SqlValue::Int)
        .map_err(|message| QueryError::new(format!("invalid expression: {message}")))
}

fn duration(raw: Raw) -> Result<SqlValue, QueryError> {
    let nanos = match raw {
        Raw::Int(nanos) => Ok(nanos),
        Raw::String(text) => duration_nanos(&text).ok_or_else(|| {
            format!("invalid duration value for search attribute {EXECUTION_DURATION}: {text}")
        }),
        other => Err(format!(
            "unexpected value type {} for search attribute {EXECUTION_DURATION}",
            other.go_type()
        )),
    };
    nanos
        .map(|nanos| SqlValue::Int(nanos.div_euclid(NANOS_PER_MILLI)))
        .map_err(|message| QueryError::new(format!("invalid expression: {message}")))
}

/// What the operator does to an attribute of its type, or the real server's refusal.
fn operation(attribute: &Attribute, operator: Operator) -> Result<Operation, QueryError> {
    use Operator as O;
    let operation = match (attribute.value_type, operator) {
        (KeywordList, O::Equal | O::In) => Some(Operation::ListHas { negated: false }),
        (KeywordList, O::NotEqual | O::NotIn) => Some(Operation::ListHas { negated: true }),
        (Text, O::Equal) => Some(Operation::TextHas { negated: false }),
        (Text, O::NotEqual) => Some(Operation::TextHas { negated: true }),
        (KeywordList | Text, _) => None,
        (Keyword, O::StartsWith) => Some(Operation::StartsWith { negated: false }),
        (Keyword, O::NotStartsWith) => Some(Operation::StartsWith { negated: true }),
        (_, O::Equal) => Some(Operation::Compare(Comparison::Equal)),
        (_, O::NotEqual) => Some(Operation::Compare(Comparison::NotEqual)),
        (_, O::Less) => Some(Operation::Compare(Comparison::Less)),
        (_, O::LessOrEqual) => Some(Operation::Compare(Comparison::LessOrEqual)),
        (_, O::Greater) => Some(Operation::Compare(Comparison::Greater)),
        (_, O::GreaterOrEqual) => Some(Operation::Compare(Comparison::GreaterOrEqual)),
        (_, O::In) => Some(Operation::In { negated: false }),
        (_, O::NotIn) => Some(Operation::In { negated: true }),
        _ => None,
    };
    operation.ok_or_else(|| {
        QueryError::new(format!(
            "operation is not supported: operator '{}' not supported for {} type search \
             attribute '{}'",
            operator.text(),
            search_attributes::type_name(attribute.value_type),
            attribute.alias
        ))
    })
}

/// The test an operator makes of an attribute with these values (one unless the operator
/// takes a list).
fn operator_test(
    attribute: Attribute,
    operator: Operator,
    values: Vec<SqlValue>,
) -> Result<Test, QueryError> {
    let operation = operation(&attribute, operator)?;
    let one = |values: Vec<SqlValue>| {
        <[SqlValue; 1]>::try_from(values)
            .map(|[value]| value)
            .map_err(|_| {
                QueryError::new(format!(
                    "operation is not supported: operator '{}' takes one value, not a list",
                    operator.text()
                ))
            })
    };
    let target = attribute.target;
    Ok(match operation {
        Operation::Compare(comparison) => Test::Scalar {
            target,
            check: Check::Compare(comparison, one(values)?),
        },
        Operation::In { negated } => Test::Scalar {
            target,
            check: Check::In { negated, values },
        },
        Operation::StartsWith { negated } => match one(values)? {
            SqlValue::Text(prefix) => Test::Scalar {
                target,
                check: Check::StartsWith { negated, prefix },
            },
            // ExecutionStatus: a Keyword held as its code.
            other => {
                return Err(QueryError::new(format!(
                    "invalid expression: right-hand side of {} operator must be a literal \
                     string (got: {})",
                    go_quote(&operator.text().to_ascii_lowercase()),
                    shown(&other)
                )));
            }
        },
        // Elements compare regardless of (ASCII) case, as the real dev server's full-text
        // index of them does.
        Operation::ListHas { negated } => Test::ListHas {
            name: attribute.name,
            values: values
                .iter()
                .map(|value| shown(value).to_ascii_lowercase())
                .collect(),
            negated,
        },
        Operation::TextHas { negated } => {
            let text = shown(&one(values)?);
            if text.split(' ').all(str::is_empty) {
                return Err(QueryError::new(format!(
                    "invalid expression: no tokens found filtering on Text type search \
                     attribute {}",
                    attribute.alias
                )));
            }
            Test::TextHas {
                name: attribute.name,
                words: super::text_words(&text),
                negated,
            }
        }
    })
}

/// A value as text: a string as itself, a status code as its name.
fn shown(value: &SqlValue) -> String {
    match value {
        SqlValue::Text(text) => text.clone(),
        SqlValue::Int(code) => status_name(*code).map_or_else(|| code.to_string(), str::to_owned),
        SqlValue::Real(value) => go_float(*value),
    }
}
