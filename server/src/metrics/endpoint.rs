//! The HTTP endpoint: `GET /metrics` answers with a scrape, any other path with 404.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use devserver_persistence::{Store, StoreError};
use http::{Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use temporalio_protos::temporal::api::enums::v1::WorkflowExecutionStatus;
use tokio::net::TcpListener;

use super::{Gauges, Metrics, exposition};
use crate::matching::Matching;
use crate::namespaces::Namespaces;

/// How long to wait before accepting again after accept failed (out of file descriptors,
/// say), rather than spinning.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// What a scrape reads: the recorded metrics, and the state that gauges are read from.
pub struct Scrape {
    pub metrics: Arc<Metrics>,
    pub store: Store,
    pub matching: Matching,
    pub namespaces: Arc<Namespaces>,
}

impl Scrape {
    async fn text(&self) -> Result<String, StoreError> {
        let running = WorkflowExecutionStatus::Running as i32;
        let open = self.store.count_runs_with_status(running).await?;
        let open_runs = self
            .namespaces
            .list()
            .into_iter()
            .map(|namespace| {
                let count = open
                    .iter()
                    .find(|(name, _)| *name == namespace.name)
                    .map_or(0, |(_, count)| *count);
                (namespace.name, count)
            })
            .collect();
        let gauges = Gauges {
            open_runs,
            queues: self.matching.depths(),
        };
        Ok(self.metrics.render(&gauges))
    }

    async fn answer(&self, path: &str) -> Response<Full<Bytes>> {
        let answer = |status: StatusCode, text: String| {
            Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, exposition::CONTENT_TYPE)
                .body(Full::from(text))
                .expect("a status and a valid header make a response")
        };
        if path != "/metrics" {
            return answer(StatusCode::NOT_FOUND, "metrics are at /metrics\n".into());
        }
        match self.text().await {
            Ok(text) => answer(StatusCode::OK, text),
            Err(error) => answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read the store: {error}\n"),
            ),
        }
    }
}

/// Serves scrapes on `listener` (HTTP/1.1) for as long as the server runs.
pub async fn serve(listener: TcpListener, scrape: Arc<Scrape>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "the metrics endpoint cannot accept a connection");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let scrape = scrape.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|request: http::Request<_>| {
                let scrape = scrape.clone();
                async move { Ok::<_, Infallible>(scrape.answer(request.uri().path()).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "metrics connection ended");
            }
        });
    }
}
