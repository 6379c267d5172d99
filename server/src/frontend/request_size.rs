//! The real server's limit on the size of a request and its answer to one over it. The
//! limit is grpc-go's default, which the real server keeps (counted after decompression);
//! tonic enforces it too but in words of its own, and with OUT_OF_RANGE (a code the SDK
//! retries) for a message that is too large before decompression. A layer over every
//! service rewrites those answers into the real server's.

use http::{HeaderValue, Response};
use tonic::body::Body;
use tonic::{Code, Status};
use tower::util::MapResponseLayer;

/// grpc-go's default limit on a received message, which the real server keeps.
pub const MAX_REQUEST_SIZE: usize = 4 * 1024 * 1024;

/// How tonic words a request over the limit: as sent, then after decompression.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large: found ";
const TONIC_TOO_LARGE_DECOMPRESSED: &str = "Error decompressing: size limit, of ";

pub fn layer() -> MapResponseLayer<fn(Response<Body>) -> Response<Body>> {
    MapResponseLayer::new(as_real_server)
}

fn as_real_server(mut response: Response<Body>) -> Response<Body> {
    // Only tonic's two refusals need a second look; everything else passes untouched.
    let code = response
        .headers()
        .get("grpc-status")
        .map(HeaderValue::as_bytes);
    if !matches!(code, Some(b"8" | b"11")) {
        return response;
    }
    let real = Status::from_header_map(response.headers())
        .and_then(|status| real_server_status(status.code(), status.message()));
    if let Some(real) = real {
        // The message is plain ASCII, which always makes a valid header.
        let _ = real.add_header(response.headers_mut());
    }
    response
}

/// grpc-go's answer where tonic answered `code` with `message`, if that was a refusal of a
/// request over the limit.
fn real_server_status(code: Code, message: &str) -> Option<Status> {
    match code {
        Code::OutOfRange => {
            let found = message.strip_prefix(TONIC_TOO_LARGE)?.split(' ').next()?;
            Some(Status::resource_exhausted(format!(
                "grpc: received message larger than max ({found} vs. {MAX_REQUEST_SIZE})"
            )))
        }
        Code::ResourceExhausted if message.starts_with(TONIC_TOO_LARGE_DECOMPRESSED) => {
            Some(Status::resource_exhausted(format!(
                "grpc: received message after decompression larger than max {MAX_REQUEST_SIZE}"
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonic_refusals_of_large_requests_read_like_grpc_go() {
        let sent = real_server_status(
            Code::OutOfRange,
            "Error, decoded message length too large: found 5242897 bytes, the limit is: 4194304 bytes",
        )
        .unwrap();
        assert_eq!(sent.code(), Code::ResourceExhausted);
        assert_eq!(
            sent.message(),
            "grpc: received message larger than max (5242897 vs. 4194304)"
        );
        let decompressed = real_server_status(
            Code::ResourceExhausted,
            "Error decompressing: size limit, of 4194304 bytes, exceeded while decompressing message",
        )
        .unwrap();
        assert_eq!(
            decompressed.message(),
            "grpc: received message after decompression larger than max 4194304"
        );
    }

    #[test]
    fn other_statuses_pass_unchanged() {
        assert!(real_server_status(Code::OutOfRange, "Invalid page").is_none());
        assert!(real_server_status(Code::ResourceExhausted, "rate limited").is_none());
        assert!(real_server_status(Code::InvalidArgument, TONIC_TOO_LARGE).is_none());
        let untouched = as_real_server(Status::not_found("nope").into_http());
        assert_eq!(
            Status::from_header_map(untouched.headers())
                .unwrap()
                .message(),
            "nope"
        );
    }

    #[test]
    fn the_rewrite_lands_in_the_response_headers() {
        let tonic = Status::out_of_range(
            "Error, decoded message length too large: found 9 bytes, the limit is: 4 bytes",
        );
        let response = as_real_server(tonic.into_http());
        let status = Status::from_header_map(response.headers()).unwrap();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "grpc: received message larger than max (9 vs. 4194304)"
        );
    }
}
