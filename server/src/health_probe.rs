//! `devserver health`: asks a server's `grpc.health.v1.Health/Check` whether it serves. A
//! container healthcheck runs it inside an image that holds nothing but the binary, so it
//! speaks gRPC over HTTP/2 (in TLS when the server serves it) itself instead of pulling in
//! a whole gRPC client.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use prost::Message;
use temporalio_protos::grpc::health::v1::health_check_response::ServingStatus;
use temporalio_protos::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// How to reach a server that serves TLS (`--tls-cert`).
pub struct Tls {
    /// The PEM file of the certificate authority that signed the server's certificate
    /// (or of that certificate itself).
    pub ca: PathBuf,
    /// The name the certificate must carry; by default the address's host.
    pub server_name: Option<String>,
}

/// Whether the server at `address` (`host:port`) answers SERVING within `timeout`.
pub async fn check(address: &str, tls: Option<&Tls>, timeout: Duration) -> anyhow::Result<()> {
    tokio::time::timeout(timeout, connect_and_ask(address, tls))
        .await
        .with_context(|| format!("no answer from {address} within {timeout:?}"))?
}

async fn connect_and_ask(address: &str, tls: Option<&Tls>) -> anyhow::Result<()> {
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    match tls {
        None => ask(address, tcp).await,
        Some(tls) => {
            let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
            let name = tls.server_name.as_deref().unwrap_or(host);
            let server_name = ServerName::try_from(name.trim_matches(['[', ']']).to_owned())
                .with_context(|| format!("invalid TLS server name {name}"))?;
            let stream = tls_connector(&tls.ca)?
                .connect(server_name, tcp)
                .await
                .with_context(|| format!("TLS handshake with {address} failed"))?;
            ask(address, stream).await
        }
    }
}

/// A TLS client that trusts the certificates in `ca` alone and speaks HTTP/2.
fn tls_connector(ca: &Path) -> anyhow::Result<TlsConnector> {
    let mut roots = RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(ca)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the certificates in {}", ca.display()))?;
    for certificate in certificates {
        roots
            .add(certificate)
            .with_context(|| format!("unusable certificate in {}", ca.display()))?;
    }
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn ask(
    address: &str,
    io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
) -> anyhow::Result<()> {
    let (client, connection) = h2::client::handshake(io)
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
