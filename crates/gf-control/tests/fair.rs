//! Fair share between teams and no starvation of large gangs: the
//! `fair-share` queue order splits room by team weight, and EASY backfill
//! holds room for the blocked head so a large gang starts by a bounded time.

mod common;

use std::sync::Arc;

use common::{T0, job};
use gf_control::{Action, ControlConfig, Controller, Event, QueueOrder};
use gf_model::scenario::CheckpointPolicy;
use gf_sched::{CapacityIndex, Policy, Topology};

/// One cluster of eight 8-GPU H100 domains; team `a` weighs three times `b`.
const FLEET: &str = r#"
version = 1
[[team]]
name = "a"
weight = 3.0
[[team]]
name = "b"
weight = 1.0
[[provider]]
name = "aws"
[[provider.region]]
name = "r1"
power_mw = 100.0
zone = "us-east"
[[provider.region.cluster]]
name = "c1"
accelerator = "h100"
domains = 8
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }
"#;

fn controller(cfg: ControlConfig) -> Controller {
    let doc = gf_model::parse_document("fleet.toml", FLEET).unwrap();
    let topo = Arc::new(Topology::from_document(&doc));
    let index = CapacityIndex::all_online(&topo);
    Controller::new(topo, index, Policy::named("first-fit").unwrap(), 1, cfg)
}

fn cfg(queue: QueueOrder) -> ControlConfig {
    ControlConfig {
        checkpoint: CheckpointPolicy::Fixed,
        hot_spare_min_gpus: u32::MAX,
        queue,
        ..ControlConfig::default()
    }
}

fn team_job(name: &str, team: &str) -> common::Job {
    let mut j = job(name);
    j.0.team = team.into();
    j
}

/// Jobs dispatched by a tick, by team.
fn dispatched_by_team(c: &Controller, acts: &[Action]) -> (usize, usize) {
    let mut n = (0, 0);
    for a in acts {
        if let Action::Dispatch(d) = a {
            match c.job(d.run.job).unwrap().spec.team.as_ref() {
                "a" => n.0 += 1,
                _ => n.1 += 1,
            }
        }
    }
    n
}

#[test]
fn fair_share_splits_the_room_by_team_weight() {
    for (queue, want) in [
        (QueueOrder::FairShare, (6, 2)),
        (QueueOrder::Priority, (4, 4)),
    ] {
        let mut c = controller(cfg(queue.clone()));
        // Eight jobs of each team, alternating, b first: a plain priority
        // queue serves them by age, half and half.
        for k in 0..8u64 {
            c.handle(T0, team_job(&format!("b{k}"), "b").submit(2 * k + 1))
                .unwrap();
            c.handle(T0, team_job(&format!("a{k}"), "a").submit(2 * k + 2))
                .unwrap();
        }
        let acts = c.handle(T0 + 1, Event::ScheduleTick).unwrap();
        assert_eq!(dispatched_by_team(&c, &acts), want, "{queue:?}");
    }
}

/// A 32-GPU job runs for ten hours; a 64-GPU gang waits behind it, and
/// small long jobs keep arriving. Without a reservation they take the free
/// half and every GPU the first job gives back, and the gang waits for all
/// of them; with EASY backfill they wait, and the gang starts when the
/// first job ends. A small job short enough to end before then still
/// backfills.
#[test]
fn easy_backfill_starts_a_large_gang_by_its_reserved_time() {
    use gf_control::{Report, RunId};
    for easy in [false, true] {
        let mut c = controller(ControlConfig {
            easy_backfill: easy,
            ..cfg(QueueOrder::Priority)
        });
        // 320 GPU-hours on 32 H100s: ten hours.
        c.handle(T0, team_job("first", "a").gpus(32).work(320.0).submit(1))
            .unwrap();
        let acts = c.handle(T0 + 1, Event::ScheduleTick).unwrap();
        assert_eq!(dispatched_by_team(&c, &acts), (1, 0));
        let first = RunId { job: 1, attempt: 1 };
        c.handle(T0 + 2, Event::Backend(Report::Started { run: first }))
            .unwrap();
        c.handle(T0 + 3, team_job("gang", "a").gpus(64).work(640.0).submit(2))
            .unwrap();
        for k in 0..4u64 {
            // 800 GPU-hours on 8 GPUs: a hundred hours each.
            c.handle(
                T0 + 4,
                team_job(&format!("s{k}"), "b").work(800.0).submit(10 + k),
            )
            .unwrap();
        }
        // One hour on 8 GPUs: ends long before the gang could start.
        c.handle(T0 + 4, team_job("short", "b").work(8.0).submit(20))
            .unwrap();
        let acts = c.handle(T0 + 5, Event::ScheduleTick).unwrap();
        let started: Vec<u64> = acts
            .iter()
            .filter_map(|a| match a {
                Action::Dispatch(d) => Some(d.run.job),
                _ => None,
            })
            .collect();
        for &job in &started {
            let run = RunId { job, attempt: 1 };
            c.handle(T0 + 6, Event::Backend(Report::Started { run }))
                .unwrap();
        }
        if easy {
            assert_eq!(started, vec![20], "only the short job backfills");
        } else {
            assert_eq!(
                started,
                vec![10, 11, 12, 13],
                "the long small jobs take the room"
            );
        }
        // The first job ends at ten hours.
        c.handle(T0 + 36_002, Event::Backend(Report::Finished { run: first }))
            .unwrap();
        let short = RunId {
            job: 20,
            attempt: 1,
        };
        if easy {
            c.handle(T0 + 36_002, Event::Backend(Report::Finished { run: short }))
                .unwrap();
        }
        c.handle(T0 + 36_100, Event::ScheduleTick).unwrap();
        let gang = c.job(2).unwrap();
        assert_eq!(
            gang.first_start_s.is_some(),
            easy,
            "easy {easy}: {}",
            gang.reason
        );
    }
}
