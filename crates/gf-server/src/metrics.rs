//! The Prometheus metrics `/metrics` serves: the queue, decisions and
//! dispatch latency, the store's commit latency, GPUs by state per cluster
//! and power drawn per site.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    events: Family<Labels, Counter>,
    submissions: Counter,
    rejected: Family<Labels, Counter>,
    queue_depth: Gauge,
    records_held: Gauge,
    dispatch_latency: Histogram,
    commit_latency: Histogram,
    gpus: Family<Labels, Gauge>,
    power: Family<Labels, Gauge<f64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The registry with every metric at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("gigafleet");
        let events = Family::<Labels, Counter>::default();
        registry.register(
            "events_handled",
            "Log entries handed to the controller, by kind (schedule_tick: scheduling passes)",
            events.clone(),
        );
        let submissions = Counter::default();
        registry.register(
            "submissions",
            "Job submissions acknowledged durable",
            submissions.clone(),
        );
        let rejected = Family::<Labels, Counter>::default();
        registry.register(
            "requests_rejected",
            "Requests answered with an error, by code",
            rejected.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Jobs waiting to be placed",
            queue_depth.clone(),
        );
        let records_held = Gauge::default();
        registry.register(
            "job_records_held",
            "Job records the controller holds in memory: the jobs not ended, and ended ones until their row is written",
            records_held.clone(),
        );
        let dispatch_latency = Histogram::new(exponential_buckets(1e-6, 2.0, 24));
        registry.register(
            "dispatch_latency_seconds",
            "Time the backend took to accept a dispatch",
            dispatch_latency.clone(),
        );
        let commit_latency = Histogram::new(exponential_buckets(1e-5, 2.0, 22));
        registry.register(
            "store_commit_latency_seconds",
            "Time from a submission's write request to its durable commit",
            commit_latency.clone(),
        );
        let gpus = Family::<Labels, Gauge>::default();
        registry.register(
            "gpus",
            "GPUs per cluster by state (online, allocated)",
            gpus.clone(),
        );
        let power = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "site_power_watts",
            "Power drawn by allocated GPUs per site",
            power.clone(),
        );
        Metrics {
            registry,
            events,
            submissions,
            rejected,
            queue_depth,
            records_held,
            dispatch_latency,
            commit_latency,
            gpus,
            power,
        }
    }

    /// A log entry of this kind was handled.
    pub fn event(&self, kind: &str) {
        self.events
            .get_or_create(&vec![("kind".to_string(), kind.to_string())])
            .inc();
    }

    /// A submission was acknowledged after `commit` in the store.
    pub fn submitted(&self, commit: Duration) {
        self.submissions.inc();
        self.commit_latency.observe(commit.as_secs_f64());
    }

    /// A request was answered with an error.
    pub fn rejected(&self, code: &str) {
        self.rejected
            .get_or_create(&vec![("code".to_string(), code.to_string())])
            .inc();
    }

    /// A dispatch took this long.
    pub fn dispatch_latency(&self, d: Duration) {
        self.dispatch_latency.observe(d.as_secs_f64());
    }

    /// The fleet now: queue depth, per cluster (online, free) GPUs, per site watts.
    pub fn fleet(&self, pending: i64, gpus: &[(String, u64, u64)], power: &[(String, f64)]) {
        self.queue_depth.set(pending);
        for (c, online, free) in gpus {
            let l = |s: &str| {
                vec![
                    ("cluster".to_string(), c.clone()),
                    ("state".to_string(), s.to_string()),
                ]
            };
            self.gpus.get_or_create(&l("online")).set(*online as i64);
            self.gpus
                .get_or_create(&l("allocated"))
                .set(online.saturating_sub(*free) as i64);
        }
        for (s, w) in power {
            self.power
                .get_or_create(&vec![("site".to_string(), s.clone())])
                .set(*w);
        }
    }

    /// The controller holds `n` job records.
    pub fn records_held(&self, n: usize) {
        self.records_held.set(n as i64);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
