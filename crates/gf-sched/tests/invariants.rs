//! Property tests for the invariants of DESIGN.md that the scheduler owns:
//! never more GPUs allocated than a domain, cluster or site has online; a gang
//! is placed whole or not at all, inside one cluster; a site's power envelope
//! is never exceeded; release restores the index exactly; the same seed gives
//! the same decision; planning again from its own output moves nothing.

use std::sync::Arc;

use gf_model::PriceModel;
use gf_sched::{
    AllocId, Candidates, Outcome, Plan, Policy, Request, Scheduler, Topology, schedule,
};
use gf_testkit::{fleet, job};
use proptest::prelude::*;

/// A small fleet whose shape the test varies: domain sizes 8 and 72, blocks,
/// a power-tight site, spot capacity, and a team with a quota.
fn small_fleet(gb_domains: u32, h_domains: u32, tight_mw: f64) -> gf_model::Document {
    fleet()
        .team("default", &[("h100", 96)])
        .provider("aws")
        .region("east", 100.0, "us-east")
        .cluster_with(
            "nvl",
            "gb200",
            gb_domains,
            PriceModel::Reserved,
            4.0,
            Some(3),
        )
        .cluster_with("hgx", "h100", h_domains, PriceModel::Spot, 1.5, None)
        .host(16_000, None)
        .provider("azure")
        .region("tight", tight_mw, "us-east")
        .cluster_with(
            "nvl2",
            "gb200",
            gb_domains,
            PriceModel::OnDemand,
            5.0,
            Some(2),
        )
        // A second H100 cluster: the team's quota then moves with
        // placements on a cluster other than the one a decision looks at.
        .cluster_with("hgx2", "h100", 3, PriceModel::OnDemand, 2.0, None)
        // A commitment on one provider: its urgency moves with the time
        // and the spend reported, and no other score does.
        .contract("aws-commit", "aws", 1e7, "2026-01-01", 12)
        .build()
}

/// A fleet of 36 clusters (two providers, three regions each, six
/// clusters a region: NVL72 and HGX, reserved, on demand and spot, a
/// commitment on one provider and a power-tight region): enough for the
/// candidate cap to stop a decision part way through the fleet.
fn wide_fleet(domains: u32, tight_mw: f64) -> gf_model::Document {
    let mut f = fleet().team("default", &[("h100", 96)]);
    for (p, provider) in ["aws", "azure"].into_iter().enumerate() {
        f = f.provider(provider);
        for r in 0..3u32 {
            let mw = if p == 1 && r == 2 { tight_mw } else { 100.0 };
            f = f.region(
                &format!("r{r}"),
                mw,
                if r == 0 { "us-east" } else { "eu-west" },
            );
            for k in 0..6u32 {
                let model =
                    [PriceModel::Reserved, PriceModel::OnDemand, PriceModel::Spot][k as usize % 3];
                let usd = 1.0 + (k + r + p as u32) as f64 * 0.5;
                let n = domains + (k + r) % 3;
                f = if k % 2 == 0 {
                    f.cluster_with(&format!("nvl{k}"), "gb200", n, model, usd, Some(2))
                } else {
                    f.cluster_with(&format!("hgx{k}"), "h100", n + 1, model, usd, None)
                };
            }
        }
    }
    f.contract("aws-commit", "aws", 1e7, "2026-01-01", 12)
        .build()
}

#[derive(Debug, Clone)]
enum Op {
    Place {
        gpus: u32,
        accel: u8,
        prio: u32,
        spot: bool,
        milli: u32,
        cpu: u64,
    },
    Release(usize),
    Fail(usize),
    Repair(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (prop_oneof![1u32..=8, 9u32..=72, 73u32..=400], 0u8..3, 0u32..100, any::<bool>(),
              prop_oneof![3 => Just(1000u32), 2 => 1u32..1000], prop_oneof![Just(0u64), 0u64..4000])
            .prop_map(|(gpus, accel, prio, spot, milli, cpu)| {
                // A share of a GPU is a one-GPU request.
                let gpus = if milli < 1000 { 1 } else { gpus };
                Op::Place { gpus, accel, prio, spot, milli, cpu }
            }),
        2 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::Fail),
        1 => any::<usize>().prop_map(Op::Repair),
    ]
}

/// The accelerators a test request accepts, by a drawn number.
fn accels_of(accel: u8) -> &'static [&'static str] {
    match accel {
        0 => &["gb200"],
        1 => &["h100"],
        _ => &["gb200", "h100"],
    }
}

fn request(topo: &Topology, id: u64, gpus: u32, accel: u8, prio: u32, spot: bool) -> Request {
    shared_request(topo, id, gpus, accel, prio, spot, 1000, 0)
}

#[allow(clippy::too_many_arguments)]
fn shared_request(
    topo: &Topology,
    id: u64,
    gpus: u32,
    accel: u8,
    prio: u32,
    spot: bool,
    milli: u32,
    cpu: u64,
) -> Request {
    let mut j = job(&format!("j{id}"))
        .gpus(gpus)
        .accels(accels_of(accel))
        .priority(prio);
    if spot {
        j = j.spot();
    }
    let mut spec = j.build();
    spec.gpu_milli = Some(milli);
    spec.cpu_milli_per_gpu = cpu;
    Request::from_job(topo, id, &spec).unwrap()
}

/// Checks every capacity invariant against the scheduler's own allocations.
fn check_invariants(s: &Scheduler) -> Result<(), TestCaseError> {
    let topo = s.topology();
    s.index()
        .check_consistent(topo)
        .map_err(TestCaseError::fail)?;
    s.check_bookkeeping().map_err(TestCaseError::fail)?;
    let mut used = vec![0u32; topo.n_domains()];
    let mut cpu = vec![0u64; topo.n_domains()];
    let mut drawn = vec![0u64; topo.sites.len()];
    // Shares of one GPU: thousandths per carved GPU, each GPU counted once.
    let mut carved: std::collections::BTreeMap<(u32, u16), u32> = Default::default();
    for (_, a) in s.allocs() {
        let c = &topo.clusters[a.cluster as usize];
        prop_assert_eq!(
            a.parts.iter().map(|p| p.1).sum::<u32>(),
            a.gpus,
            "gang not whole"
        );
        for &(d, g) in &a.parts {
            prop_assert_eq!(
                topo.domain_cluster[d as usize],
                a.cluster,
                "gang spans clusters"
            );
            match a.share {
                Some((slot, milli)) => {
                    *carved.entry((d, slot)).or_default() += milli;
                    cpu[d as usize] += a.cpu_milli_per_gpu;
                }
                None => {
                    used[d as usize] += g;
                    cpu[d as usize] += g as u64 * a.cpu_milli_per_gpu;
                    drawn[c.site as usize] += g as u64 * topo.accels[c.accel as usize].watts;
                }
            }
        }
    }
    for (&(d, _), &milli) in &carved {
        prop_assert!(milli <= 1000, "a shared GPU holds {} thousandths", milli);
        used[d as usize] += 1;
        let c = &topo.clusters[topo.domain_cluster[d as usize] as usize];
        drawn[c.site as usize] += topo.accels[c.accel as usize].watts;
    }
    for (d, &u) in used.iter().enumerate() {
        let c = &topo.clusters[topo.domain_cluster[d] as usize];
        prop_assert!(u <= c.domain_gpus, "domain {} over-allocated", d);
        prop_assert!(
            cpu[d] <= c.cpu_milli_per_domain,
            "domain {} over its CPU",
            d
        );
        prop_assert_eq!(cpu[d], s.index().cpu_used(d as u32));
        if s.index().is_online(d as u32) {
            prop_assert_eq!(s.index().free(d as u32) + u, c.domain_gpus);
        }
    }
    for (i, site) in topo.sites.iter().enumerate() {
        prop_assert!(
            drawn[i] <= site.envelope_w,
            "site {} over its envelope",
            site.name
        );
        prop_assert_eq!(drawn[i], s.index().site_drawn_w(i as u32));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn capacity_power_and_gang_invariants_hold(
        gb in 2u32..8, h in 2u32..12, tight in 0.1f64..2.0,
        ops in prop::collection::vec(op(), 1..60), seed in 0u64..4,
    ) {
        let doc = small_fleet(gb, h, tight);
        let topo = Arc::new(Topology::from_document(&doc));
        let mut s = Scheduler::new(Arc::clone(&topo), Policy::default(), seed);
        let empty = s.index().clone();
        let mut live: Vec<AllocId> = Vec::new();
        let mut offline: Vec<u32> = Vec::new();
        for (i, o) in ops.into_iter().enumerate() {
            let now = 1_780_000_000 + i as i64 * 600;
            match o {
                Op::Place { gpus, accel, prio, spot, milli, cpu } => {
                    let req = shared_request(&topo, i as u64, gpus, accel, prio, spot, milli, cpu);
                    let d = s.decide(now, &req, false);
                    if let Some(p) = d.placement() {
                        prop_assert_eq!(p.gpus(), gpus, "placed a different gang size");
                        let c = &topo.clusters[p.cluster as usize];
                        // A gang that fits one domain is never split while one can hold it.
                        if gpus <= c.domain_gpus && matches!(d.outcome, Outcome::Placed(_))
                            && s.index().best_fit_bucket(p.cluster, gpus).is_some() {
                            prop_assert_eq!(p.parts.len(), 1, "split a gang one domain holds");
                        }
                    }
                    if let Some((id, victims)) = s.apply(now, &req, &d).unwrap() {
                        for v in victims {
                            prop_assert!(v.priority < prio && v.preemptible);
                        }
                        // Alloc ids are reused: the new gang may take a victim's id.
                        live.retain(|&x| s.alloc(x).is_some() && x != id);
                        live.push(id);
                        s.track(id);
                    }
                }
                Op::Release(k) if !live.is_empty() => {
                    let id = live.swap_remove(k % live.len());
                    s.release(id).unwrap();
                }
                Op::Fail(k) => {
                    let d = (k % topo.n_domains()) as u32;
                    // Every allocation is tracked here, so the domain's list
                    // names exactly the allocations with a part on it.
                    let mut listed = s.holders(d).to_vec();
                    listed.sort_unstable();
                    let mut held = s.allocs_on_domain(d);
                    held.sort_unstable();
                    prop_assert_eq!(listed, held, "domain {} lists other allocations than hold it", d);
                    for id in s.allocs_on_domain(d) {
                        s.release(id).unwrap();
                        live.retain(|&x| x != id);
                    }
                    s.set_domain_online(d, false);
                    offline.push(d);
                }
                Op::Repair(k) if !offline.is_empty() => {
                    let d = offline.swap_remove(k % offline.len());
                    s.set_domain_online(d, true);
                }
                _ => {}
            }
            check_invariants(&s)?;
        }
        // Releasing everything and repairing everything restores the index exactly.
        for id in live {
            s.release(id).unwrap();
        }
        for d in offline {
            s.set_domain_online(d, true);
        }
        prop_assert!(s.index().check_consistent(&topo).is_ok());
        prop_assert_eq!(s.index().total_free(), empty.total_free());
        for d in 0..topo.n_domains() as u32 {
            prop_assert_eq!(s.index().free(d), empty.free(d));
        }
        for st in 0..topo.sites.len() as u32 {
            prop_assert_eq!(s.index().site_drawn_w(st), 0);
        }
    }

    /// A batch of decisions of one shape reads the static rules from a
    /// `Prepared` (a service plan does): each must be the decision
    /// `decide_with` takes, bit for bit, whatever the candidate cap, the
    /// caller's spread rule, releases in between, and capacity going offline
    /// after the preparation (which makes it stale, so it is not used).
    #[test]
    fn prepared_decisions_are_the_decisions(
        gb in 2u32..8, h in 2u32..12, tight in 0.1f64..2.0,
        shape in (prop_oneof![1u32..=8, 9u32..=72, 73u32..=400], 0u8..3, any::<bool>(),
                  prop_oneof![Just(0u64), 0u64..4000]),
        steps in prop::collection::vec((0u32..100, any::<bool>(), any::<usize>()), 1..40),
        cap in 0u32..4, seed in 0u64..4,
    ) {
        let doc = small_fleet(gb, h, tight);
        let topo = Arc::new(Topology::from_document(&doc));
        let policy = capped(cap);
        let mut s = Scheduler::new(Arc::clone(&topo), policy, seed);
        let now = 1_780_000_000;
        let (gpus, accel, spot, cpu) = shape;
        let mut prep = s.prepare(now, &shared_request(&topo, 0, gpus, accel, 0, spot, 1000, cpu));
        let mut live: Vec<AllocId> = Vec::new();
        for (i, (prio, release, k)) in steps.into_iter().enumerate() {
            let req = shared_request(&topo, i as u64, gpus, accel, prio, spot, 1000, cpu);
            let extra = |c: u32| -> Option<f64> {
                if (c as usize + i).is_multiple_of(3) { None } else { Some(c as f64 * 0.25) }
            };
            let plain = s.decide_with(now, &req, false, &extra);
            let fast = s.decide_prepared(now, &req, false, &extra, &prep);
            prop_assert_eq!(&fast, &plain);
            prop_assert_eq!(s.decide_prepared(now, &req, false, &|_| Some(0.0), &prep),
                s.decide(now, &req, false));
            if let Some((id, _)) = s.apply(now, &req, &plain).unwrap() {
                live.retain(|&x| s.alloc(x).is_some() && x != id);
                live.push(id);
            }
            if release && !live.is_empty() {
                let id = live.swap_remove(k % live.len());
                s.release(id).unwrap();
            }
            if k.is_multiple_of(7) {
                let d = (k % topo.n_domains()) as u32;
                for id in s.allocs_on_domain(d) {
                    s.release(id).unwrap();
                    live.retain(|&x| x != id);
                }
                s.set_domain_online(d, false);
            }
            if k.is_multiple_of(11) {
                prep = s.prepare(now, &req);
            }
        }
    }

    /// A decision without an explanation reads the static rules of its
    /// shape from the scheduler's memo and reuses the scores (and, when
    /// every rule reads only the cluster and its site, the verdicts) of
    /// clusters that did not change since the last decision of that shape:
    /// each must be the decision asked with every rule afresh (with an
    /// explanation, which bypasses the memo), whatever the mix of shapes,
    /// a team whose quota binds or not, a scope, the time moving on, the
    /// spend against a commitment reported, placements and releases in
    /// between and capacity going offline.
    #[test]
    fn remembered_decisions_are_the_decisions(
        gb in 2u32..8, h in 2u32..12, tight in 0.1f64..2.0,
        steps in steps(60),
        cap in 0u32..4, seed in 0u64..4,
    ) {
        remembered(&small_fleet(gb, h, tight), capped(cap), seed, steps)?;
    }

    /// The same on a fleet of 36 clusters of two providers, one under a
    /// commitment (its score varies with the time and the spend, added to
    /// the kept sum of the other terms at each instant): the rotation starts
    /// anywhere and the cap is reached part way through the fleet or not.
    #[test]
    fn remembered_decisions_on_a_wide_fleet_are_the_decisions(
        gb in 1u32..4, tight in 0.1f64..2.0,
        steps in steps(80),
        cap in prop_oneof![Just(0u32), Just(1), Just(10), Just(14), Just(25)], seed in 0u64..4,
    ) {
        remembered(&wide_fleet(gb, tight), capped(cap), seed, steps)?;
    }

    #[test]
    fn same_seed_same_decisions_and_replanning_moves_nothing(
        gb in 2u32..8, h in 2u32..12,
        jobs in prop::collection::vec((1u32..300, 0u8..3, 0u32..50), 1..30), seed in any::<u64>(),
    ) {
        let doc = small_fleet(gb, h, 50.0);
        let topo = Arc::new(Topology::from_document(&doc));
        let pending: Vec<Request> = jobs
            .iter()
            .enumerate()
            .map(|(i, &(g, a, p))| request(&topo, i as u64, g, a, p, false))
            .collect();
        let fresh = || Scheduler::new(Arc::clone(&topo), Policy::default(), seed);
        let (plan1, d1, _) = schedule(fresh(), 1_780_000_000, &pending, &Plan::default());
        let (plan1b, d1b, _) = schedule(fresh(), 1_780_000_000, &pending, &Plan::default());
        prop_assert_eq!(&plan1, &plan1b);
        prop_assert_eq!(d1, d1b);
        let (plan2, _, _) = schedule(fresh(), 1_780_000_000, &pending, &plan1);
        prop_assert_eq!(plan1, plan2);
    }
}

#[test]
fn power_envelope_blocks_placement_with_its_own_cause() {
    // 0.1 MW holds 45 GB200 GPUs at 2.2 kW each: a 72-GPU gang must not fit.
    let doc = fleet()
        .provider("p")
        .region("tight", 0.1, "z")
        .cluster("c", "gb200", 4, 3.0)
        .build();
    let mut s = gf_testkit::scheduler(&doc, "default", 1);
    let topo = Arc::clone(s.topology());
    let req = Request::from_job(&topo, 0, &job("a").gpus(72).accels(&["gb200"]).build()).unwrap();
    let d = s.decide(0, &req, false);
    assert!(d.placement().is_none());
    assert_eq!(d.explanation.rejected_for(gf_sched::Cause::Power), 1);
    let small = Request::from_job(&topo, 1, &job("b").gpus(40).accels(&["gb200"]).build()).unwrap();
    let d = s.decide(0, &small, false);
    assert!(s.apply(0, &small, &d).unwrap().is_some());
}

#[test]
fn unreported_checkpoints_follow_the_jobs_interval() {
    let doc = fleet()
        .provider("p")
        .region("r", 10.0, "z")
        .cluster("c", "gb200", 2, 3.0)
        .build();
    let mut s = gf_testkit::scheduler(&doc, "default", 1);
    let topo = Arc::clone(s.topology());
    let r = Request::from_job(
        &topo,
        0,
        &job("a")
            .gpus(72)
            .accels(&["gb200"])
            .checkpoint_min(30.0)
            .build(),
    )
    .unwrap();
    let d = s.decide(0, &r, false);
    let (id, _) = s.apply(0, &r, &d).unwrap().unwrap();
    // 100 minutes in, the last scheduled checkpoint was at 90: 10 minutes lost.
    let lost = s.loss_if_stopped(s.alloc(id).unwrap(), 100 * 60);
    assert!((lost - 72.0 * 10.0 / 60.0).abs() < 1e-9, "{lost}");
}

#[test]
fn team_quota_is_a_filter() {
    let doc = fleet()
        .team("default", &[("h100", 16)])
        .provider("p")
        .region("r", 10.0, "z")
        .cluster("c", "h100", 8, 2.0)
        .build();
    let mut s = gf_testkit::scheduler(&doc, "default", 1);
    let topo = Arc::clone(s.topology());
    for (i, expect_fit) in [(0u64, true), (1, true), (2, false)] {
        let r = Request::from_job(&topo, i, &job("q").gpus(8).accels(&["h100"]).build()).unwrap();
        let d = s.decide(0, &r, false);
        assert_eq!(d.placement().is_some(), expect_fit, "job {i}");
        if !expect_fit {
            assert_eq!(d.explanation.rejected_for(gf_sched::Cause::Quota), 1);
        }
        s.apply(0, &r, &d).unwrap();
    }
}

#[test]
fn preemption_prefers_victims_with_least_work_since_checkpoint() {
    let doc = fleet()
        .provider("p")
        .region("r", 10.0, "z")
        .cluster_with("c", "gb200", 4, PriceModel::Reserved, 3.0, None)
        .build();
    let mut s = gf_testkit::scheduler(&doc, "default", 1);
    let topo = Arc::clone(s.topology());
    let t0 = 1_780_000_000;
    // Four preemptible 72-GPU jobs fill the cluster; each last checkpointed at
    // a different time, and one is not preemptible at all.
    let ckpt_ago_min = [50, 5, 30, 1];
    for (i, ago) in ckpt_ago_min.iter().enumerate() {
        // A long interval: the reported checkpoints, not the schedule, decide.
        let mut j = job(&format!("f{i}"))
            .gpus(72)
            .accels(&["gb200"])
            .priority(10)
            .checkpoint_min(600.0);
        if i == 3 {
            j = j.critical();
        }
        let r = Request::from_job(&topo, i as u64, &j.build()).unwrap();
        let d = s.decide(t0, &r, false);
        let (id, _) = s.apply(t0, &r, &d).unwrap().unwrap();
        s.checkpointed(id, t0 + 3600 - ago * 60);
    }
    let urgent = Request::from_job(
        &topo,
        9,
        &job("u").gpus(144).accels(&["gb200"]).priority(50).build(),
    )
    .unwrap();
    let d = s.decide(t0 + 3600, &urgent, false);
    let Outcome::Preempt { victims, placement } = &d.outcome else {
        panic!("expected preemption, got {:?}", d.outcome);
    };
    // f3 lost least but is not preemptible; f1 (5 min) and f2 (30 min) are next.
    let mut works: Vec<u64> = victims.iter().map(|v| v.work).collect();
    works.sort_unstable();
    assert_eq!(works, vec![1, 2]);
    let lost: f64 = victims.iter().map(|v| v.lost_gpu_hours).sum();
    assert!(
        (lost - 72.0 * (5.0 + 30.0) / 60.0).abs() < 1e-9,
        "lost {lost}"
    );
    assert_eq!(placement.gpus(), 144);
    let (_, released) = s.apply(t0 + 3600, &urgent, &d).unwrap().unwrap();
    assert_eq!(released.len(), 2);
}

#[test]
fn shares_of_a_gpu_fill_one_carved_gpu_before_carving_another() {
    let doc = fleet()
        .provider("p")
        .region("r", 10.0, "z")
        .cluster("c", "h100", 1, 2.0)
        .host(8_000, None)
        .build();
    let mut s = gf_testkit::scheduler(&doc, "default", 1);
    let topo = Arc::clone(s.topology());
    let mut ids = Vec::new();
    // Four quarters fit one GPU; the fifth carves a second one.
    for i in 0..5u64 {
        let r = shared_request(&topo, i, 1, 1, 0, false, 250, 500);
        let d = s.decide(0, &r, false);
        let (id, _) = s.apply(0, &r, &d).unwrap().expect("a quarter GPU fits");
        ids.push(id);
        check_invariants(&s).unwrap();
    }
    assert_eq!(s.index().free(0), 6, "two GPUs carved out of eight");
    // A whole-GPU gang never lands on a shared GPU: six whole ones are left.
    let whole = request(&topo, 10, 7, 1, 0, false);
    assert!(s.decide(0, &whole, false).placement().is_none());
    let six = request(&topo, 11, 6, 1, 0, false);
    let d = s.decide(0, &six, false);
    // 6 GPUs × 500 millicores would pass, but 5 shares already hold 2,500 of 8,000.
    let mut six_cpu = six.clone();
    six_cpu.cpu_milli_per_gpu = 1_000;
    assert!(
        s.decide(0, &six_cpu, false).placement().is_none(),
        "CPU per domain must bind"
    );
    let (six_id, _) = s.apply(0, &six, &d).unwrap().unwrap();
    check_invariants(&s).unwrap();
    // Releasing every share gives both carved GPUs back whole.
    s.release(six_id).unwrap();
    for id in ids {
        s.release(id).unwrap();
        check_invariants(&s).unwrap();
    }
    assert_eq!(s.index().free(0), 8);
    assert_eq!(s.index().cpu_used(0), 0);
}

#[test]
fn host_resources_reject_a_cluster_with_their_own_cause() {
    let doc = fleet()
        .provider("p")
        .region("r", 10.0, "z")
        .cluster("c", "h100", 4, 2.0)
        .host(16_000, Some(1_000_000))
        .build();
    let s = gf_testkit::scheduler(&doc, "default", 1);
    let topo = Arc::clone(s.topology());
    let mut r = request(&topo, 0, 8, 1, 0, false);
    r.cpu_milli_per_gpu = 4_000; // 8 x 4 cores = 32 cores > 16 per server
    let d = s.decide(0, &r, false);
    assert!(d.placement().is_none());
    assert_eq!(d.explanation.rejected_for(gf_sched::Cause::Host), 1);
}

/// Pins the bug the property test found: preemption counted every share of a
/// GPU as freeing a whole GPU's power, and the site's drawn power underflowed.
#[test]
fn regression_preempting_shares_of_one_gpu_underflowed_site_power() {
    let doc = fleet()
        .provider("p")
        .region("tight", 0.0035, "z") // two H100s' worth of power (1.53 kW each)
        .cluster("c", "h100", 1, 2.0)
        .build();
    let mut s = gf_testkit::scheduler(&doc, "default", 1);
    let topo = Arc::clone(s.topology());
    // Four shares on one GPU, then one whole GPU: the site is at its envelope.
    for i in 0..4u64 {
        let r = shared_request(&topo, i, 1, 1, 0, false, 250, 0);
        let d = s.decide(0, &r, false);
        s.apply(0, &r, &d).unwrap().unwrap();
    }
    let w = request(&topo, 4, 1, 1, 0, false);
    let d = s.decide(0, &w, false);
    s.apply(0, &w, &d).unwrap().unwrap();
    check_invariants(&s).unwrap();
    // A higher-priority GPU finds no power: shares are never victims, so the
    // whole-GPU job is the one preempted, and nothing underflows.
    let urgent = request(&topo, 5, 1, 1, 50, false);
    let d = s.decide(0, &urgent, false);
    match &d.outcome {
        Outcome::Preempt { victims, .. } => {
            assert_eq!(victims.iter().map(|v| v.work).collect::<Vec<_>>(), vec![4]);
        }
        other => panic!("expected the whole-GPU job to be preempted, got {other:?}"),
    }
    s.apply(0, &urgent, &d).unwrap().unwrap();
    check_invariants(&s).unwrap();
}

#[test]
fn a_spare_domain_added_to_a_gang_is_released_exactly() {
    // Four GB200 racks, power for three: a gang of one rack takes two more
    // as spares, a fourth is refused by power, and release restores all.
    let doc = fleet()
        .provider("p")
        .region("r", 0.5, "z")
        .cluster("c", "gb200", 4, 3.0)
        .build();
    let mut s = gf_testkit::scheduler(&doc, "default", 1);
    let topo = Arc::clone(s.topology());
    let before = (s.index().total_free(), s.index().site_drawn_w(0));
    let req = Request::from_job(&topo, 0, &job("a").gpus(72).accels(&["gb200"]).build()).unwrap();
    let d = s.decide(0, &req, false);
    let (a, _) = s.apply(0, &req, &d).unwrap().unwrap();
    let used = s.alloc(a).unwrap().parts[0].0;
    let free: Vec<u32> = (0..4).filter(|&d| d != used).collect();
    assert!(s.add_part(a, free[0], 72).unwrap());
    assert_eq!(s.alloc(a).unwrap().gpus, 144);
    // A domain already taken is refused; a third rack fits the 0.5 MW
    // (216 GPUs at 2.2 kW), a fourth does not.
    assert!(!s.add_part(a, free[0], 72).unwrap());
    assert!(s.add_part(a, free[1], 72).unwrap());
    assert!(!s.add_part(a, free[2], 72).unwrap());
    s.index().check_consistent(&topo).unwrap();
    s.check_bookkeeping().unwrap();
    // Listed on its domains as its owner tracks them (once, however often
    // it says so); unlisted part by part, and wholly on release.
    assert!(s.holders(free[0]).is_empty());
    s.track(a);
    s.track_part(a, free[0]);
    assert_eq!(s.holders(free[0]), &[a]);
    s.check_bookkeeping().unwrap();
    assert_eq!(s.release_part(a, free[0]).unwrap(), 72);
    assert!(s.holders(free[0]).is_empty());
    assert_eq!(s.holders(used), &[a]);
    assert_eq!(s.holders(free[1]), &[a]);
    s.release(a).unwrap();
    assert!((0..4).all(|d| s.holders(d).is_empty()));
    assert_eq!((s.index().total_free(), s.index().site_drawn_w(0)), before);
}

/// The default policy under candidate cap `cap`: 0 automatic, 1 none, `k`
/// at most `k - 1` clusters.
fn capped(cap: u32) -> Policy {
    Policy {
        candidates: match cap {
            0 => Candidates::Auto,
            1 => Candidates::All,
            k => Candidates::AtMost(k - 1),
        },
        ..Policy::default()
    }
}

/// One step of [`remembered`]: a gang size, an accelerator set, a priority,
/// spot or not, what happens next, a number to pick with, and who asks.
type Step = ((u32, u8, u32, bool, u8, usize), u8);

/// Up to `most` steps for [`remembered`].
fn steps(most: usize) -> impl Strategy<Value = Vec<Step>> {
    let gpus = prop_oneof![Just(8u32), Just(16), Just(72), Just(144)];
    let step = (
        gpus,
        0u8..3,
        0u32..100,
        any::<bool>(),
        0u8..4,
        any::<usize>(),
    );
    prop::collection::vec((step, 0u8..4), 1..most)
}

/// Decides each step's request twice, remembered and afresh (see
/// `remembered_decisions_are_the_decisions`), acting on some and moving
/// the world on between them.
fn remembered(
    doc: &gf_model::Document,
    policy: Policy,
    seed: u64,
    steps: Vec<Step>,
) -> Result<(), TestCaseError> {
    let topo = Arc::new(Topology::from_document(doc));
    let mut s = Scheduler::new(Arc::clone(&topo), policy, seed);
    let mut now = 1_780_000_000;
    let mut live: Vec<AllocId> = Vec::new();
    for (i, ((gpus, accel, prio, spot, then, k), who)) in steps.into_iter().enumerate() {
        // The team's quota of 96 H100s binds for some gangs and not
        // others as its placements come and go; one provider is a scope.
        let req = match who {
            0 | 1 => request(&topo, i as u64, gpus, accel, prio, spot),
            w => {
                let mut j = job(&format!("j{i}"))
                    .gpus(gpus)
                    .accels(accels_of(accel))
                    .priority(prio);
                j = if w == 2 {
                    j.team("default")
                } else {
                    j.providers(&["aws"])
                };
                if spot {
                    j = j.spot();
                }
                Request::from_job(&topo, i as u64, &j.build()).unwrap()
            }
        };
        let fresh = s.decide(now, &req, true);
        let remembered = s.decide(now, &req, false);
        prop_assert_eq!(&remembered.outcome, &fresh.outcome);
        let (a, b) = (&remembered.explanation, &fresh.explanation);
        prop_assert_eq!(
            (a.considered, a.feasible, a.rejected),
            (b.considered, b.feasible, b.rejected)
        );
        // A third of the decisions are not acted on, so that a shape is
        // decided again with nothing changed but the time or the spend.
        if !k.is_multiple_of(3)
            && let Some((id, _)) = s.apply(now, &req, &remembered).unwrap()
        {
            live.retain(|&x| s.alloc(x).is_some() && x != id);
            live.push(id);
        }
        match then {
            0 if !live.is_empty() => {
                let id = live.swap_remove(k % live.len());
                s.release(id).unwrap();
            }
            1 => now += 600,
            2 => {
                let d = (k % topo.n_domains()) as u32;
                for id in s.allocs_on_domain(d) {
                    s.release(id).unwrap();
                    live.retain(|&x| x != id);
                }
                s.set_domain_online(d, k % 2 == 0);
            }
            3 => s.set_contract_spend(0, (k % 1000) as f64 * 1e4),
            _ => {}
        }
    }
    Ok(())
}
