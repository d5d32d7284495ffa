//! The placement benchmark: a stream of placements and releases with a
//! realistic gang mix (8 to 16,384 GPUs) on synthetic multi-cloud fleets of
//! 10k, 100k, 1M and 20M GPUs, kept around 80% allocated so that decisions
//! meet fragmentation and "no fit" as they do in production.
//!
//! Criterion measures the throughput of the stream; a second pass times each
//! decision to report p50 and p99, printed as the table docs/performance.md
//! records. `GF_BENCH_SIZES=1000000` limits the sizes run.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use gf_sched::{AllocId, Policy, Request, Scheduler, Topology, WorkKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Gang sizes and their weight per 10,000 decisions. The mean gang is 97
/// GPUs, 3.6x the mean of Shanghai AI Lab's LLM cluster Kalos (26.8 GPUs,
/// AcmeTrace, NSDI'24, its `data/cluster_summary.csv`), scaled up for a
/// frontier lab's fleet; gangs of 1,152 GPUs or more are 2% of decisions.
const GANGS: [(u32, u32); 13] = [
    (8, 6000),
    (16, 1200),
    (32, 800),
    (64, 600),
    (72, 500),
    (144, 300),
    (288, 250),
    (576, 150),
    (1152, 100),
    (2304, 50),
    (4608, 30),
    (8192, 12),
    (16384, 8),
];

struct Stream {
    sched: Scheduler,
    topo: Arc<Topology>,
    rng: ChaCha8Rng,
    live: Vec<AllocId>,
    next_id: u64,
    accel_sets: [Vec<u16>; 3],
    target: f64,
}

impl Stream {
    fn new(total_gpus: u64, seed: u64) -> Self {
        let doc = gf_testkit::synthetic_fleet(total_gpus);
        let topo = Arc::new(Topology::from_document(&doc));
        let sched = Scheduler::new(Arc::clone(&topo), Policy::default(), seed);
        let a = |n: &str| topo.accel(n).unwrap();
        let accel_sets = [
            vec![a("gb300"), a("gb200")],
            vec![a("gb200"), a("gb300"), a("h200"), a("h100")],
            vec![a("h200"), a("h100")],
        ];
        let mut s = Stream {
            sched,
            rng: ChaCha8Rng::seed_from_u64(seed),
            live: Vec::new(),
            next_id: 0,
            accel_sets,
            target: 0.8,
            topo,
        };
        // Fill to the target before measuring.
        let mut guard = 0;
        while s.utilization() < s.target && guard < 10_000_000 {
            s.place();
            guard += 1;
        }
        s
    }

    fn utilization(&self) -> f64 {
        let ix = self.sched.index();
        1.0 - ix.total_free() as f64 / ix.total_online().max(1) as f64
    }

    fn request(&mut self) -> Request {
        let total: u32 = GANGS.iter().map(|g| g.1).sum();
        let mut x = self.rng.random_range(0..total);
        let mut gpus = 8;
        for &(g, w) in &GANGS {
            if x < w {
                gpus = g;
                break;
            }
            x -= w;
        }
        let set = match gpus {
            g if g >= 72 => self.rng.random_range(0..2),
            _ => self.rng.random_range(0..3),
        };
        self.next_id += 1;
        Request {
            id: self.next_id,
            kind: WorkKind::Training,
            team: None,
            priority: 0,
            gpus,
            accels: self.accel_sets[set].iter().copied().collect(),
            sites: None,
            spot_ok: self.rng.random_bool(0.2),
            preemptible: true,
            checkpoint_interval_s: 3600,
            gpu_milli: 1000,
            cpu_milli_per_gpu: 0,
            memory_mib_per_gpu: 0,
        }
    }

    /// One placement decision, committed when it fits.
    fn place(&mut self) -> bool {
        self.place_timed().0
    }

    /// One placement decision; returns whether it fit, the time to decide
    /// and the time to decide and commit.
    fn place_timed(&mut self) -> (bool, Duration, Duration) {
        let req = self.request();
        let t = Instant::now();
        let d = self.sched.decide(0, &req, false);
        let decided = t.elapsed();
        let ok = match d.placement() {
            Some(p) => {
                let id = self
                    .sched
                    .commit(0, &req, p)
                    .expect("fresh decision commits");
                self.live.push(id);
                true
            }
            None => false,
        };
        (ok, decided, t.elapsed())
    }

    fn release(&mut self) {
        if self.live.is_empty() {
            return;
        }
        let i = self.rng.random_range(0..self.live.len());
        let id = self.live.swap_remove(i);
        self.sched.release(id).expect("live allocation");
    }

    /// One step of the stream: release when above target, else place.
    fn step(&mut self) -> Option<bool> {
        if self.utilization() > self.target {
            self.release();
            None
        } else {
            Some(self.place())
        }
    }
}

fn sizes() -> Vec<u64> {
    match std::env::var("GF_BENCH_SIZES") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![10_000, 100_000, 1_000_000, 20_000_000],
    }
}

fn label(n: u64) -> String {
    match n {
        n if n >= 1_000_000 => format!("{}M", n / 1_000_000),
        n => format!("{}k", n / 1000),
    }
}

fn latency_table(sizes: &[u64]) {
    println!();
    println!(
        "| fleet GPUs | NVLink domains | clusters | decisions | placed | decide p50 | decide p99 | decide+commit p50 | decide+commit p99 | decisions/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &n in sizes {
        let mut s = Stream::new(n, 42);
        let mut dec: Vec<u64> = Vec::with_capacity(200_000);
        let mut lat: Vec<u64> = Vec::with_capacity(200_000);
        let mut placed = 0u64;
        let mut busy = Duration::ZERO;
        let steps = 300_000;
        for _ in 0..steps {
            if s.utilization() > s.target {
                s.release();
                continue;
            }
            let (ok, d, e) = s.place_timed();
            busy += e;
            dec.push(d.as_nanos() as u64);
            lat.push(e.as_nanos() as u64);
            placed += ok as u64;
        }
        dec.sort_unstable();
        lat.sort_unstable();
        let q = |v: &[u64], p: f64| v[((v.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
        println!(
            "| {} | {} | {} | {} | {} | {:.2} µs | {:.2} µs | {:.2} µs | {:.2} µs | {:.0} |",
            label(n),
            s.topo.n_domains(),
            s.topo.clusters.len(),
            lat.len(),
            placed,
            q(&dec, 0.50),
            q(&dec, 0.99),
            q(&lat, 0.50),
            q(&lat, 0.99),
            lat.len() as f64 / busy.as_secs_f64(),
        );
    }
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: then one
    // small fleet proves the bench works without the minutes of a full run.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full { sizes() } else { vec![10_000] };
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    {
        let mut g = c.benchmark_group("placement-stream");
        for &n in &sizes {
            let mut s = Stream::new(n, 7);
            g.throughput(Throughput::Elements(1));
            g.bench_function(label(n), |b| b.iter(|| black_box(s.step())));
        }
        g.finish();
    }
    c.final_summary();
    if full {
        latency_table(&sizes);
    }
}
