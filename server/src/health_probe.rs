//! `devserver health`: asks a server's `grpc.health.v1.Health/Check` whether it serves. A
//! container healthcheck runs it inside an image that holds nothing but the binary, so it
//! speaks gRPC over plain HTTP/2 itself instead of pulling in a whole gRPC client.

use std::time::Duration;

use anyhow::{Context, bail};
use prost::Message;
use temporalio_protos::grpc::health::v1::health_check_response::ServingStatus;
use temporalio_protos::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};

const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// Whether the server at `address` (`host:port`) answers SERVING within `timeout`.
pub async fn check(address: &str, timeout: Duration) -> anyhow::Result<()> {
    tokio::time::timeout(timeout, ask(address))
        .await
        .with_context(|| format!("no answer from {address} within {timeout:?}"))?
}

async fn ask(address: &str) -> anyhow::Result<()> {
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    let (client, connection) = h2::client::handshake(tcp)
        .await
        .with_context(|| format!("{address} does not speak HTTP/2"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await?;
    let request = http::Request::post(format!("http://{address}{CHECK_PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())?;
    let (response, mut body) = client.send_request(request, false)?;
    body.send_data(grpc_frame(&HealthCheckRequest::default()).into(), true)?;
    let (head, mut body) = response.await?.into_parts();
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    // An error comes as headers only; an answer has its status in the trailers.
    let trailers = body.trailers().await?.unwrap_or_default();
    let grpc_status = |name: &str| {
        trailers
            .get(name)
            .or_else(|| head.headers.get(name))
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    if grpc_status("grpc-status") != "0" {
        bail!(
            "{address} answered grpc-status {}: {}",
            grpc_status("grpc-status"),
            grpc_status("grpc-message")
        );
    }
    let answer = HealthCheckResponse::decode(data.get(5..).unwrap_or_default())
        .context("malformed health check answer")?;
    match ServingStatus::try_from(answer.status) {
        Ok(ServingStatus::Serving) => Ok(()),
        status => bail!("{address} is not serving: {status:?}"),
    }
}

/// A gRPC message on the wire: uncompressed flag, length, bytes.
fn grpc_frame(message: &impl Message) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + bytes.len());
    frame.push(0);
    frame.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    frame.extend_from_slice(&bytes);
    frame
}
