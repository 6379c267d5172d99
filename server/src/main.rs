//! The `devserver` binary: argument parsing and wiring only.
//!
//! `devserver start` and `devserver server start-dev` take the flags of the real
//! `temporal server start-dev`, so the Python SDK can launch this binary in its place.
//! `devserver PORT [--enable-time-skipping]` is the Java test server's command line, which
//! the SDK's `start_time_skipping` runs: time skipping with one global clock.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use devserver::access::Access;
use devserver::health_probe::Tls;
use devserver::{ServerConfig, TimeSkipping, search_attributes};
use devserver_persistence::Location;
use temporalio_protos::temporal::api::enums::v1::IndexedValueType;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "devserver",
    version,
    about = "A local Temporal-compatible development server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server.
    Start(StartArgs),
    /// The real Temporal CLI's spelling: `server start-dev`.
    Server {
        #[command(subcommand)]
        command: ServerCommand,
    },
    /// Exit 0 if the server at --address answers its gRPC health check with SERVING, 1 if
    /// not (for container healthchecks).
    Health(HealthArgs),
}

#[derive(Args)]
struct HealthArgs {
    /// The server's `host:port`.
    #[arg(long, default_value = "127.0.0.1:7233")]
    address: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    /// Speak TLS, trusting the certificate authority (or the self-signed certificate) in
    /// this PEM file: for a server started with --tls-cert.
    #[arg(long, value_name = "PATH")]
    tls_ca_path: Option<PathBuf>,
    /// The name the server's certificate must carry, if not the host of --address.
    #[arg(long, value_name = "NAME", requires = "tls_ca_path")]
    tls_server_name: Option<String>,
}

#[derive(Subcommand)]
enum ServerCommand {
    /// Start the server (same as `devserver start`).
    StartDev(StartArgs),
}

#[derive(Args)]
struct StartArgs {
    /// Port of the gRPC frontend.
    #[arg(short, long, default_value_t = 7233)]
    port: u16,
    /// Address to bind (`localhost` means 127.0.0.1).
    #[arg(long, default_value = "127.0.0.1")]
    ip: String,
    /// Namespace to create besides `default` (repeatable).
    #[arg(short, long = "namespace")]
    namespaces: Vec<String>,
    /// SQLite file to keep state in; in memory when absent.
    #[arg(short = 'f', long)]
    db_filename: Option<PathBuf>,
    #[arg(long, default_value = "pretty", value_parser = ["pretty", "json", "text"])]
    log_format: String,
    #[arg(long, default_value = "info", value_parser = ["debug", "info", "warn", "error", "fatal", "never"])]
    log_level: String,
    /// Accepted for compatibility: devserver has no web UI.
    #[arg(long)]
    headless: bool,
    /// Accepted for compatibility (no web UI).
    #[arg(long)]
    ui_port: Option<u16>,
    /// Accepted for compatibility (no web UI).
    #[arg(long)]
    ui_ip: Option<String>,
    /// Accepted for compatibility (no web UI).
    #[arg(long)]
    ui_asset_path: Option<String>,
    /// Accepted for compatibility (no web UI).
    #[arg(long)]
    ui_codec_endpoint: Option<String>,
    /// Accepted for compatibility (no web UI).
    #[arg(long)]
    ui_public_path: Option<String>,
    /// Accepted for compatibility (no HTTP API yet).
    #[arg(long)]
    http_port: Option<u16>,
    /// Port of the Prometheus metrics endpoint (`/metrics` on --ip); none when absent, a
    /// free one for 0.
    #[arg(long)]
    metrics_port: Option<u16>,
    /// Dynamic config `KEY=VALUE` (repeatable); accepted, unknown keys are ignored.
    #[arg(long = "dynamic-config-value", value_parser = key_value)]
    dynamic_config_values: Vec<(String, String)>,
    /// SQLite pragma `KEY=VALUE` (repeatable); accepted for compatibility.
    #[arg(long = "sqlite-pragma", value_parser = key_value)]
    sqlite_pragmas: Vec<(String, String)>,
    /// Custom search attribute `Name=Type` (repeatable).
    #[arg(long = "search-attribute", value_parser = search_attribute)]
    search_attributes: Vec<(String, IndexedValueType)>,
    /// Accepted for compatibility.
    #[arg(long)]
    log_config: bool,
    /// One virtual clock for every workflow that skips ahead whenever nothing is in flight,
    /// with the test server's TestService to lock, unlock and sleep.
    #[arg(long)]
    time_skipping: bool,
    /// Accepted for compatibility: per-workflow time skipping is always available.
    #[arg(long)]
    enable_time_skipping: bool,
    /// PEM file of the server's TLS certificate (chain); serves TLS only, with --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM file of the TLS certificate's private key.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Refuse requests (but the health check) without `Authorization: Bearer KEY`, the header
    /// `Client.connect(api_key=KEY)` sends.
    #[arg(long, env = "DEVSERVER_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

/// The Java test server's command line: `devserver PORT [--enable-time-skipping]`.
#[derive(Parser)]
#[command(
    name = "devserver",
    about = "devserver as the SDK's time-skipping test server"
)]
struct TestServerCli {
    /// Port of the gRPC frontend.
    port: u16,
    /// Start with time skipping unlocked (by default a client must unlock it first).
    #[arg(long)]
    enable_time_skipping: bool,
    /// Address to bind (`localhost` means 127.0.0.1).
    #[arg(long, default_value = "127.0.0.1")]
    ip: String,
    /// SQLite file to keep state in; in memory when absent.
    #[arg(short = 'f', long)]
    db_filename: Option<PathBuf>,
    #[arg(long, default_value = "warn", value_parser = ["debug", "info", "warn", "error", "fatal", "never"])]
    log_level: String,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))?;
    Ok((key.to_owned(), value.to_owned()))
}

/// `Name=Type`, the type matched case-insensitively like the real CLI.
fn search_attribute(text: &str) -> Result<(String, IndexedValueType), String> {
    let (name, kind) = key_value(text)?;
    let value_type = search_attributes::type_named(&kind).ok_or_else(|| {
        let known: Vec<&str> = search_attributes::type_names().collect();
        format!("search attribute type {kind:?} is not one of {known:?}")
    })?;
    Ok((name, value_type))
}

fn init_logging(format: &str, level: &str) {
    let level = match level {
        "fatal" => "error",
        "never" => "off",
        other => other,
    };
    // The level applies to devserver's own logs; libraries only speak up about problems.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,devserver={level},devserver_persistence={level}"
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        "json" => builder.json().init(),
        "text" => builder.with_ansi(false).init(),
        _ => builder.init(),
    }
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// The test server's command line is told apart by its first argument, a port number.
fn is_test_server_command_line() -> bool {
    std::env::args()
        .nth(1)
        .is_some_and(|first| first.parse::<u16>().is_ok())
}

fn main() -> anyhow::Result<()> {
    let (config, ip, port, metrics_port) = if is_test_server_command_line() {
        let args = TestServerCli::parse();
        init_logging("pretty", &args.log_level);
        let config = ServerConfig {
            database: args.db_filename.map_or(Location::Memory, Location::File),
            namespaces: Vec::new(),
            search_attributes: Vec::new(),
            time_skipping: TimeSkipping::Global {
                locked: !args.enable_time_skipping,
            },
            access: Access::default(),
        };
        (config, args.ip, args.port, None)
    } else {
        let args = match Cli::parse().command {
            Command::Start(args)
            | Command::Server {
                command: ServerCommand::StartDev(args),
            } => args,
            Command::Health(args) => return health(&args),
        };
        init_logging(&args.log_format, &args.log_level);
        let config = ServerConfig {
            database: args.db_filename.map_or(Location::Memory, Location::File),
            namespaces: args.namespaces,
            search_attributes: args.search_attributes,
            time_skipping: if args.time_skipping {
                TimeSkipping::Global { locked: false }
            } else {
                TimeSkipping::Off
            },
            access: Access {
                tls: args.tls_cert.zip(args.tls_key),
                api_key: args.api_key,
            },
        };
        (config, args.ip, args.port, args.metrics_port)
    };
    let ip = parse_ip(&ip)?;
    let metrics_address = metrics_port.map(|port| SocketAddr::new(ip, port));
    serve(config, SocketAddr::new(ip, port), metrics_address)
}

fn health(args: &HealthArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tls = args.tls_ca_path.clone().map(|ca| Tls {
        ca,
        server_name: args.tls_server_name.clone(),
    });
    runtime.block_on(devserver::health_probe::check(
        &args.address,
        tls.as_ref(),
        Duration::from_secs(args.timeout),
    ))?;
    println!("SERVING");
    Ok(())
}

fn parse_ip(ip: &str) -> anyhow::Result<IpAddr> {
    let ip = if ip == "localhost" { "127.0.0.1" } else { ip };
    ip.parse().with_context(|| format!("invalid --ip {ip}"))
}

/// The banner's last line, printed once the server accepts connections: where to point a
/// client, even when it listens on every interface.
fn ready_line(address: SocketAddr) -> String {
    if address.ip().is_unspecified() {
        let port = address.port();
        return format!(
            "Ready: listening on every interface; clients connect to HOST:{port} \
             (127.0.0.1:{port} on this machine)"
        );
    }
    format!("Ready: clients connect to {address}")
}

fn serve(
    config: ServerConfig,
    address: SocketAddr,
    metrics_address: Option<SocketAddr>,
) -> anyhow::Result<()> {
    // One thread serves every request (SQLite runs on its own thread): handing work between
    // worker threads cost more CPU than the engine itself, and SDK clients, not the server,
    // bound a local server's throughput.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let metrics_listener = match metrics_address {
            Some(address) => Some(
                tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("cannot listen on {address} (--metrics-port)"))?,
            ),
            None => None,
        };
        let server = devserver::start(config.clone()).await?;
        let persistence = match &config.database {
            Location::Memory => "in-memory".to_owned(),
            Location::File(path) => path.display().to_string(),
        };
        println!(
            "devserver {} (Temporal-compatible)",
            env!("CARGO_PKG_VERSION")
        );
        println!("Temporal Server: {address}");
        println!("Temporal Persistence: {persistence}");
        if let Some(metrics) = &metrics_listener {
            println!("Temporal Metrics: http://{}/metrics", metrics.local_addr()?);
        }
        if let TimeSkipping::Global { locked } = config.time_skipping {
            let state = if locked { "locked" } else { "unlocked" };
            println!("Time skipping: one global clock, {state}");
        }
        println!("{}", ready_line(address));
        if !address.ip().is_loopback() && config.access.api_key.is_none() {
            tracing::warn!(
                "listening on {address}, not only on loopback: whoever reaches port {} of this \
                 machine can use this server (--api-key makes clients prove they may)",
                address.port()
            );
        }
        tokio::select! {
            served = server.serve(listener, metrics_listener, std::future::pending()) => served,
            // Every acknowledged change is committed already: stopping at once loses nothing.
            _ = shutdown_signal() => Ok(()),
        }
    })?;
    // Do not wait for open long polls or the store's worker thread.
    std::process::exit(0)
}
