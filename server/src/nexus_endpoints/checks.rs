//! The real server's checks of what an endpoint request names: endpoint names, target task
//! queues and URLs, and endpoint ids, with its messages.

use uuid::Uuid;

use super::go_url;
use crate::error::{ServiceError, ServiceResult};
use crate::go_format::go_quote;

/// The real server's limits (its dynamic config defaults).
const MAX_NAME_LENGTH: usize = 200;
const MAX_TASK_QUEUE_LENGTH: usize = 1000;
pub(super) const MAX_DESCRIPTION_SIZE: usize = 20_000;
const MAX_URL_LENGTH: usize = 4096;

/// Task queues under this prefix are the server's own.
const RESERVED_TASK_QUEUE_PREFIX: &str = "/_sys/";

/// The message of a name that breaks the rule, with the real server's regex in Go's `%q`.
pub(super) const NAME_RULE: &str =
    r#"endpoint name must match the regex: "^[a-zA-Z][a-zA-Z0-9\\-]*[a-zA-Z0-9]$""#;

/// The real server's issues are reported together, comma-separated.
pub(super) fn invalid_if_any(issues: Vec<String>) -> ServiceResult<()> {
    if issues.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::InvalidArgument(issues.join(", ")))
    }
}

pub(super) fn name_issues(name: &str) -> Vec<String> {
    if name.is_empty() {
        return vec!["endpoint name not set".into()];
    }
    let mut issues = Vec::new();
    if name.len() > MAX_NAME_LENGTH {
        issues.push(format!(
            "endpoint name exceeds length limit of {MAX_NAME_LENGTH}"
        ));
    }
    // `^[a-zA-Z][a-zA-Z0-9\-]*[a-zA-Z0-9]$`: two characters at least.
    let bytes = name.as_bytes();
    let valid = bytes.len() >= 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    if !valid {
        issues.push(NAME_RULE.into());
    }
    issues
}

/// What is wrong with a task queue name, as the real server says it.
pub(super) fn task_queue_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("taskQueue is not set".into())
    } else if name.len() > MAX_TASK_QUEUE_LENGTH {
        Some("taskQueue length exceeds limit".into())
    } else if name.starts_with(RESERVED_TASK_QUEUE_PREFIX) {
        Some(format!(
            "task queue name cannot start with reserved prefix {RESERVED_TASK_QUEUE_PREFIX}"
        ))
    } else {
        None
    }
}

pub(super) fn url_issue(url: &str) -> Option<String> {
    if url.is_empty() {
        return Some("empty target URL".into());
    }
    if url.len() > MAX_URL_LENGTH {
        return Some(format!(
            "target URL length exceeds limit of {MAX_URL_LENGTH}"
        ));
    }
    match go_url::scheme(url) {
        Err(error) => Some(format!("invalid target URL: {error}")),
        Ok(scheme) if scheme == "http" || scheme == "https" => None,
        Ok(scheme) => Some(format!(
            "invalid target URL scheme: {}, expected http or https",
            go_quote(&scheme)
        )),
    }
}

/// An endpoint id as Go's `uuid.Parse` reads it, or the issue the real server reports.
pub(super) fn parse_id(id: &str) -> Result<Uuid, String> {
    if id.is_empty() {
        return Err("endpoint ID not set".into());
    }
    go_parse_uuid(id).map_err(|error| format!("malformed endpoint ID: {}", go_quote(&error)))
}

/// Go's `uuid.Parse` (github.com/google/uuid), with its error messages: 36 characters with
/// dashes, 38 (the first and last ignored, meant to be braces), 45 (`urn:uuid:` first) or 32
/// hex digits.
fn go_parse_uuid(text: &str) -> Result<Uuid, String> {
    /// Where the 16 hex pairs of the dashed form start.
    const PAIRS: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let bytes = text.as_bytes();
    let format = || "invalid UUID format".to_owned();
    let hex_pair = |pair: &[u8]| -> Option<u8> {
        let digit = |b: u8| (b as char).to_digit(16);
        Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
    };
    let mut uuid = [0u8; 16];
    let dashed = match bytes.len() {
        36 => bytes,
        38 => &bytes[1..],
        45 if bytes[..9].eq_ignore_ascii_case(b"urn:uuid:") => &bytes[9..],
        45 => {
            let prefix = String::from_utf8_lossy(&bytes[..9]);
            return Err(format!("invalid urn prefix: {}", go_quote(&prefix)));
        }
        32 => {
            for (i, pair) in bytes.chunks(2).enumerate() {
                uuid[i] = hex_pair(pair).ok_or_else(format)?;
            }
            return Ok(Uuid::from_bytes(uuid));
        }
        length => return Err(format!("invalid UUID length: {length}")),
    };
    if [8, 13, 18, 23].iter().any(|&at| dashed[at] != b'-') {
        return Err(format());
    }
    for (i, at) in PAIRS.into_iter().enumerate() {
        uuid[i] = hex_pair(&dashed[at..at + 2]).ok_or_else(format)?;
    }
    Ok(Uuid::from_bytes(uuid))
}
