//! The list-filter language's syntax: tokens, then a tree of conditions whose names and
//! values are still as written. Names, types and values are checked afterwards (`resolve`),
//! so that, as on the real server, a syntax error anywhere wins over any other error.
//!
//! The real server parses `select * from table1 where <query>` with MySQL's grammar, and its
//! syntax errors give a position in that statement: one past the end of the token it stopped
//! at, counted in bytes, and that token's text as `near '...'` if it has any (keywords
//! lower-cased, strings unquoted; operators have none).

use super::QueryError;

/// Parentheses and NOTs open at once when the real server's parser gives up.
const MAX_NESTING: usize = 200;

/// What the real server puts before a query that starts with a condition...
const BEFORE_CONDITION: &str = "select * from table1 where ";
/// ...and before one that starts with `order by` or `group by` (spelled with one space).
const BEFORE_CLAUSES: &str = "select * from table1 ";

/// Words the grammar gives a meaning to: they are not names unless back-quoted.
const KEYWORDS: [&str; 26] = [
    "and",
    "asc",
    "between",
    "by",
    "collate",
    "desc",
    "false",
    "from",
    "group",
    "having",
    "in",
    "is",
    "like",
    "limit",
    "not",
    "null",
    "offset",
    "or",
    "order",
    "regexp",
    "rlike",
    "select",
    "starts_with",
    "true",
    "where",
    "xor",
];

/// A query as written, up to its syntax.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Statement {
    pub filter: Option<Condition>,
    pub group_by: Vec<Operand>,
    /// Each with whether it is descending.
    pub order_by: Vec<(Operand, bool)>,
    pub has_limit: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Predicate { subject: Operand, test: Test },
}

/// Either side of a predicate.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    /// An attribute name, unquoted or back-quoted.
    Name(String),
    /// A quoted string, its escapes decoded.
    String(String),
    /// A number as written (with its sign); whether it is one is up to `resolve`.
    Number(String),
    Bool(bool),
    Null,
    /// Values in parentheses.
    Tuple(Vec<Operand>),
}

/// What a predicate asks of its subject.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Test {
    /// Nothing: the subject stands alone.
    Nothing,
    Compare(Operator, Operand),
    In {
        negated: bool,
        values: Vec<Operand>,
    },
    Between {
        negated: bool,
        low: Operand,
        high: Operand,
    },
    /// `IS [NOT] NULL|TRUE|FALSE`.
    Is {
        negated: bool,
        what: Operand,
    },
}

/// Binary operators, including those MySQL has and the language refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operator {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    NullSafeEqual,
    Like,
    NotLike,
    Regexp,
    NotRegexp,
    StartsWith,
    NotStartsWith,
    In,
    NotIn,
}

impl Operator {
    /// As the real server names it in messages.
    pub fn text(self) -> &'static str {
        match self {
            Operator::Equal => "=",
            Operator::NotEqual => "!=",
            Operator::Less => "<",
            Operator::LessOrEqual => "<=",
            Operator::Greater => ">",
            Operator::GreaterOrEqual => ">=",
            Operator::NullSafeEqual => "<=>",
            Operator::Like => "LIKE",
            Operator::NotLike => "NOT LIKE",
            Operator::Regexp => "REGEXP",
            Operator::NotRegexp => "NOT REGEXP",
            Operator::StartsWith => "STARTS_WITH",
            Operator::NotStartsWith => "NOT STARTS_WITH",
            Operator::In => "IN",
            Operator::NotIn => "NOT IN",
        }
    }
}

/// Parses a query (already trimmed; not empty).
pub(super) fn parse(query: &str) -> Result<Statement, QueryError> {
    let lowered = query.to_ascii_lowercase();
    let clauses_only = lowered.starts_with("order by") || lowered.starts_with("group by");
    let mut parser = Parser {
        tokens: lex(query),
        next: 0,
        nesting: 0,
        before: if clauses_only {
            BEFORE_CLAUSES.len()
        } else {
            BEFORE_CONDITION.len()
        },
    };
    let filter = if clauses_only {
        None
    } else {
        Some(parser.or_condition()?)
    };
    parser.clauses(filter)
}

/// A name as the real server prints it back: plain if it can be, else back-quoted.
pub(super) fn display_name(name: &str) -> String {
    let plain = name.bytes().enumerate().all(|(i, b)| {
        b.is_ascii_alphabetic() || b == b'_' || b == b'@' || (i > 0 && b.is_ascii_digit())
    });
    if plain && !name.is_empty() && !is_keyword(name) {
        name.to_owned()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

fn is_keyword(word: &str) -> bool {
    KEYWORDS
        .iter()
        .any(|keyword| keyword.eq_ignore_ascii_case(word))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A keyword or an unquoted name.
    Word(String),
    /// A back-quoted name.
    QuotedName(String),
    String(String),
    Number(String),
    Symbol(&'static str),
    /// What could not be read, as far as it was read; nothing follows it.
    Invalid(String),
    End,
}

#[derive(Debug, Clone, PartialEq)]
struct Lexeme {
    token: Token,
    /// Byte offset just past the token.
    end: usize,
}

impl Lexeme {
    /// The text a syntax error quotes as `near '...'`.
    fn near(&self) -> Option<String> {
        let text = match &self.token {
            Token::Word(word) if is_keyword(word) => word.to_ascii_lowercase(),
            Token::Word(text)
            | Token::QuotedName(text)
            | Token::String(text)
            | Token::Number(text)
            | Token::Invalid(text) => text.clone(),
            Token::Symbol(_) | Token::End => return None,
        };
        (!text.is_empty()).then_some(text)
    }
}

/// The tokens of a query, ending with `End`, or with `Invalid` at the first thing that is
/// not a token.
fn lex(query: &str) -> Vec<Lexeme> {
    let bytes = query.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    loop {
        while at < bytes.len() && matches!(bytes[at], b' ' | b'\n' | b'\r' | b'\t') {
            at += 1;
        }
        let Some(&first) = bytes.get(at) else {
            tokens.push(Lexeme {
                token: Token::End,
                end: bytes.len(),
            });
            return tokens;
        };
        let next = bytes.get(at + 1).copied();
        let (token, end) = match first {
            b'-' if next == Some(b'-') => {
                at = line_end(bytes, at);
                continue;
            }
            b'#' => {
                at = line_end(bytes, at);
                continue;
            }
            b'/' if next == Some(b'*') => match query[at + 2..].find("*/") {
                Some(close) => {
                    at += 2 + close + 2;
                    continue;
                }
                None => (Token::Invalid(query[at..].to_owned()), bytes.len()),
            },
            b if is_word_start(b) => {
                let end = scan_while(bytes, at, |b| is_word_start(b) || b.is_ascii_digit());
                (Token::Word(query[at..end].to_owned()), end)
            }
            b if b.is_ascii_digit() => number(query, at),
            b'.' if next.is_some_and(|b| b.is_ascii_digit()) => number(query, at),
            b'\'' | b'"' => string(bytes, at),
            b'`' => quoted_name(bytes, at),
            _ => match symbol(bytes, at) {
                Some((symbol, end)) => (Token::Symbol(symbol), end),
                None => {
                    let character = query[at..].chars().next().unwrap_or_default();
                    let end = at + character.len_utf8();
                    (Token::Invalid(character.to_string()), end)
                }
            },
        };
        let invalid = matches!(token, Token::Invalid(_));
        tokens.push(Lexeme { token, end });
        if invalid {
            return tokens;
        }
        at = end;
    }
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'@'
}

fn scan_while(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    from + bytes[from..].iter().take_while(|b| keep(**b)).count()
}

/// Where a `--` or `#` comment ends: past its line's newline.
fn line_end(bytes: &[u8], from: usize) -> usize {
    match bytes[from..].iter().position(|b| *b == b'\n') {
        Some(newline) => from + newline + 1,
        None => bytes.len(),
    }
}

/// A number as MySQL's tokenizer reads it: `12`, `1.5`, `.5`, `5.`, `1e3`, `1e`, `0x1F`.
/// A letter right after one makes it invalid.
fn number(query: &str, from: usize) -> (Token, usize) {
    let bytes = query.as_bytes();
    let digits = |at: usize| scan_while(bytes, at, |b| b.is_ascii_digit());
    let mut end;
    if bytes[from] == b'0' && matches!(bytes.get(from + 1), Some(b'x' | b'X')) {
        end = scan_while(bytes, from + 2, |b| b.is_ascii_hexdigit());
    } else {
        end = digits(from);
        if bytes.get(end) == Some(&b'.') {
            end = digits(end + 1);
        }
        if matches!(bytes.get(end), Some(b'e' | b'E')) {
            end += 1;
            if matches!(bytes.get(end), Some(b'+' | b'-')) {
                end += 1;
            }
            end = digits(end);
        }
    }
    let text = query[from..end].to_owned();
    if bytes.get(end).is_some_and(|b| is_word_start(*b)) {
        (Token::Invalid(text), end)
    } else {
        (Token::Number(text), end)
    }
}

/// A string in single or double quotes: the quote doubled, or a backslash escape as MySQL
/// reads them (`\n`, `\t`, `\r`, `\b`, `\0`, `\Z`; any other character stands for itself).
fn string(bytes: &[u8], from: usize) -> (Token, usize) {
    let quote = bytes[from];
    let mut text = Vec::new();
    let mut at = from + 1;
    loop {
        match bytes.get(at) {
            None => return (Token::Invalid(lossy(text)), bytes.len()),
            Some(b'\\') => {
                let Some(&escaped) = bytes.get(at + 1) else {
                    return (Token::Invalid(lossy(text)), bytes.len());
                };
                text.push(match escaped {
                    b'0' => 0,
                    b'b' => 0x08,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'Z' => 0x1a,
                    other => other,
                });
                at += 2;
            }
            Some(&b) if b == quote => {
                if bytes.get(at + 1) == Some(&quote) {
                    text.push(quote);
                    at += 2;
                } else {
                    return (Token::String(lossy(text)), at + 1);
                }
            }
            Some(&b) => {
                text.push(b);
                at += 1;
            }
        }
    }
}

/// A back-quoted name; a doubled back-quote stands for one.
fn quoted_name(bytes: &[u8], from: usize) -> (Token, usize) {
    let mut text = Vec::new();
    let mut at = from + 1;
    loop {
        match bytes.get(at) {
            None => return (Token::Invalid(lossy(text)), bytes.len()),
            Some(b'`') if bytes.get(at + 1) == Some(&b'`') => {
                text.push(b'`');
                at += 2;
            }
            Some(b'`') if text.is_empty() => return (Token::Invalid(String::new()), at + 1),
            Some(b'`') => return (Token::QuotedName(lossy(text)), at + 1),
            Some(&b) => {
                text.push(b);
                at += 1;
            }
        }
    }
}

/// Escapes only ever drop a backslash before a whole character, so the bytes stay UTF-8.
fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

fn symbol(bytes: &[u8], at: usize) -> Option<(&'static str, usize)> {
    let two = bytes.get(at..at + 2);
    let three = bytes.get(at..at + 3);
    if three == Some(b"<=>") {
        return Some(("<=>", at + 3));
    }
    let double = match two {
        Some(b"<>" | b"!=") => Some("!="),
        Some(b"<=") => Some("<="),
        Some(b">=") => Some(">="),
        Some(b"&&") => Some("&&"),
        Some(b"||") => Some("||"),
        Some(b"<<") => Some("<<"),
        Some(b">>") => Some(">>"),
        _ => None,
    };
    if let Some(symbol) = double {
        return Some((symbol, at + 2));
    }
    let single = match bytes[at] {
        b'=' => "=",
        b'<' => "<",
        b'>' => ">",
        b'!' => "!",
        b'(' => "(",
        b')' => ")",
        b',' => ",",
        b';' => ";",
        b'+' => "+",
        b'-' => "-",
        b'*' => "*",
        b'/' => "/",
        b'%' => "%",
        b'^' => "^",
        b'~' => "~",
        b'&' => "&",
        b'|' => "|",
        b'.' => ".",
        _ => return None,
    };
    Some((single, at + 1))
}

struct Parser {
    /// Never empty: ends with `End` or `Invalid`, which are never consumed.
    tokens: Vec<Lexeme>,
    next: usize,
    /// Parentheses and NOTs open now.
    nesting: usize,
    /// Bytes the real server's statement has before the query.
    before: usize,
}

impl Parser {
    fn peek(&self) -> &Lexeme {
        &self.tokens[self.next.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) {
        if self.next + 1 < self.tokens.len() {
            self.next += 1;
        }
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().token, Token::Word(word) if word.eq_ignore_ascii_case(keyword))
    }

    fn at_symbol(&self, symbol: &str) -> bool {
        matches!(self.peek().token, Token::Symbol(found) if found == symbol)
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.at_keyword(keyword);
        if found {
            self.advance();
        }
        found
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        let found = self.at_symbol(symbol);
        if found {
            self.advance();
        }
        found
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), QueryError> {
        if self.eat_keyword(keyword) {
            Ok(())
        } else {
            Err(self.error("syntax error"))
        }
    }

    fn expect_symbol(&mut self, symbol: &str) -> Result<(), QueryError> {
        if self.eat_symbol(symbol) {
            Ok(())
        } else {
            Err(self.error("syntax error"))
        }
    }

    /// An error at the next token, worded like the real server's.
    fn error(&self, what: &str) -> QueryError {
        let lexeme = self.peek();
        let position = self.before + lexeme.end + 1;
        let near = lexeme
            .near()
            .map(|near| format!(" near '{near}'"))
            .unwrap_or_default();
        QueryError::new(format!(
            "malformed SQL query: {what} at position {position}{near}"
        ))
    }

    /// Opens a parenthesis or a NOT (the next token), if the nesting allows another.
    fn open(&mut self) -> Result<(), QueryError> {
        self.nesting += 1;
        if self.nesting >= MAX_NESTING {
            return Err(self.error("max nesting level reached"));
        }
        self.advance();
        Ok(())
    }

    fn close(&mut self) {
        self.nesting -= 1;
    }

    /// `GROUP BY`, `ORDER BY` and `LIMIT` after the condition, then the end.
    fn clauses(mut self, filter: Option<Condition>) -> Result<Statement, QueryError> {
        let mut group_by = Vec::new();
        if self.eat_keyword("group") {
            self.expect_keyword("by")?;
            group_by = self.list(Parser::operand)?;
        }
        let mut order_by = Vec::new();
        if self.eat_keyword("order") {
            self.expect_keyword("by")?;
            order_by = self.list(|parser| {
                let operand = parser.operand()?;
                let descending = parser.eat_keyword("desc");
                if !descending {
                    parser.eat_keyword("asc");
                }
                Ok((operand, descending))
            })?;
        }
        let has_limit = self.eat_keyword("limit");
        if has_limit {
            self.limit_count()?;
            if self.eat_symbol(",") || self.eat_keyword("offset") {
                self.limit_count()?;
            }
        }
        self.eat_symbol(";");
        if self.peek().token != Token::End {
            return Err(self.error("syntax error"));
        }
        Ok(Statement {
            filter,
            group_by,
            order_by,
            has_limit,
        })
    }

    fn limit_count(&mut self) -> Result<(), QueryError> {
        match self.peek().token {
            Token::Number(_) => {
                self.advance();
                Ok(())
            }
            _ => Err(self.error("syntax error")),
        }
    }

    /// One or more items separated by commas.
    fn list<T>(
        &mut self,
        item: impl Fn(&mut Parser) -> Result<T, QueryError>,
    ) -> Result<Vec<T>, QueryError> {
        let mut items = vec![item(self)?];
        while self.eat_symbol(",") {
            items.push(item(self)?);
        }
        Ok(items)
    }

    fn or_condition(&mut self) -> Result<Condition, QueryError> {
        let mut terms = vec![self.and_condition()?];
        while self.eat_keyword("or") || self.eat_symbol("||") {
            terms.push(self.and_condition()?);
        }
        Ok(if terms.len() == 1 {
            terms.swap_remove(0)
        } else {
            Condition::Or(terms)
        })
    }

    fn and_condition(&mut self) -> Result<Condition, QueryError> {
        let mut terms = vec![self.not_condition()?];
        while self.eat_keyword("and") || self.eat_symbol("&&") {
            terms.push(self.not_condition()?);
        }
        Ok(if terms.len() == 1 {
            terms.swap_remove(0)
        } else {
            Condition::And(terms)
        })
    }

    /// NOT binds tighter than AND and looser than a comparison, as in MySQL.
    fn not_condition(&mut self) -> Result<Condition, QueryError> {
        if !self.at_keyword("not") {
            return self.predicate();
        }
        self.open()?;
        let negated = self.not_condition()?;
        self.close();
        Ok(Condition::Not(Box::new(negated)))
    }

    fn predicate(&mut self) -> Result<Condition, QueryError> {
        if self.at_symbol("(") {
            self.open()?;
            let inner = self.or_condition()?;
            self.expect_symbol(")")?;
            self.close();
            return Ok(inner);
        }
        let subject = self.operand()?;
        let test = self.test()?;
        Ok(Condition::Predicate { subject, test })
    }

    fn test(&mut self) -> Result<Test, QueryError> {
        if self.eat_keyword("is") {
            let negated = self.eat_keyword("not");
            let what = if self.at_keyword("null") {
                Operand::Null
            } else if self.at_keyword("true") || self.at_keyword("false") {
                Operand::Bool(self.at_keyword("true"))
            } else {
                return Err(self.error("syntax error"));
            };
            self.advance();
            return Ok(Test::Is { negated, what });
        }
        let negated = self.eat_keyword("not");
        if self.at_keyword("in") || self.at_keyword("between") {
            return self.in_or_between(negated);
        }
        let operator = match (self.operator(), negated) {
            (None, false) => return Ok(Test::Nothing),
            (Some(operator), false) => operator,
            (Some(Operator::Like), true) => Operator::NotLike,
            (Some(Operator::Regexp), true) => Operator::NotRegexp,
            (Some(Operator::StartsWith), true) => Operator::NotStartsWith,
            (_, true) => return Err(self.error("syntax error")),
        };
        self.advance();
        Ok(Test::Compare(operator, self.operand()?))
    }

    /// The binary operator the next token is, if it is one.
    fn operator(&self) -> Option<Operator> {
        Some(match &self.peek().token {
            Token::Symbol("=") => Operator::Equal,
            Token::Symbol("!=") => Operator::NotEqual,
            Token::Symbol("<") => Operator::Less,
            Token::Symbol("<=") => Operator::LessOrEqual,
            Token::Symbol(">") => Operator::Greater,
            Token::Symbol(">=") => Operator::GreaterOrEqual,
            Token::Symbol("<=>") => Operator::NullSafeEqual,
            Token::Word(word) if word.eq_ignore_ascii_case("like") => Operator::Like,
            Token::Word(word)
                if word.eq_ignore_ascii_case("regexp") || word.eq_ignore_ascii_case("rlike") =>
            {
                Operator::Regexp
            }
            Token::Word(word) if word.eq_ignore_ascii_case("starts_with") => Operator::StartsWith,
            _ => return None,
        })
    }

    fn in_or_between(&mut self, negated: bool) -> Result<Test, QueryError> {
        if self.eat_keyword("between") {
            let low = self.operand()?;
            if !self.eat_symbol("&&") {
                self.expect_keyword("and")?;
            }
            let high = self.operand()?;
            return Ok(Test::Between { negated, low, high });
        }
        self.expect_keyword("in")?;
        if !self.at_symbol("(") {
            return Err(self.error("syntax error"));
        }
        self.open()?;
        let values = self.list(Parser::operand)?;
        self.expect_symbol(")")?;
        self.close();
        Ok(Test::In { negated, values })
    }

    fn operand(&mut self) -> Result<Operand, QueryError> {
        let operand = match self.peek().token.clone() {
            Token::Word(word) if word.eq_ignore_ascii_case("true") => Operand::Bool(true),
            Token::Word(word) if word.eq_ignore_ascii_case("false") => Operand::Bool(false),
            Token::Word(word) if word.eq_ignore_ascii_case("null") => Operand::Null,
            Token::Word(word) if !is_keyword(&word) => Operand::Name(word),
            Token::QuotedName(name) => Operand::Name(name),
            Token::String(text) => Operand::String(text),
            Token::Number(text) => Operand::Number(text),
            Token::Symbol(sign @ ("-" | "+")) => {
                let sign = if sign == "-" { "-" } else { "" };
                self.advance();
                let Token::Number(text) = &self.peek().token else {
                    return Err(self.error("syntax error"));
                };
                Operand::Number(format!("{sign}{text}"))
            }
            Token::Symbol("(") => {
                self.open()?;
                let items = self.list(Parser::operand)?;
                self.expect_symbol(")")?;
                self.close();
                return Ok(Operand::Tuple(items));
            }
            _ => return Err(self.error("syntax error")),
        };
        self.advance();
        Ok(operand)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Operand {
        Operand::Name(text.into())
    }

    fn string(text: &str) -> Operand {
        Operand::String(text.into())
    }

    fn compare(subject: &str, operator: Operator, value: Operand) -> Condition {
        Condition::Predicate {
            subject: name(subject),
            test: Test::Compare(operator, value),
        }
    }

    fn filter(query: &str) -> Condition {
        parse(query).unwrap().filter.unwrap()
    }

    fn error(query: &str) -> String {
        parse(query).unwrap_err().to_string()
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_tighter_than_and() {
        assert_eq!(
            filter("A = 'a' OR B = 'b' AND NOT C = 'c'"),
            Condition::Or(vec![
                compare("A", Operator::Equal, string("a")),
                Condition::And(vec![
                    compare("B", Operator::Equal, string("b")),
                    Condition::Not(Box::new(compare("C", Operator::Equal, string("c")))),
                ]),
            ])
        );
        assert_eq!(
            filter("(A = 'a' || B = 'b') && C = 'c'"),
            Condition::And(vec![
                Condition::Or(vec![
                    compare("A", Operator::Equal, string("a")),
                    compare("B", Operator::Equal, string("b")),
                ]),
                compare("C", Operator::Equal, string("c")),
            ])
        );
    }

    #[test]
    fn chains_stay_flat() {
        let query = vec!["A = 1"; 5000].join(" OR ");
        let Condition::Or(terms) = filter(&query) else {
            panic!("expected OR");
        };
        assert_eq!(terms.len(), 5000);
    }

    #[test]
    fn keywords_are_case_insensitive_and_names_are_not() {
        assert_eq!(
            filter("a iN (1) aNd b not BETWEEN -1 and +2 Or c Is nOt NuLl"),
            Condition::Or(vec![
                Condition::And(vec![
                    Condition::Predicate {
                        subject: name("a"),
                        test: Test::In {
                            negated: false,
                            values: vec![Operand::Number("1".into())],
                        },
                    },
                    Condition::Predicate {
                        subject: name("b"),
                        test: Test::Between {
                            negated: true,
                            low: Operand::Number("-1".into()),
                            high: Operand::Number("2".into()),
                        },
                    },
                ]),
                Condition::Predicate {
                    subject: name("c"),
                    test: Test::Is {
                        negated: true,
                        what: Operand::Null,
                    },
                },
            ])
        );
    }

    #[test]
    fn every_operator_reads() {
        for (text, operator) in [
            ("=", Operator::Equal),
            ("!=", Operator::NotEqual),
            ("<>", Operator::NotEqual),
            ("<", Operator::Less),
            ("<=", Operator::LessOrEqual),
            (">", Operator::Greater),
            (">=", Operator::GreaterOrEqual),
            ("<=>", Operator::NullSafeEqual),
            ("LIKE", Operator::Like),
            ("not like", Operator::NotLike),
            ("REGEXP", Operator::Regexp),
            ("NOT REGEXP", Operator::NotRegexp),
            ("starts_with", Operator::StartsWith),
            ("NOT STARTS_WITH", Operator::NotStartsWith),
        ] {
            assert_eq!(
                filter(&format!("A {text} 'x'")),
                compare("A", operator, string("x")),
                "{text}"
            );
        }
    }

    #[test]
    fn strings_take_mysql_escapes_and_doubled_quotes() {
        for (query, value) in [
            (r#"A = "say \"hi\"""#, r#"say "hi""#),
            (r#"A = 'it''s'"#, "it's"),
            (r#"A = "a""b""#, r#"a"b"#),
            (r#"A = 'it\'s'"#, "it's"),
            (r"A = 'a\nb\tc\\d\%\x'", "a\nb\tc\\d%x"),
            (r"A = '\0\Z\b\r'", "\0\x1a\x08\r"),
            ("A = 'snow ☃'", "snow ☃"),
            ("A = ''", ""),
        ] {
            assert_eq!(
                filter(query),
                compare("A", Operator::Equal, string(value)),
                "{query}"
            );
        }
    }

    #[test]
    fn back_quotes_make_any_text_a_name() {
        assert_eq!(
            filter("`Custom Field` = 1 AND `order` = 2 AND `a``b` = 3"),
            Condition::And(vec![
                compare("Custom Field", Operator::Equal, Operand::Number("1".into())),
                compare("order", Operator::Equal, Operand::Number("2".into())),
                compare("a`b", Operator::Equal, Operand::Number("3".into())),
            ])
        );
        assert_eq!(display_name("WorkflowType"), "WorkflowType");
        assert_eq!(display_name("Custom Field"), "`Custom Field`");
        assert_eq!(display_name("order"), "`order`");
        assert_eq!(display_name("a`b"), "`a``b`");
        assert_eq!(display_name("1a"), "`1a`");
    }

    #[test]
    fn numbers_read_as_mysql_reads_them() {
        for text in ["12", "1.5", ".5", "5.", "1e3", "1E-3", "1e", "0x1F"] {
            assert_eq!(
                filter(&format!("A = {text}")),
                compare("A", Operator::Equal, Operand::Number(text.into())),
            );
        }
        assert_eq!(
            filter("A = - 5"),
            compare("A", Operator::Equal, Operand::Number("-5".into()))
        );
    }

    #[test]
    fn comments_and_a_final_semicolon_are_skipped() {
        let expected = compare("A", Operator::Equal, Operand::Number("1".into()));
        for query in [
            "A = 1;",
            "A = 1 -- note",
            "A = 1 # note",
            "A /* note */ = 1",
            "A = --\n1",
        ] {
            assert_eq!(filter(query), expected, "{query}");
        }
    }

    #[test]
    fn clauses_follow_the_condition_or_stand_alone() {
        let statement = parse("A = 1 GROUP BY B ORDER BY C DESC, D ASC, E LIMIT 5, 6").unwrap();
        assert_eq!(statement.group_by, vec![name("B")]);
        assert_eq!(
            statement.order_by,
            vec![(name("C"), true), (name("D"), false), (name("E"), false)]
        );
        assert!(statement.has_limit);
        let statement = parse("order by C").unwrap();
        assert_eq!(statement.filter, None);
        assert_eq!(statement.order_by, vec![(name("C"), false)]);
        let statement = parse("GROUP BY ExecutionStatus").unwrap();
        assert_eq!(statement.group_by, vec![name("ExecutionStatus")]);
        assert!(!statement.has_limit);
    }

    #[test]
    fn syntax_errors_point_where_the_real_server_does() {
        // Messages observed on the real dev server (Temporal 1.32).
        for (query, message) in [
            ("WorkflowType =", "syntax error at position 42"),
            ("WorkflowType == 'Foo'", "syntax error at position 43"),
            (
                "Custom Field = 'x'",
                "syntax error at position 40 near 'Field'",
            ),
            ("WorkflowType = 'Foo' AND", "syntax error at position 52"),
            ("(WorkflowType = 'Foo'", "syntax error at position 49"),
            ("WorkflowType = 'Foo')", "syntax error at position 49"),
            ("WorkflowType IN ()", "syntax error at position 46"),
            (
                "WorkflowType = 'Foo",
                "syntax error at position 47 near 'Foo'",
            ),
            (
                "`Custom Field = 'x'",
                "syntax error at position 47 near 'Custom Field = 'x''",
            ),
            ("`` = 'x'", "syntax error at position 30"),
            ("WorkflowType IS", "syntax error at position 43"),
            ("WorkflowType in ('Foo',)", "syntax error at position 52"),
            (
                "WorkflowType = 'Foo' anda ExecutionStatus = 'Running'",
                "syntax error at position 53 near 'anda'",
            ),
            (
                "WorkflowType = 'Foo' ExecutionStatus = 'Running'",
                "syntax error at position 64 near 'ExecutionStatus'",
            ),
            ("= 'Foo'", "syntax error at position 29"),
            (
                "WorkflowType = 'Foo' OR OR",
                "syntax error at position 54 near 'or'",
            ),
            ("WorkflowType ! = 'Foo'", "syntax error at position 42"),
            (
                "WorkflowType $ 'Foo'",
                "syntax error at position 42 near '$'",
            ),
            (
                "WorkflowType = 123abc",
                "syntax error at position 46 near '123'",
            ),
            (
                "CustomKeywordField in 'alpha'",
                "syntax error at position 57 near 'alpha'",
            ),
            ("CustomIntField = -", "syntax error at position 46"),
            ("CustomIntField = --5", "syntax error at position 48"),
            ("WorkflowType NOT = 'Foo'", "syntax error at position 46"),
            ("CustomIntField = 5 AND NOT", "syntax error at position 54"),
            ("NOT", "syntax error at position 31"),
            ("()", "syntax error at position 30"),
            (
                "WorkflowType = 'Foo' ORDER BY",
                "syntax error at position 57",
            ),
            ("WorkflowType = 'Foo' ORDER", "syntax error at position 54"),
            ("GROUP BY", "syntax error at position 30"),
            (
                "CustomIntField IS NOT 5",
                "syntax error at position 51 near '5'",
            ),
            ("CustomIntField IN (5", "syntax error at position 48"),
            (
                "CustomIntField IN 5",
                "syntax error at position 47 near '5'",
            ),
            ("CustomIntField BETWEEN 1", "syntax error at position 52"),
            (
                "CustomIntField BETWEEN 1 OR 2",
                "syntax error at position 55 near 'or'",
            ),
            (
                "CustomIntField = 5 XOR CustomIntField = 10",
                "syntax error at position 50 near 'xor'",
            ),
            (
                "ExecutionStatus = 'Running' ORDER BY StartTime DESC LIMIT",
                "syntax error at position 85",
            ),
        ] {
            assert_eq!(
                error(query),
                format!("invalid query: malformed SQL query: {message}"),
                "{query}"
            );
        }
    }

    #[test]
    fn nesting_stops_where_the_real_servers_does() {
        let parens = |depth: usize| {
            format!(
                "{}WorkflowType = 'Foo'{}",
                "(".repeat(depth),
                ")".repeat(depth)
            )
        };
        assert!(parse(&parens(199)).is_ok());
        assert_eq!(
            error(&parens(200)),
            "invalid query: malformed SQL query: max nesting level reached at position 228"
        );
        let nots = |depth: usize| format!("{}WorkflowType = 'Foo'", "NOT ".repeat(depth));
        assert!(parse(&nots(199)).is_ok());
        assert_eq!(
            error(&nots(200)),
            "invalid query: malformed SQL query: max nesting level reached at position 827 near 'not'"
        );
    }
}
