//! The planner's removals, with the idle test asked only where it decides.
//!
//! A plan removes replicas one at a time (see [`Scheduler::plan_replicas`]),
//! and on a 20M-GPU fleet's diurnal swing that is thousands of removals a
//! plan. Each removal is the replica with the highest key among those that
//! may go; whether one may go is, when some zone is short, a residual worked
//! out afresh per (zone, accelerator). Asking that of every pair on every
//! removal was most of the planner's shrinking time, yet only the pairs
//! whose key could win matter: here the scan records which tests the
//! removal rule asks and the need vector each sees, and works out only
//! those of the keys above the best replica already known to be free to go,
//! highest first. Most of those take from a zone that still had more to
//! spare than the replica once every zone leaning on it was served; the
//! answer is then yes, and the shortfall the same float, without working
//! the residual out again.
//!
//! The removals are exactly the rule's, bit for bit: the rule's test adds a
//! replica's throughput to its zone's need and takes it off again, which in
//! floating point can move the need by an ulp, and later keys and tests see
//! that; the scan here makes the same two operations in the same order
//! whether or not the residual is then worked out. A property test checks
//! the removals and the need left against the rule written plainly.
//!
//! [`Scheduler::plan_replicas`]: crate::scheduler::Scheduler::plan_replicas

use std::cmp::Ordering;

use super::{EPS, ReplicaCounts, ReplicaGroup, Scratch, ServiceRequest};

/// A slot that held replicas when the shrink started (a shrink only takes
/// replicas away, so no other slot can hold any during it).
#[derive(Debug, Clone, Copy)]
struct Active {
    slot: usize,
    g: ReplicaGroup,
    t: f64,
    /// `zone × accelerators + tk`: the idle test's memo key.
    pair: usize,
}

/// Whether a replica may go as far as the removal rule has worked out.
#[derive(Debug, Clone, Copy, PartialEq)]
enum May {
    Yes,
    No,
    /// As idle test `k` of this step says.
    Test(usize),
}

/// A replica the step may remove, with the rule's key: most surplus first,
/// then the slowest replica, then the provider holding the most replicas,
/// then the lowest group.
#[derive(Debug, Clone, Copy)]
struct Entry {
    surplus: f64,
    neg_t: f64,
    on_provider: u32,
    g: ReplicaGroup,
    may: May,
}

impl Entry {
    fn cmp_key(&self, b: &Entry) -> Ordering {
        self.surplus
            .total_cmp(&b.surplus)
            .then(self.neg_t.total_cmp(&b.neg_t))
            .then(self.on_provider.cmp(&b.on_provider))
            .then(b.g.cmp(&self.g))
    }
}

/// An idle test the scan asked: the zone and throughput of the replica it
/// is about, and its answer once worked out.
#[derive(Debug, Clone, Copy)]
struct Test {
    zone: usize,
    t: f64,
    /// Where in `snaps` the need it saw starts (`usize::MAX`: the step's
    /// need, no add and take back having moved it before the test).
    snap: usize,
    answer: Option<bool>,
}

/// The shrink's buffers, kept across plans with the planner's others.
#[derive(Default)]
pub(crate) struct ShrinkScratch {
    active: Vec<Active>,
    entries: Vec<Entry>,
    tests: Vec<Test>,
    /// The need vector each test sees once an add and take back has moved
    /// the need this step, `zones` values per such test.
    snaps: Vec<f64>,
    /// The step's need, kept once an add and take back moves it.
    start: Vec<f64>,
    /// Per pair, the step that last asked its test and the test's index.
    test_of: Vec<(u32, usize)>,
    probe: Vec<f64>,
    /// The last shortfall worked out and the need it was worked out for
    /// (see [`ShrinkScratch::uncovered`]), with the spare capacity each
    /// zone had left once the short zones were served (see
    /// [`ShrinkScratch::spare_unused`]).
    last_need: Vec<f64>,
    last_short: Option<f64>,
    last_spare: Vec<f64>,
}

impl ShrinkScratch {
    /// [`Scratch::uncovered`] of `need`, or the last answer when `need` is,
    /// bit for bit, the last one asked: the test that let a replica go saw
    /// the need the next removal starts from (unless the rule's add and
    /// take back rounded), so the next step's shortfall is that test's.
    fn uncovered(
        last_need: &mut Vec<f64>,
        last_short: &mut Option<f64>,
        last_spare: &mut Vec<f64>,
        res: &mut Scratch,
        svc: &ServiceRequest,
        need: &[f64],
    ) -> f64 {
        if let Some(short) = *last_short
            && last_need.len() == need.len()
            && last_need
                .iter()
                .zip(need)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        {
            return short;
        }
        let short = res.uncovered(svc, need);
        last_need.clear();
        last_need.extend_from_slice(need);
        *last_short = Some(short);
        res.spare_left_into(last_spare);
        short
    }

    /// Whether taking a replica of throughput `t` from `zone`, at the need
    /// `start` the last shortfall was worked out for, leaves that shortfall
    /// as it is, bit for bit, without working it out again: when the zone
    /// keeps a surplus and had more than `t` to spare after serving every
    /// zone that leans on it, each share it gave stays whole, so every
    /// short zone's remainder is the same float. The margin stands for
    /// the rounding between the two runs (at most a few ulps per zone
    /// served, far below a billionth of the values). When it answers yes
    /// the memo is moved to the need with the replica gone, whose
    /// shortfall it then knows; no answer is a no, only a "work it out".
    fn spare_unused(
        last_need: &mut [f64],
        last_short: Option<f64>,
        last_spare: &mut [f64],
        start: &[f64],
        zone: usize,
        t: f64,
    ) -> bool {
        if last_short.is_none()
            || last_need.len() != start.len()
            || !last_need
                .iter()
                .zip(start)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        {
            return false;
        }
        let after = start[zone] + t;
        let margin = 1e-9 * (start[zone].abs() + t) + EPS;
        if after > 0.0 || last_spare[zone] < t + margin {
            return false;
        }
        last_need[zone] = after;
        // An estimate of the spare left at the new need, good to the
        // rounding the margin covers.
        last_spare[zone] -= t;
        true
    }
}

/// Removes replicas that serve nobody: one at a time, from the zone with
/// the most surplus, the slowest accelerator first, while the surplus
/// covers the replica and no zone it may serve is left short by its going,
/// never below `min_replicas` or `min_providers`. Above `max_replicas` it
/// removes regardless of demand. Each removal is pushed onto `removed`.
///
/// Out of line: inlined into the planner (as whole-program optimisation
/// does, one call per plan), its loops ran ~17% more instructions.
#[inline(never)]
pub(super) fn shrink(
    svc: &ServiceRequest,
    counts: &mut ReplicaCounts,
    need: &mut [f64],
    max: u32,
    removed: &mut Vec<ReplicaGroup>,
    res: &mut Scratch,
    sc: &mut ShrinkScratch,
) {
    let zones = need.len();
    // The memo belongs to one service's shrink.
    sc.last_short = None;
    sc.active.clear();
    for (slot, &n) in counts.n.iter().enumerate() {
        if n > 0 {
            let g = counts.group_at(slot);
            sc.active.push(Active {
                slot,
                g,
                t: svc.rps_of(g),
                pair: g.zone as usize * counts.tputs + g.tk as usize,
            });
        }
    }
    // Per pair, the step that last asked its test and the test's index:
    // stamped rather than cleared on every step.
    sc.test_of.clear();
    sc.test_of.resize(zones * counts.tputs, (0, 0));
    let mut step = 0u32;
    loop {
        let over = counts.total() > max;
        if !over && counts.total() <= svc.min_replicas {
            break;
        }
        step += 1;
        // When no zone is short, none leans on another's spare: a replica
        // whose zone has surplus for it serves nobody (the same answer the
        // residual gives, without working it out).
        let self_sufficient = need.iter().all(|&x| x <= 0.0);
        let providers = counts.providers();
        sc.entries.clear();
        sc.tests.clear();
        sc.snaps.clear();
        // Whether a test's add and take back has moved the need yet this
        // step: until one does, every test sees the step's need, which is
        // then kept in `start` (and `need` itself until then).
        let mut moved = false;
        let mut best: Option<Entry> = None;
        for a in &sc.active {
            if counts.n[a.slot] == 0 {
                continue;
            }
            let z = a.g.zone as usize;
            let surplus = -need[z];
            let may = if a.t <= surplus + EPS {
                if self_sufficient {
                    May::Yes
                } else if sc.test_of[a.pair].0 == step {
                    May::Test(sc.test_of[a.pair].1)
                } else {
                    // The rule's test, asked here for the first time this
                    // step: the need it sees is noted, and its add and take
                    // back are made now, as the rule makes them.
                    let k = sc.tests.len();
                    sc.test_of[a.pair] = (step, k);
                    let snap = if moved {
                        let at = sc.snaps.len();
                        sc.snaps.extend_from_slice(need);
                        at
                    } else {
                        usize::MAX
                    };
                    sc.tests.push(Test {
                        zone: z,
                        t: a.t,
                        snap,
                        answer: None,
                    });
                    let before = need[z];
                    need[z] += a.t;
                    need[z] -= a.t;
                    if !moved && need[z].to_bits() != before.to_bits() {
                        moved = true;
                        sc.start.clear();
                        sc.start.extend_from_slice(need);
                        sc.start[z] = before;
                    }
                    May::Test(k)
                }
            } else {
                May::No
            };
            let on_provider = counts.on_provider(a.g.provider);
            let last_of_needed_provider = on_provider == 1 && providers <= svc.min_providers;
            let may = if over {
                May::Yes
            } else if may == May::No || last_of_needed_provider {
                continue;
            } else {
                may
            };
            let e = Entry {
                surplus,
                neg_t: -a.t,
                on_provider,
                g: a.g,
                may,
            };
            if may == May::Yes {
                if best.is_none_or(|b| e.cmp_key(&b).is_gt()) {
                    best = Some(e);
                }
            } else {
                sc.entries.push(e);
            }
        }
        // Then any replica whose test is pending with a higher key than
        // the best known free to go, highest first, until one passes.
        let mut short_now: Option<f64> = None;
        loop {
            let mut top: Option<usize> = None;
            for (i, e) in sc.entries.iter().enumerate() {
                if matches!(e.may, May::Test(_))
                    && best.is_none_or(|b| e.cmp_key(&b).is_gt())
                    && top.is_none_or(|t| e.cmp_key(&sc.entries[t]).is_gt())
                {
                    top = Some(i);
                }
            }
            let Some(i) = top else { break };
            let May::Test(k) = sc.entries[i].may else {
                unreachable!("only pending entries are picked")
            };
            let answer = match sc.tests[k].answer {
                Some(a) => a,
                None => {
                    // The step's need, as the first test saw it.
                    let start: &[f64] = if moved { &sc.start } else { need };
                    let now = *short_now.get_or_insert_with(|| {
                        ShrinkScratch::uncovered(
                            &mut sc.last_need,
                            &mut sc.last_short,
                            &mut sc.last_spare,
                            res,
                            svc,
                            start,
                        )
                    });
                    let Test { zone, t, snap, .. } = sc.tests[k];
                    // Most tests of a diurnal shrink take from a zone whose
                    // spare nobody uses: known to pass without a residual.
                    let a = if snap == usize::MAX
                        && ShrinkScratch::spare_unused(
                            &mut sc.last_need,
                            sc.last_short,
                            &mut sc.last_spare,
                            start,
                            zone,
                            t,
                        ) {
                        true
                    } else {
                        let seen = if snap == usize::MAX {
                            start
                        } else {
                            &sc.snaps[snap..snap + zones]
                        };
                        sc.probe.clear();
                        sc.probe.extend_from_slice(seen);
                        sc.probe[zone] += t;
                        let short = ShrinkScratch::uncovered(
                            &mut sc.last_need,
                            &mut sc.last_short,
                            &mut sc.last_spare,
                            res,
                            svc,
                            &sc.probe,
                        );
                        short <= now + EPS
                    };
                    sc.tests[k].answer = Some(a);
                    a
                }
            };
            if answer {
                best = Some(sc.entries[i]);
                break;
            }
            sc.entries[i].may = May::No;
        }
        let Some(b) = best else { break };
        let g = b.g;
        counts.remove(g);
        need[g.zone as usize] += svc.rps_of(g);
        removed.push(g);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::request::{Request, WorkKind};

    /// The removal rule written plainly: every slot scanned and every
    /// (zone, accelerator) pair's idle test worked out on every removal.
    fn shrink_plain(
        svc: &ServiceRequest,
        counts: &mut ReplicaCounts,
        need: &mut [f64],
        max: u32,
        removed: &mut Vec<ReplicaGroup>,
    ) {
        let mut scratch = Scratch::default();
        let mut idle_of: Vec<Option<bool>> = Vec::new();
        loop {
            let over = counts.total() > max;
            if !over && counts.total() <= svc.min_replicas {
                break;
            }
            let self_sufficient = need.iter().all(|&x| x <= 0.0);
            let short_now = if self_sufficient {
                0.0
            } else {
                scratch.uncovered(svc, need)
            };
            idle_of.clear();
            idle_of.resize(need.len() * counts.tputs, None);
            let mut best: Option<(f64, f64, u32, ReplicaGroup)> = None;
            for (i, &n) in counts.n.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let g = counts.group_at(i);
                let t = svc.rps_of(g);
                let surplus = -need[g.zone as usize];
                let pair = g.zone as usize * counts.tputs + g.tk as usize;
                let idle = t <= surplus + EPS
                    && (self_sufficient
                        || *idle_of[pair].get_or_insert_with(|| {
                            need[g.zone as usize] += t;
                            let short = scratch.uncovered(svc, need);
                            need[g.zone as usize] -= t;
                            short <= short_now + EPS
                        }));
                let last_of_needed_provider =
                    counts.on_provider(g.provider) == 1 && counts.providers() <= svc.min_providers;
                if !over && (!idle || last_of_needed_provider) {
                    continue;
                }
                let key = (surplus, -t, counts.on_provider(g.provider), g);
                let better = best.as_ref().is_none_or(|b| {
                    key.0
                        .total_cmp(&b.0)
                        .then(key.1.total_cmp(&b.1))
                        .then(key.2.cmp(&b.2))
                        .then(b.3.cmp(&key.3))
                        .is_gt()
                });
                if better {
                    best = Some(key);
                }
            }
            let Some((_, _, _, g)) = best else { break };
            counts.remove(g);
            need[g.zone as usize] += svc.rps_of(g);
            removed.push(g);
        }
    }

    /// A service and replica counts over `zones` zones, `tputs.len()`
    /// accelerators and `providers` providers.
    fn service(
        zones: usize,
        tputs: &[f64],
        near: Vec<Vec<u32>>,
        min_replicas: u32,
        min_providers: u32,
    ) -> ServiceRequest {
        ServiceRequest {
            base_id: 0,
            replica: Request {
                id: 0,
                kind: WorkKind::Inference,
                team: None,
                priority: 0,
                gpus: 8,
                accels: Default::default(),
                sites: None,
                spot_ok: false,
                preemptible: false,
                checkpoint_interval_s: 0,
                gpu_milli: 1000,
                cpu_milli_per_gpu: 0,
                memory_mib_per_gpu: 0,
            },
            throughput: tputs
                .iter()
                .enumerate()
                .map(|(i, &t)| (i as u16, t))
                .collect(),
            demand: Vec::new(),
            min_providers,
            max_share_per_provider: 1.0,
            min_replicas,
            max_replicas: u32::MAX,
            latency_slo_ms: 0.0,
            zones,
            near,
        }
    }

    /// Throughputs with few bits (as the examples have) and with many (so
    /// that the idle test's add and take back round).
    fn tput() -> impl Strategy<Value = f64> {
        prop_oneof![
            (1u32..30).prop_map(f64::from),
            (1.0f64..30.0),
            (0.001f64..0.01),
        ]
    }

    fn case() -> impl Strategy<Value = (ServiceRequest, ReplicaCounts, Vec<f64>, u32)> {
        (1usize..6, prop::collection::vec(tput(), 1..4), 1usize..5).prop_flat_map(
            |(zones, tputs, providers)| {
                let slots = zones * tputs.len() * providers;
                (
                    prop::collection::vec(prop::collection::vec(0u32..zones as u32, 0..4), zones),
                    prop::collection::vec(prop_oneof![Just(0u32), 0u32..4, 0u32..60], slots),
                    prop::collection::vec(
                        // Some zones with the same need, so that the
                        // rule's ties between zones are asked.
                        prop_oneof![
                            (-600.0f64..100.0),
                            (-3.0f64..3.0),
                            (-1e7f64..1e3),
                            Just(-60.0),
                            Just(0.0)
                        ],
                        zones,
                    ),
                    0u32..40,
                    0u32..5,
                    0u32..200,
                )
                    .prop_map(
                        move |(near, n, need, min_replicas, min_providers, max)| {
                            // Near lists as the service builds them: other zones,
                            // each once.
                            let near = near
                                .into_iter()
                                .enumerate()
                                .map(|(z, mut ys)| {
                                    ys.retain(|&y| y as usize != z);
                                    ys.dedup();
                                    let mut seen = Vec::new();
                                    ys.retain(|y| {
                                        let new = !seen.contains(y);
                                        seen.push(*y);
                                        new
                                    });
                                    ys
                                })
                                .collect();
                            let svc = service(zones, &tputs, near, min_replicas, min_providers);
                            let mut counts = ReplicaCounts {
                                tputs: tputs.len(),
                                providers,
                                n: vec![0; slots],
                                per_provider: vec![0; providers],
                                total: 0,
                            };
                            for (i, &k) in n.iter().enumerate() {
                                let g = counts.group_at(i);
                                counts.add_n(g, k);
                            }
                            (svc, counts, need, max)
                        },
                    )
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The removals, the counts and the need left, to the bit, are the
        /// plain rule's.
        #[test]
        fn shrink_is_the_plain_rule((svc, counts, need, max) in case()) {
            let (mut c1, mut n1, mut r1) = (counts.clone(), need.clone(), Vec::new());
            shrink_plain(&svc, &mut c1, &mut n1, max, &mut r1);
            let (mut c2, mut n2, mut r2) = (counts, need, Vec::new());
            let mut sc = ShrinkScratch::default();
            shrink(&svc, &mut c2, &mut n2, max, &mut r2, &mut Scratch::default(), &mut sc);
            prop_assert_eq!(&r1, &r2);
            prop_assert_eq!(&c1, &c2);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&n1), bits(&n2));
            // The buffers carry nothing from one shrink to the next.
            let (mut c3, mut n3, mut r3) = (counts_again(&c1), n1.clone(), Vec::new());
            let (mut c4, mut n4, mut r4) = (c3.clone(), n1, Vec::new());
            shrink_plain(&svc, &mut c3, &mut n3, max / 2, &mut r3);
            shrink(&svc, &mut c4, &mut n4, max / 2, &mut r4, &mut Scratch::default(), &mut sc);
            prop_assert_eq!(r3, r4);
            prop_assert_eq!(bits(&n3), bits(&n4));
        }
    }

    /// Zone 0 has 15 requests per second to spare and serves zone 1, short
    /// by `short_1`: a replica of 8 may go only while what zone 1 leaves of
    /// that spare covers it (the test the residual would answer, here
    /// answered from the spare left over).
    fn spare_case(short_1: f64) -> Vec<ReplicaGroup> {
        let svc = service(2, &[8.0], vec![vec![], vec![0]], 0, 0);
        let mut counts = ReplicaCounts {
            tputs: 1,
            providers: 1,
            n: vec![0; 2],
            per_provider: vec![0; 1],
            total: 0,
        };
        counts.add_n(counts.group_at(0), 2);
        let need = vec![-15.0, short_1];
        let (mut c1, mut n1, mut r1) = (counts.clone(), need.clone(), Vec::new());
        shrink_plain(&svc, &mut c1, &mut n1, u32::MAX, &mut r1);
        let (mut c2, mut n2, mut r2) = (counts, need, Vec::new());
        let mut sc = ShrinkScratch::default();
        shrink(
            &svc,
            &mut c2,
            &mut n2,
            u32::MAX,
            &mut r2,
            &mut Scratch::default(),
            &mut sc,
        );
        assert_eq!(r1, r2);
        assert_eq!(n1, n2);
        r2
    }

    #[test]
    fn a_replica_whose_spare_a_neighbour_needs_stays() {
        // 15 - 10 = 5 left over: taking 8 would leave zone 1 short by 3.
        assert!(spare_case(10.0).is_empty());
        // 15 - 2 = 13 left over: one replica of 8 serves nobody.
        assert_eq!(spare_case(2.0).len(), 1);
    }

    /// `c` with one more replica in every slot that has none, so that a
    /// second shrink on the same buffers sees other slots.
    fn counts_again(c: &ReplicaCounts) -> ReplicaCounts {
        let mut c = c.clone();
        for i in 0..c.n.len() {
            if c.n[i] == 0 {
                let g = c.group_at(i);
                c.add(g);
            }
        }
        c
    }
}
