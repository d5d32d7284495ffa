//! The service planner on a fleet of mixed accelerators: each zone is sized
//! by the throughput of the accelerators its replicas actually got, so a zone
//! served only by slower GPUs gets more replicas, not the count the fastest
//! accelerator would need.

use std::sync::Arc;

use gf_sched::{
    OnPreempt, PlanInput, Policy, ReplicaCounts, ReplicaPlan, Scheduler, ServiceRequest, Topology,
};

/// us-east has GB200 only (aws); eu-west has H200 only, on two providers.
const FLEET: &str = r#"
version = 1
[[team]]
name = "inference"
[[provider]]
name = "aws"
[[provider.region]]
name = "east"
power_mw = 100.0
zone = "us-east"
[[provider.region.cluster]]
name = "nvl"
accelerator = "gb200"
domains = 2
price = { model = "on-demand", usd_per_gpu_hour = 4.0 }
[[provider]]
name = "azure"
[[provider.region]]
name = "sweden"
power_mw = 100.0
zone = "eu-west"
[[provider.region.cluster]]
name = "hgx"
accelerator = "h200"
domains = 16
price = { model = "on-demand", usd_per_gpu_hour = 3.0 }
[[provider]]
name = "gcp"
[[provider.region]]
name = "netherlands"
power_mw = 100.0
zone = "eu-west"
[[provider.region.cluster]]
name = "a3"
accelerator = "h200"
domains = 16
price = { model = "on-demand", usd_per_gpu_hour = 3.0 }
"#;

/// 8-GPU replicas serving 20 rps on GB200 and 8 on H200; 100 rps in us-east
/// and 60 in eu-west, under an SLO too tight to cross zones.
const SERVICE: &str = r#"
[[service]]
name = "chat"
team = "inference"
model = "m"
priority = 800
gpus_per_replica = 8
throughput = { gb200 = 20.0, h200 = 8.0 }
demand = [
  { zone = "us-east", rps = 100.0 },
  { zone = "eu-west", rps = 60.0 },
]
latency_slo_ms = 100.0
min_providers = 2
max_share_per_provider = 0.75
min_replicas = 2
max_replicas = 100
"#;

const NOW: i64 = 1_767_225_600;

fn setup() -> (Scheduler, ServiceRequest) {
    let doc = gf_model::parse_document("fleet.toml", &format!("{FLEET}{SERVICE}")).unwrap();
    let topo = Arc::new(Topology::from_document(&doc));
    let svc = ServiceRequest::from_spec(&topo, 1 << 40, &doc.services[0]).unwrap();
    let sched = Scheduler::new(topo, Policy::named("default").unwrap(), 1);
    (sched, svc)
}

fn plan(
    sched: &mut Scheduler,
    svc: &ServiceRequest,
    current: &ReplicaCounts,
    demand: &[(u32, f64)],
    headroom: f64,
) -> ReplicaPlan {
    sched
        .plan_replicas(
            NOW,
            &PlanInput {
                svc,
                current,
                demand,
                headroom,
                first_id: svc.base_id + current.total() as u64,
                on_preempt: OnPreempt::Ask,
                explain: false,
            },
        )
        .unwrap()
}

/// Replicas of `plan` per (zone name, accelerator name).
fn by_zone_accel(sched: &Scheduler, plan: &ReplicaPlan) -> Vec<(String, String, u32)> {
    let topo = sched.topology();
    let mut v: Vec<(String, String, u32)> = Vec::new();
    for r in &plan.added {
        let c = &topo.clusters[plan.decision_of(r).placement().unwrap().cluster as usize];
        let zone = topo.zones[topo.sites[c.site as usize].zone as usize].clone();
        let accel = topo.accels[c.accel as usize].name.clone();
        match v.iter_mut().find(|x| x.0 == zone && x.1 == accel) {
            Some(x) => x.2 += 1,
            None => v.push((zone, accel, 1)),
        }
    }
    v.sort();
    v
}

#[test]
fn each_zone_is_sized_by_the_accelerator_its_replicas_got() {
    let (mut sched, svc) = setup();
    let empty = ReplicaCounts::new(sched.topology(), &svc);
    let demand = svc.demand.clone();
    let p = plan(&mut sched, &svc, &empty, &demand, 1.25);
    // eu-west: 60 × 1.25 = 75 rps on 8-rps H200s is ceil(9.375) = 10
    // replicas; us-east: 125 rps on 20-rps GB200s is ceil(6.25) = 7. Sizing
    // by the fastest accelerator would give 200 / 20 = 10 in all.
    assert_eq!(
        by_zone_accel(&sched, &p),
        [
            ("eu-west".into(), "h200".into(), 10),
            ("us-east".into(), "gb200".into(), 7),
        ]
    );
    assert_eq!((p.replicas, p.providers), (17, 3));
    assert_eq!(p.unserved_rps, 0.0);
    assert!(p.removed.is_empty() && p.victims.is_empty() && p.stopped.is_none());
    // No provider holds more than three quarters of the replicas.
    let topo = Arc::clone(sched.topology());
    for prov in 0..topo.providers.len() as u32 {
        let n = p.added.iter().filter(|r| r.group.provider == prov).count();
        assert!(n * 4 <= 17 * 3, "provider {prov} holds {n} of 17");
    }

    // Planning again from what runs changes nothing.
    let mut now_running = empty.clone();
    for r in &p.added {
        now_running.add(r.group);
    }
    let again = plan(&mut sched, &svc, &now_running, &demand, 1.25);
    assert!(
        again.added.is_empty() && again.removed.is_empty(),
        "{again:?}"
    );
    let (asked, served) = now_running.served(&svc, &demand);
    assert_eq!((asked, served), (160.0, 160.0));

    // Halving eu-west's demand removes H200 replicas there, down to
    // ceil(37.5 / 8) = 5, and leaves us-east alone.
    let eu = topo.zones.iter().position(|z| z == "eu-west").unwrap() as u32;
    let lower: Vec<(u32, f64)> = demand
        .iter()
        .map(|&(z, r)| (z, if z == eu { r / 2.0 } else { r }))
        .collect();
    let shrink = plan(&mut sched, &svc, &now_running, &lower, 1.25);
    assert!(shrink.added.is_empty(), "{shrink:?}");
    assert_eq!(shrink.removed.len(), 5, "{shrink:?}");
    assert!(shrink.removed.iter().all(|g| g.zone == eu));
    assert_eq!(shrink.replicas, 12);
}

#[test]
fn a_zone_out_of_room_is_not_padded_with_replicas_elsewhere() {
    let (mut sched, svc) = setup();
    let empty = ReplicaCounts::new(sched.topology(), &svc);
    let topo = Arc::clone(sched.topology());
    let eu = topo.zones.iter().position(|z| z == "eu-west").unwrap() as u32;
    let demand: Vec<(u32, f64)> = svc
        .demand
        .iter()
        .map(|&(z, r)| (z, if z == eu { 400.0 } else { r }))
        .collect();
    let p = plan(&mut sched, &svc, &empty, &demand, 1.0);
    // eu-west would need 50 H200 replicas and has room for 32; under a
    // 100 ms SLO a replica in us-east cannot serve it, so us-east keeps the
    // 5 its own demand needs and the rest of eu-west's stays unserved.
    assert_eq!(
        by_zone_accel(&sched, &p),
        [
            ("eu-west".into(), "h200".into(), 32),
            ("us-east".into(), "gb200".into(), 5),
        ]
    );
    assert_eq!(p.unserved_rps, 400.0 - 32.0 * 8.0);
    assert!(p.stopped.is_some());
}

#[test]
fn a_zone_full_of_training_asks_its_victims_to_stop_and_commits_nothing() {
    let (mut sched, svc) = setup();
    let topo = Arc::clone(sched.topology());
    // Both H200 clusters (eu-west) run a preemptible training job each.
    for (id, c) in ["azure/sweden/hgx", "gcp/netherlands/a3"]
        .iter()
        .enumerate()
    {
        let spec = gf_testkit::job("train").gpus(128).accels(&["h200"]).build();
        let req = gf_sched::Request::from_job(&topo, id as u64, &spec).unwrap();
        let d = sched.decide(NOW - 600, &req, false);
        let p = d.placement().unwrap();
        assert_eq!(&*topo.clusters[p.cluster as usize].name, *c);
        sched.commit(NOW - 600, &req, p).unwrap();
    }
    let eu = topo.zones.iter().position(|z| z == "eu-west").unwrap() as u32;
    let mut running = ReplicaCounts::new(&topo, &svc);
    // Two replicas already run in us-east, which has no demand left.
    let us_gb200 = svc.group_of(&topo, 0).unwrap();
    running.add(us_gb200);
    running.add(us_gb200);
    let p = plan(&mut sched, &svc, &running, &[(eu, 60.0)], 1.0);
    // A replica in us-east would serve nobody within 100 ms: the next one
    // must go to eu-west, where only preemption makes room. Under Ask the
    // plan names the victim and stops, releasing and committing nothing.
    assert!(p.added.is_empty(), "{p:?}");
    assert_eq!(p.victims.len(), 1, "{p:?}");
    assert!(p.victims[0].work < 2);
    assert!(p.stopped.is_some());
    assert_eq!(sched.allocs().count(), 2);
    assert_eq!(p.unserved_rps, 60.0);
}
