//! Requests and latency of each RPC, measured by a layer around every service: from the
//! request's arrival (its headers) to its response body's end being handed to the
//! connection, so response encoding counts too.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};

use super::Metrics;
use super::histogram::Histogram;

/// The counters of every RPC the services define, registered up front so that recording
/// never allocates or locks.
#[derive(Debug)]
pub(super) struct Rpcs {
    by_path: HashMap<&'static str, usize>,
    pub(super) stats: Box<[RpcStats]>,
}

#[derive(Debug)]
pub(super) struct RpcStats {
    /// The method's name, the real server's `operation` label.
    pub(super) operation: &'static str,
    pub(super) requests: AtomicU64,
    pub(super) latency: Histogram,
}

impl Rpcs {
    pub(super) fn new() -> Rpcs {
        let paths = devserver_proto::RPC_PATHS;
        Rpcs {
            by_path: paths
                .iter()
                .enumerate()
                .map(|(i, &path)| (path, i))
                .collect(),
            stats: paths
                .iter()
                .map(|path| RpcStats {
                    operation: path.rsplit('/').next().expect("rsplit yields one item"),
                    requests: AtomicU64::new(0),
                    latency: Histogram::default(),
                })
                .collect(),
        }
    }
}

/// Wraps each service in [`TimedRpcs`].
#[derive(Debug, Clone)]
pub struct RpcLayer {
    pub(super) metrics: Arc<Metrics>,
}

impl<S> tower::Layer<S> for RpcLayer {
    type Service = TimedRpcs<S>;

    fn layer(&self, inner: S) -> TimedRpcs<S> {
        TimedRpcs {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TimedRpcs<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for TimedRpcs<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
{
    type Response = http::Response<TimedBody<ResBody>>;
    type Error = S::Error;
    type Future = TimedResponse<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // A path no service defines is answered UNIMPLEMENTED and not counted.
        let timing = self
            .metrics
            .rpcs
            .by_path
            .get(request.uri().path())
            .map(|&rpc| {
                self.metrics.rpcs.stats[rpc]
                    .requests
                    .fetch_add(1, Ordering::Relaxed);
                RpcTiming {
                    metrics: self.metrics.clone(),
                    rpc,
                    started: Instant::now(),
                }
            });
        TimedResponse {
            inner: self.inner.call(request),
            timing,
        }
    }
}

/// Records an RPC's latency when dropped: with its response body once that is sent, or
/// earlier if the request ends without one (the client went away).
#[derive(Debug)]
struct RpcTiming {
    metrics: Arc<Metrics>,
    rpc: usize,
    started: Instant,
}

impl Drop for RpcTiming {
    fn drop(&mut self) {
        self.metrics.rpcs.stats[self.rpc]
            .latency
            .observe(self.started.elapsed());
    }
}

pin_project_lite::pin_project! {
    /// The response on its way: its timing moves into the body.
    pub struct TimedResponse<F> {
        #[pin]
        inner: F,
        timing: Option<RpcTiming>,
    }
}

impl<F, ResBody, E> Future for TimedResponse<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
{
    type Output = Result<http::Response<TimedBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let timing = this.timing.take();
        Poll::Ready(Ok(response.map(|inner| TimedBody { inner, timing })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that records its RPC's latency when the connection is done with it.
    pub struct TimedBody<B> {
        #[pin]
        inner: B,
        timing: Option<RpcTiming>,
    }
}

impl<B: Body> Body for TimedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use tower::{Layer, Service, ServiceExt};

    #[test]
    fn every_rpc_has_its_own_operation_name() {
        let rpcs = Rpcs::new();
        let operations: HashSet<&str> = rpcs.stats.iter().map(|rpc| rpc.operation).collect();
        assert_eq!(operations.len(), rpcs.stats.len());
        assert!(operations.contains("StartWorkflowExecution"));
        assert!(operations.contains("PollWorkflowTaskQueue"));
    }

    fn operation<'a>(metrics: &'a Metrics, name: &str) -> &'a RpcStats {
        metrics
            .rpcs
            .stats
            .iter()
            .find(|rpc| rpc.operation == name)
            .unwrap()
    }

    #[tokio::test]
    async fn a_request_counts_at_once_and_its_latency_once_the_body_is_done() {
        let metrics = Arc::new(Metrics::default());
        let inner = tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("answer")))
        });
        let mut service = RpcLayer {
            metrics: metrics.clone(),
        }
        .layer(inner);
        let request = http::Request::builder()
            .uri("/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution")
            .body(())
            .unwrap();
        let response = service.ready().await.unwrap().call(request);
        let start = operation(&metrics, "StartWorkflowExecution");
        assert_eq!(start.requests.load(Ordering::Relaxed), 1);
        let response = response.await.unwrap();
        assert_eq!(
            start.latency.snapshot().count,
            0,
            "the body is not sent yet"
        );
        drop(response);
        assert_eq!(start.latency.snapshot().count, 1);

        // A path that no service defines is not counted anywhere.
        let unknown = http::Request::builder()
            .uri("/no.Such/Method")
            .body(())
            .unwrap();
        service.ready().await.unwrap().call(unknown).await.unwrap();
        let counted: u64 = metrics
            .rpcs
            .stats
            .iter()
            .map(|rpc| rpc.requests.load(Ordering::Relaxed))
            .sum();
        assert_eq!(counted, 1);
    }
}
