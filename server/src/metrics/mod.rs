//! Prometheus metrics, served on `--metrics-port` (`endpoint`).
//!
//! Named like the real server's where it has the same measure (its names, label names and
//! units: seconds), with devserver's own under `devserver_`. Recording is a few relaxed
//! atomic adds into counters registered up front; gauges (open runs, queue depths, waiting
//! polls) are read from the server's state when scraped, so they cost nothing in between.

mod endpoint;
mod exposition;
mod histogram;
mod rpc;

pub use endpoint::{Scrape, serve};
pub use rpc::RpcLayer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use devserver_persistence::{Observer, Operation};
use temporalio_protos::temporal::api::enums::v1::TaskQueueType;

use crate::matching::QueueDepth;
use exposition::{Exposition, Kind};
use histogram::Histogram;

/// The kinds of task queue that are polled.
const TASK_TYPES: [TaskQueueType; 3] = [
    TaskQueueType::Workflow,
    TaskQueueType::Activity,
    TaskQueueType::Nexus,
];

/// A kind of task queue as the real server's `task_type` label names it.
fn task_type(kind: TaskQueueType) -> &'static str {
    match kind {
        TaskQueueType::Workflow => "Workflow",
        TaskQueueType::Activity => "Activity",
        TaskQueueType::Nexus => "Nexus",
        TaskQueueType::Unspecified => "Unspecified",
    }
}

/// Everything recorded as it happens.
#[derive(Debug)]
pub struct Metrics {
    rpcs: rpc::Rpcs,
    /// By `Operation as usize`.
    persistence: Box<[Histogram]>,
    /// By `TaskQueueType as usize`.
    dispatch: [Histogram; 4],
    polls_answered: [AtomicU64; 4],
    polls_timed_out: [AtomicU64; 4],
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            rpcs: rpc::Rpcs::new(),
            persistence: Operation::ALL
                .iter()
                .map(|_| Histogram::default())
                .collect(),
            dispatch: Default::default(),
            polls_answered: Default::default(),
            polls_timed_out: Default::default(),
        }
    }
}

/// What a scrape reads from the server's state.
#[derive(Debug, Default)]
pub struct Gauges {
    /// Open runs per namespace, every namespace listed.
    pub open_runs: Vec<(String, i64)>,
    pub queues: Vec<QueueDepth>,
}

impl Metrics {
    /// The layer that counts and times every RPC.
    pub fn rpc_layer(self: &Arc<Metrics>) -> RpcLayer {
        RpcLayer {
            metrics: self.clone(),
        }
    }

    /// A task was started for the poll that received it, `latency` after the commit that
    /// made it (or, for a query or a Nexus request, after it was queued).
    pub fn task_dispatched(&self, kind: TaskQueueType, latency: Duration) {
        self.dispatch[kind as usize].observe(latency);
    }

    /// A task poll got a task, or none before its deadline.
    pub fn poll_ended(&self, kind: TaskQueueType, answered: bool) {
        let counter = if answered {
            &self.polls_answered
        } else {
            &self.polls_timed_out
        };
        counter[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The text of a scrape.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = Exposition::default();
        self.render_rpcs(&mut out);
        self.render_persistence(&mut out);
        self.render_matching(&mut out);
        render_gauges(&mut out, gauges);
        out.into_text()
    }

    fn render_rpcs(&self, out: &mut Exposition) {
        let requested = || {
            self.rpcs.stats.iter().filter_map(|rpc| {
                let requests = rpc.requests.load(Ordering::Relaxed);
                let labels = [("operation", rpc.operation), ("service_name", "frontend")];
                (requests > 0).then_some((rpc, requests, labels))
            })
        };
        out.family(
            "service_requests",
            Kind::Counter,
            "RPC requests received, by method.",
        );
        for (_, requests, labels) in requested() {
            out.sample("service_requests", &labels, requests);
        }
        out.family(
            "service_latency",
            Kind::Histogram,
            "Seconds from a request's arrival to its response's end handed to the connection.",
        );
        for (rpc, _, labels) in requested() {
            out.histogram("service_latency", &labels, &rpc.latency.snapshot());
        }
    }

    fn render_persistence(&self, out: &mut Exposition) {
        let used = || {
            Operation::ALL
                .iter()
                .zip(&self.persistence)
                .map(|(operation, latency)| (operation.name(), latency.snapshot()))
                .filter(|(_, snapshot)| snapshot.count > 0)
        };
        out.family(
            "persistence_requests",
            Kind::Counter,
            "Store operations done, by operation (Commit: one per change of a run).",
        );
        for (operation, snapshot) in used() {
            out.sample(
                "persistence_requests",
                &[("operation", operation)],
                snapshot.count,
            );
        }
        out.family(
            "persistence_latency",
            Kind::Histogram,
            "Seconds a store operation took, by operation.",
        );
        for (operation, snapshot) in used() {
            out.histogram(
                "persistence_latency",
                &[("operation", operation)],
                &snapshot,
            );
        }
    }

    fn render_matching(&self, out: &mut Exposition) {
        out.family(
            "task_dispatch_latency",
            Kind::Histogram,
            "Seconds from the commit that made a task to its start for the poll that got it.",
        );
        for kind in TASK_TYPES {
            let snapshot = self.dispatch[kind as usize].snapshot();
            if snapshot.count > 0 {
                let labels = [("task_type", task_type(kind))];
                out.histogram("task_dispatch_latency", &labels, &snapshot);
            }
        }
        for (name, help, counters) in [
            (
                "poll_success",
                "Task polls answered with a task.",
                &self.polls_answered,
            ),
            (
                "poll_timeouts",
                "Task polls that got no task before their deadline.",
                &self.polls_timed_out,
            ),
        ] {
            out.family(name, Kind::Counter, help);
            for kind in TASK_TYPES {
                let count = counters[kind as usize].load(Ordering::Relaxed);
                out.sample(name, &[("task_type", task_type(kind))], count);
            }
        }
    }
}

fn render_gauges(out: &mut Exposition, gauges: &Gauges) {
    out.family(
        "devserver_open_runs",
        Kind::Gauge,
        "Workflow runs open now, by namespace.",
    );
    for (namespace, open) in &gauges.open_runs {
        out.sample("devserver_open_runs", &[("namespace", namespace)], open);
    }
    for (name, help, value) in [
        (
            "approximate_backlog_count",
            "Tasks waiting in a task queue for a poll.",
            (|queue| queue.backlog) as fn(&QueueDepth) -> usize,
        ),
        (
            "pending_polls",
            "Task polls waiting on a task queue for a task.",
            |queue| queue.polls,
        ),
    ] {
        out.family(name, Kind::Gauge, help);
        for queue in &gauges.queues {
            let labels = [
                ("namespace", queue.key.namespace.as_str()),
                ("taskqueue", queue.key.task_queue.as_str()),
                ("task_type", task_type(queue.key.kind)),
            ];
            out.sample(name, &labels, value(queue));
        }
    }
}

impl Observer for Metrics {
    fn observe(&self, operation: Operation, elapsed: Duration) {
        self.persistence[operation as usize].observe(elapsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::QueueKey;
    use std::collections::HashMap;

    fn recorded() -> Metrics {
        let metrics = Metrics::default();
        metrics.observe(Operation::Commit, Duration::from_micros(40));
        metrics.task_dispatched(TaskQueueType::Activity, Duration::from_micros(70));
        metrics.poll_ended(TaskQueueType::Workflow, true);
        metrics.poll_ended(TaskQueueType::Workflow, false);
        metrics
    }

    fn gauges() -> Gauges {
        Gauges {
            open_runs: vec![("default".into(), 2), ("other".into(), 0)],
            queues: vec![QueueDepth {
                key: QueueKey {
                    namespace: "default".into(),
                    task_queue: "q".into(),
                    kind: TaskQueueType::Workflow,
                },
                backlog: 3,
                polls: 0,
            }],
        }
    }

    #[test]
    fn a_scrape_shows_what_was_recorded_and_the_gauges() {
        let text = recorded().render(&gauges());
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            r#"persistence_requests{operation="Commit"} 1"#,
            r#"persistence_latency_bucket{operation="Commit",le="0.00003"} 0"#,
            r#"persistence_latency_bucket{operation="Commit",le="0.00004"} 1"#,
            r#"persistence_latency_count{operation="Commit"} 1"#,
            r#"task_dispatch_latency_count{task_type="Activity"} 1"#,
            r#"poll_success{task_type="Workflow"} 1"#,
            r#"poll_timeouts{task_type="Workflow"} 1"#,
            r#"poll_success{task_type="Activity"} 0"#,
            r#"devserver_open_runs{namespace="default"} 2"#,
            r#"devserver_open_runs{namespace="other"} 0"#,
            r#"approximate_backlog_count{namespace="default",taskqueue="q",task_type="Workflow"} 3"#,
            r#"pending_polls{namespace="default",taskqueue="q",task_type="Workflow"} 0"#,
        ] {
            assert!(lines.contains(&expected), "{expected} missing from\n{text}");
        }
        // What was never recorded is not shown.
        assert!(!text.contains("service_requests{"));
        assert!(!text.contains(r#"task_dispatch_latency_count{task_type="Workflow"}"#));
        assert!(!text.contains(r#"operation="GetWorkflowExecution""#));
    }

    #[test]
    fn every_sample_belongs_to_a_family_declared_once_before_it() {
        let text = recorded().render(&gauges());
        let mut families: HashMap<&str, &str> = HashMap::new();
        for line in text.lines() {
            if let Some(declaration) = line.strip_prefix("# TYPE ") {
                let (name, kind) = declaration.split_once(' ').unwrap();
                assert!(
                    families.insert(name, kind).is_none(),
                    "{name} declared twice"
                );
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    let base = name.strip_suffix(suffix)?;
                    (families.get(base) == Some(&"histogram")).then_some(base)
                })
                .unwrap_or(name);
            assert!(families.contains_key(family), "{line} has no family");
        }
    }
}
