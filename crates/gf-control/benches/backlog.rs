//! The backlog drain: one scheduling pass of the controller over 100,000
//! pending jobs on a 1M-GPU fleet, from the submission events to the
//! dispatch actions. Kueue's drain of a deep queue (kueue#14477) is the
//! anchor users complain about; the target is ≤ 1 s per full pass on one
//! core, with every job that can fit reached (no fixed lookahead).
//!
//! The mix is many small jobs and some large gangs over four teams and four
//! priorities; together they ask for ~10x the fleet, so most of a pass is
//! finding quickly what cannot fit. `GF_BACKLOG_JOBS` changes the count.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput};
use gf_control::{Action, ControlConfig, Controller, Event};
use gf_model::TeamSpec;
use gf_sched::{CapacityIndex, Policy, Topology};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Gang sizes and their weight per 1,000 jobs.
const GANGS: [(u32, u32); 10] = [
    (8, 600),
    (16, 120),
    (32, 80),
    (64, 60),
    (72, 50),
    (144, 40),
    (576, 25),
    (1152, 15),
    (4608, 7),
    (16384, 3),
];
const TEAMS: [&str; 4] = ["frontier", "research", "product", "eval"];
const PRIORITIES: [u32; 4] = [100, 300, 500, 900];

fn fleet() -> Arc<Topology> {
    let mut doc = gf_testkit::synthetic_fleet(1_000_000);
    doc.teams = TEAMS
        .iter()
        .map(|t| TeamSpec {
            name: (*t).into(),
            quota: Default::default(),
            weight: 1.0,
            max_priority: 1000,
            locs: Default::default(),
        })
        .collect();
    Arc::new(Topology::from_document(&doc))
}

fn backlog(n: usize) -> Vec<Event> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let total: u32 = GANGS.iter().map(|g| g.1).sum();
    let accels: [&[&str]; 3] = [
        &["gb300", "gb200"],
        &["gb200", "gb300", "h200", "h100"],
        &["h200", "h100"],
    ];
    (0..n)
        .map(|i| {
            let mut x = rng.random_range(0..total);
            let gpus = GANGS
                .iter()
                .find(|g| {
                    if x < g.1 {
                        true
                    } else {
                        x -= g.1;
                        false
                    }
                })
                .map_or(8, |g| g.0);
            let team = TEAMS[rng.random_range(0..TEAMS.len())];
            let spec = gf_testkit::job(&format!("j{i}"))
                .gpus(gpus)
                .accels(accels[rng.random_range(0..accels.len())])
                .priority(PRIORITIES[rng.random_range(0..PRIORITIES.len())])
                .team(team)
                .build();
            Event::JobSubmitted {
                job: i as u64 + 1,
                spec: std::sync::Arc::new(spec),
            }
        })
        .collect()
}

fn main() {
    let n: usize = std::env::var("GF_BACKLOG_JOBS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let topo = fleet();
    let events = backlog(n);
    let make = || {
        Controller::new(
            Arc::clone(&topo),
            CapacityIndex::all_online(&topo),
            Policy::default(),
            1,
            ControlConfig::default(),
        )
    };
    // One pass outside the timing, to print what it achieved.
    let mut c = make();
    let t0 = std::time::Instant::now();
    for e in events.iter().cloned() {
        c.handle(0, e).expect("submission");
    }
    let t1 = std::time::Instant::now();
    let acts = c.handle(0, Event::ScheduleTick).expect("a pass");
    let t2 = std::time::Instant::now();
    println!(
        "submissions {:.3} s, the pass {:.3} s",
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64()
    );
    let dispatched = acts
        .iter()
        .filter(|a| matches!(a, Action::Dispatch(_)))
        .count();
    let ix = c.scheduler().index();
    println!(
        "backlog of {n} pending jobs on {} GPUs: one pass dispatched {dispatched}, left {} pending, fleet {:.1}% allocated",
        topo.total_gpus(),
        c.pending(),
        100.0 * (1.0 - ix.total_free() as f64 / ix.total_online() as f64)
    );
    let mut crit = Criterion::default().sample_size(10).configure_from_args();
    let mut g = crit.benchmark_group("backlog");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("submit_and_one_pass", |b| {
        // The controller and the events are built outside the timing, and
        // both are returned so they are dropped outside it too.
        b.iter_batched(
            || (make(), events.clone()),
            |(mut c, evs)| {
                for e in evs {
                    c.handle(0, e).expect("submission");
                }
                let acts = c.handle(0, Event::ScheduleTick).expect("a pass");
                black_box((acts, c))
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
    crit.final_summary();
}
