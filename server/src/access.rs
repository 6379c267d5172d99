//! Who may use the server, for one shared beyond a laptop (a CI runner, a team's host): TLS
//! from a certificate and key in PEM files, and an API key that every request must carry as
//! the `Authorization: Bearer KEY` header that `Client.connect(api_key=...)` sends.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Context as _;
use tonic::transport::{Identity, ServerTlsConfig};

/// The health check answers without a key: container healthchecks (`devserver health`)
/// carry none, and it tells nothing but whether the server serves.
const UNGUARDED_PREFIX: &str = "/grpc.health.v1.Health/";

#[derive(Debug, Clone, Default)]
pub struct Access {
    /// PEM files of the server's certificate (chain) and private key.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub api_key: Option<String>,
}

impl Access {
    /// The TLS configuration, reading both files (an error names the one it could not read).
    pub fn tls_config(&self) -> anyhow::Result<Option<ServerTlsConfig>> {
        let Some((cert, key)) = &self.tls else {
            return Ok(None);
        };
        let read = |path: &PathBuf, what: &str| {
            std::fs::read(path)
                .with_context(|| format!("cannot read the TLS {what} {}", path.display()))
        };
        let identity = Identity::from_pem(read(cert, "certificate")?, read(key, "key")?);
        Ok(Some(ServerTlsConfig::new().identity(identity)))
    }

    pub fn api_key_layer(&self) -> Option<ApiKeyLayer> {
        self.api_key.as_ref().map(|key| ApiKeyLayer {
            expected: format!("Bearer {key}").into(),
        })
    }
}

/// Refuses requests without the right API key with UNAUTHENTICATED.
#[derive(Debug, Clone)]
pub struct ApiKeyLayer {
    expected: Arc<str>,
}

impl<S> tower::Layer<S> for ApiKeyLayer {
    type Service = ApiKeyCheck<S>;

    fn layer(&self, inner: S) -> ApiKeyCheck<S> {
        ApiKeyCheck {
            inner,
            expected: self.expected.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiKeyCheck<S> {
    inner: S,
    expected: Arc<str>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for ApiKeyCheck<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let presented = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|value| value.as_bytes());
        let allowed = request.uri().path().starts_with(UNGUARDED_PREFIX)
            || presented.is_some_and(|key| same_secret(key, self.expected.as_bytes()));
        if allowed {
            return Box::pin(self.inner.call(request));
        }
        let refusal = match presented {
            None => "the request carries no API key (this server was started with --api-key)",
            Some(_) => "the request's API key is not this server's",
        };
        let response = tonic::Status::unauthenticated(refusal).into_http();
        Box::pin(std::future::ready(Ok(response)))
    }
}

/// Compares in time independent of where the inputs differ, so that response times do not
/// reveal how much of a guessed key was right.
fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0u8, |differs, (a, b)| differs | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(same_secret(b"Bearer k1", b"Bearer k1"));
        assert!(!same_secret(b"Bearer k2", b"Bearer k1"));
        assert!(!same_secret(b"Bearer k1 ", b"Bearer k1"));
        assert!(!same_secret(b"", b"Bearer k1"));
    }

    #[test]
    fn unreadable_tls_files_are_named() {
        let access = Access {
            tls: Some((
                "/nonexistent/cert.pem".into(),
                "/nonexistent/key.pem".into(),
            )),
            api_key: None,
        };
        let error = access.tls_config().unwrap_err().to_string();
        assert_eq!(
            error,
            "cannot read the TLS certificate /nonexistent/cert.pem"
        );
    }
}
