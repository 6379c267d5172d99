//! When a long poll answers: at the server's own cap, or just before the client's deadline
//! (its `grpc-timeout` header), so the client always gets an answer rather than an error.

use std::time::Duration;

use tokio::time::Instant;
use tonic::Request;

/// Long polls answer this long before the client's own deadline, so it never expires.
const CLIENT_DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// When a long poll must answer: `cap` from now, or just before the client gives up.
pub fn long_poll_deadline<T>(request: &Request<T>, cap: Duration) -> Instant {
    client_deadline(request, cap, CLIENT_DEADLINE_MARGIN)
}

/// `cap` from now, or `margin` before the client's own deadline if that comes first.
pub fn client_deadline<T>(request: &Request<T>, cap: Duration, margin: Duration) -> Instant {
    let client_timeout = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_grpc_timeout);
    let wait = match client_timeout {
        Some(timeout) => cap.min(timeout.saturating_sub(margin)),
        None => cap,
    };
    Instant::now() + wait
}

/// Parses the `grpc-timeout` header: an integer and a unit letter.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (amount, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = amount.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        assert_eq!(
            parse_grpc_timeout("70000000u"),
            Some(Duration::from_secs(70))
        );
        assert_eq!(parse_grpc_timeout("30S"), Some(Duration::from_secs(30)));
        assert_eq!(parse_grpc_timeout("1M"), Some(Duration::from_secs(60)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }

    #[test]
    fn long_polls_answer_before_the_client_deadline() {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("grpc-timeout", "5S".parse().unwrap());
        let wait = long_poll_deadline(&request, Duration::from_secs(60)) - Instant::now();
        assert!(wait <= Duration::from_secs(4), "{wait:?}");
        let unbounded =
            long_poll_deadline(&Request::new(()), Duration::from_secs(20)) - Instant::now();
        assert!(unbounded > Duration::from_secs(19), "{unbounded:?}");
    }
}
