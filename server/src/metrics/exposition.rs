//! The Prometheus text format (version 0.0.4), written by hand: a handful of counters,
//! gauges and histograms need no library.

use std::fmt::{Display, Write};

use super::histogram::{BOUNDS_MICROS, Snapshot};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// A scrape's text, one family after the other.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a family (its HELP and TYPE lines); its samples follow. `help` is one line.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.text.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.text, " {value}");
    }

    /// A histogram's series: its buckets (bounds in seconds), sum (seconds) and count.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], snapshot: &Snapshot) {
        for (bound, at_most) in BOUNDS_MICROS.iter().zip(&snapshot.at_most) {
            let _ = write!(self.text, "{name}_bucket");
            let seconds = (*bound as f64 / 1e6).to_string();
            self.labels(labels, Some(&seconds));
            let _ = writeln!(self.text, " {at_most}");
        }
        let _ = write!(self.text, "{name}_bucket");
        self.labels(labels, Some("+Inf"));
        let _ = writeln!(self.text, " {}", snapshot.count);
        self.sample(&format!("{name}_sum"), labels, snapshot.sum_seconds);
        self.sample(&format!("{name}_count"), labels, snapshot.count);
    }

    pub fn into_text(self) -> String {
        self.text
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        let le = le.map(|le| ("le", le));
        let mut labels = labels.iter().copied().chain(le).peekable();
        if labels.peek().is_none() {
            return;
        }
        self.text.push('{');
        for (i, (name, value)) in labels.enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            let _ = write!(self.text, "{name}=\"");
            escape_label_value(&mut self.text, value);
            self.text.push('"');
        }
        self.text.push('}');
    }
}

/// Label values may hold anything (task queue names come from clients); the format
/// escapes backslash, double quote and line feed.
fn escape_label_value(text: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => text.push_str("\\\\"),
            '"' => text.push_str("\\\""),
            '\n' => text.push_str("\\n"),
            c => text.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::Histogram;
    use std::time::Duration;

    #[test]
    fn families_and_samples() {
        let mut exposition = Exposition::default();
        exposition.family("service_requests", Kind::Counter, "RPC requests received.");
        exposition.sample(
            "service_requests",
            &[
                ("operation", "StartWorkflowExecution"),
                ("service_name", "frontend"),
            ],
            3,
        );
        exposition.family("devserver_open_runs", Kind::Gauge, "Open runs.");
        exposition.sample("devserver_open_runs", &[], 0);
        assert_eq!(
            exposition.into_text(),
            "# HELP service_requests RPC requests received.\n\
             # TYPE service_requests counter\n\
             service_requests{operation=\"StartWorkflowExecution\",service_name=\"frontend\"} 3\n\
             # HELP devserver_open_runs Open runs.\n\
             # TYPE devserver_open_runs gauge\n\
             devserver_open_runs 0\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut exposition = Exposition::default();
        exposition.sample("pending_polls", &[("taskqueue", "a\"b\\c\nd")], 1);
        assert_eq!(
            exposition.into_text(),
            "pending_polls{taskqueue=\"a\\\"b\\\\c\\nd\"} 1\n"
        );
    }

    #[test]
    fn histograms_have_cumulative_buckets_in_seconds_then_sum_and_count() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(15));
        histogram.observe(Duration::from_millis(3));
        let mut exposition = Exposition::default();
        exposition.histogram(
            "service_latency",
            &[("operation", "PollWorkflowTaskQueue")],
            &histogram.snapshot(),
        );
        let text = exposition.into_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), BOUNDS_MICROS.len() + 3);
        assert_eq!(
            lines[0],
            "service_latency_bucket{operation=\"PollWorkflowTaskQueue\",le=\"0.00001\"} 0"
        );
        assert_eq!(
            lines[1],
            "service_latency_bucket{operation=\"PollWorkflowTaskQueue\",le=\"0.00002\"} 1"
        );
        assert!(lines.contains(
            &"service_latency_bucket{operation=\"PollWorkflowTaskQueue\",le=\"0.002\"} 1"
        ));
        assert!(lines.contains(
            &"service_latency_bucket{operation=\"PollWorkflowTaskQueue\",le=\"0.005\"} 2"
        ));
        assert_eq!(
            lines[BOUNDS_MICROS.len() - 1],
            "service_latency_bucket{operation=\"PollWorkflowTaskQueue\",le=\"1000\"} 2"
        );
        assert_eq!(
            &lines[BOUNDS_MICROS.len()..],
            &[
                "service_latency_bucket{operation=\"PollWorkflowTaskQueue\",le=\"+Inf\"} 2",
                "service_latency_sum{operation=\"PollWorkflowTaskQueue\"} 0.003015",
                "service_latency_count{operation=\"PollWorkflowTaskQueue\"} 2",
            ]
        );
    }
}
