//! devserver: a local Temporal-compatible server.
//!
//! A request flows one way: `frontend` (gRPC handlers) → `history` (owner of each run's
//! state; applies the pure `engine`, commits to the store in one transaction) → `matching`
//! (hands new tasks to long polls) and `timers` (wakes runs at their next deadline, which
//! re-enters `history` like any request). `schedules` start workflows through `history` when
//! their timers fire. `namespaces` is the registry every request checks,
//! with each namespace's `search_attributes`; `nexus_endpoints` is the server-wide registry
//! of Nexus endpoints. `metrics` counts and times RPCs, store operations and task dispatch.

pub mod access;
pub mod engine;
pub mod error;
pub mod frontend;
pub mod go_format;
pub mod health_probe;
pub mod history;
pub mod matching;
pub mod metrics;
pub mod namespaces;
pub mod nexus_endpoints;
pub mod rfc3339;
pub mod schedules;
pub mod search_attributes;
pub mod timers;
pub mod visibility;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use devserver_persistence::{Location, Store};
use temporalio_protos::temporal::api::enums::v1::IndexedValueType;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::access::{Access, ApiKeyLayer};
use crate::history::History;
use crate::matching::Matching;
use crate::metrics::{Metrics, Scrape};
use crate::namespaces::Namespaces;
use crate::nexus_endpoints::NexusEndpointRegistry;
use crate::schedules::Scheduler;
use crate::timers::{Clock, SystemClock, TimeSkipper, Timer, Timers};

/// Largest request metadata taken, in bytes.
const MAX_HEADER_LIST_BYTES: u32 = 16 << 20;
/// Streams a client may reset before the server has accepted them. h2's default (20) guards
/// public servers against rapid-reset floods, but an SDK worker cancels its long polls in bursts
/// (a worker shutting down, hundreds of pollers on one connection), and past the limit the
/// whole connection is dropped, failing every call on it. grpc-go, which the real server uses,
/// has no such limit.
const MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 65_536;

/// How long a timer whose firing failed (the store refused the commit) waits to try again.
const TIMER_RETRY: i64 = 1_000;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub database: Location,
    /// Namespaces to create besides `default`, which always exists.
    pub namespaces: Vec<String>,
    /// Custom search attributes to register in each namespace created at start; of a name
    /// given twice, the last type counts (as with the real CLI).
    pub search_attributes: Vec<(String, IndexedValueType)>,
    pub time_skipping: TimeSkipping,
    pub access: Access,
}

/// Whether the server's clock skips ahead when nothing is in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TimeSkipping {
    /// Wall time throughout.
    #[default]
    Off,
    /// One virtual clock for every workflow, driven through TestService; `locked` is the
    /// test server's start, where time runs at wall speed until a client unlocks it.
    Global { locked: bool },
}

/// A server with its store open, its state recovered and its background work (timers,
/// transfers) running: ready to serve.
pub struct Server {
    routes: tonic::service::Routes,
    /// TLS and limits, set up before anything listens so that bad TLS files are reported first.
    transport: tonic::transport::Server,
    api_key: Option<ApiKeyLayer>,
    scrape: Arc<Scrape>,
}

/// Opens the store and recovers queued tasks, timers and schedules. The store is opened
/// before anything listens, so that a database that cannot be opened is reported (naming
/// the file) before any client is told the server is up.
pub async fn start(config: ServerConfig) -> anyhow::Result<Server> {
    // grpc-go's default, which the real server keeps: a request whose metadata is large (a
    // huge namespace) gets an answer, not a dropped connection.
    let mut transport = tonic::transport::Server::builder()
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .http2_max_pending_accept_reset_streams(Some(MAX_PENDING_ACCEPT_RESET_STREAMS));
    if let Some(tls) = config.access.tls_config()? {
        transport = transport
            .tls_config(tls)
            .context("the TLS certificate and key are not usable")?;
    }
    let metrics = Arc::new(Metrics::default());
    let store = Store::open(&config.database)
        .await
        .with_context(|| match &config.database {
            Location::Memory => "cannot open the in-memory database".to_owned(),
            Location::File(path) => format!("cannot open the database {}", path.display()),
        })?
        .observed_by(metrics.clone());
    let namespaces = Arc::new(Namespaces::load(store.clone()).await?);
    let search_attributes: BTreeMap<String, i32> = config
        .search_attributes
        .iter()
        .map(|(name, value_type)| (name.clone(), *value_type as i32))
        .collect();
    for namespace in std::iter::once("default").chain(config.namespaces.iter().map(String::as_str))
    {
        namespaces.ensure(namespace).await?;
        // Like the real dev server, only namespaces created at start get these; one
        // registered later starts with none.
        if !search_attributes.is_empty() {
            namespaces
                .search_attributes()
                .add(namespace, &search_attributes)
                .await
                .with_context(|| format!("--search-attribute in namespace {namespace}"))?;
        }
    }
    let nexus_endpoints =
        Arc::new(NexusEndpointRegistry::load(store.clone(), namespaces.clone()).await?);
    let matching = Matching::new(metrics.clone());
    let timers = Arc::new(Timers::default());
    let skipper = match config.time_skipping {
        TimeSkipping::Off => None,
        TimeSkipping::Global { locked } => Some(Arc::new(TimeSkipper::new(locked))),
    };
    let clock: Arc<dyn Clock> = match &skipper {
        Some(skipper) => skipper.clone(),
        None => Arc::new(SystemClock),
    };
    let (history, transfers) = History::new(
        store.clone(),
        matching.clone(),
        timers.clone(),
        clock.clone(),
        skipper.clone(),
        namespaces.clone(),
        nexus_endpoints.clone(),
    );
    let history = Arc::new(history);
    tokio::spawn(history.clone().run_transfers(transfers));
    history.recover().await?;
    let scheduler = Scheduler::new(
        store.clone(),
        history.clone(),
        timers.clone(),
        clock.clone(),
    );
    scheduler.recover().await?;
    tokio::spawn(timers.clone().run(clock.clone(), skipper.clone(), {
        let (history, scheduler, clock) = (history.clone(), scheduler.clone(), clock.clone());
        move |timer: Timer| {
            let (history, scheduler, timers, clock) = (
                history.clone(),
                scheduler.clone(),
                timers.clone(),
                clock.clone(),
            );
            async move {
                let fired = match &timer {
                    Timer::Run(row) => history.fire_timer(row.clone()).await,
                    Timer::Schedule {
                        namespace,
                        schedule_id,
                        ..
                    } => scheduler.wake(namespace, schedule_id).await,
                };
                if let Err(error) = fired {
                    tracing::warn!(?timer, %error, "timer failed; retrying");
                    timers.set(timer.at(clock.now() + TIMER_RETRY));
                }
            }
        }
    }));
    let scrape = Arc::new(Scrape {
        metrics,
        store,
        matching: matching.clone(),
        namespaces: namespaces.clone(),
    });
    Ok(Server {
        routes: frontend::routes(
            history,
            scheduler,
            matching,
            namespaces,
            nexus_endpoints,
            clock,
            skipper,
        ),
        transport,
        api_key: config.access.api_key_layer(),
        scrape,
    })
}

impl Server {
    /// Serves gRPC on `listener`, and metrics on `metrics` if given, until `shutdown`
    /// completes.
    pub async fn serve(
        self,
        listener: TcpListener,
        metrics: Option<TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        if let Some(metrics) = metrics {
            tokio::spawn(metrics::serve(metrics, self.scrape.clone()));
        }
        // Small request/response exchanges are the whole workload: without TCP_NODELAY each
        // one waits on delayed ACKs (about 40 ms).
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        self.transport
            // Outermost, so that an RPC's time includes the other layers' work.
            .layer(self.scrape.metrics.rpc_layer())
            .layer(frontend::request_size_layer())
            .layer(tower::util::option_layer(self.api_key))
            .add_routes(self.routes)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
        Ok(())
    }
}
