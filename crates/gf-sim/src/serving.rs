//! What a request to an inference service really waits: the twin's truth
//! about latency, from where the world's serving replicas are and how loaded
//! they are.
//!
//! Each replica is an M/M/c queue: requests arrive as a Poisson process,
//! each holds one of the replica's `c` serving slots for an exponential time
//! of mean `service_ms` (the service spec's), and `c` follows from Little's
//! law as the throughput times the service time, so a replica at full load
//! serves exactly its throughput. A request's latency is the network round
//! trip from its users' zone to the replica's zone (the fleet's `[latency]`
//! table), plus its wait for a slot, plus its service; the share of requests
//! within the SLO has a closed form ([`p_within`]).
//!
//! Where requests go is the load balancer's doing, which is part of the
//! world the controller does not run: each zone's requests go to their own
//! zone's replicas up to [`ROUTE_UTILIZATION`], what is left spills to the
//! nearest zones that still have room below it (only zones whose round trip
//! leaves part of the SLO), and whatever still finds no room queues at home,
//! or at the nearest zone with any replica.
//!
//! A zone asked for more than its capacity has no steady state: its queue
//! grows. That is followed as a backlog carried from minute to minute (a
//! fluid queue): it grows by the excess, drains at the zone's capacity once
//! demand falls back, and while there is one every slot is busy and a
//! request first waits for the backlog ahead of it (first come, first
//! served), then for its own service. So a brief burst over capacity delays
//! requests by seconds. The backlog is bounded by what the zone can start
//! within the SLO: a request beyond it would miss anyway, and the balancer
//! sheds it (deadline-aware admission), so it counts as missed.

use gf_sched::Topology;
use smallvec::SmallVec;

/// A number per zone.
type Small = SmallVec<[f64; 16]>;

/// Utilization up to which a load balancer keeps a zone's requests at home
/// before it spills them to another zone (an assumption: autoscalers and
/// balancers commonly target 80-90% of a replica's capacity).
pub const ROUTE_UTILIZATION: f64 = 0.9;

/// Utilization from which a zone's queue is followed as a backlog rather
/// than by the M/M/c steady state.
const SATURATED: f64 = 0.999;

/// The Erlang C probability that a request waits for a slot, for `c` slots
/// and offered load `a = λ/μ` (< c), by the stable Erlang B recursion.
///
/// The recursion `B_k = a·B_{k−1} / (k + a·B_{k−1})` is run on `1/B_k =
/// 1 + (k/a)·(1/B_{k−1})`: the same quantity (rounded differently) without
/// a division in the chain each step waits on, 2.8× faster per call.
/// `attain` asks it for every zone and accelerator every simulated minute,
/// with tens of slots a replica: at 1M GPUs that is a fifth of the year's
/// instructions. A `1/B` that overflows is a `B` of zero, the limit the
/// first form underflows to.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if a <= 0.0 {
        return 0.0;
    }
    let inv_a = 1.0 / a;
    let mut inv_b = 1.0;
    for k in 1..=c {
        inv_b = 1.0 + inv_b * (k as f64 * inv_a);
    }
    let b = 1.0 / inv_b;
    let rho = a / c as f64;
    if rho >= 1.0 {
        return 1.0;
    }
    b / (1.0 - rho * (1.0 - b))
}

/// The probability that a request's time in an M/M/c queue (wait plus
/// service) is at most `t_s` seconds, with `c` slots each serving at rate
/// `mu` per second and arrivals at `lambda` per second (stable: λ < cμ).
///
/// The wait is 0 with probability 1 − C and exponential at rate cμ − λ with
/// probability C (Erlang C); the service is exponential at rate μ; the sum
/// of the two exponentials is hypoexponential.
pub fn p_within(c: u32, mu: f64, lambda: f64, t_s: f64) -> f64 {
    if t_s <= 0.0 {
        return 0.0;
    }
    Queue::new(c, mu, lambda).p_within(t_s)
}

/// Mean time in an M/M/c queue, seconds: the Erlang C wait plus the service.
pub fn mean_sojourn_s(c: u32, mu: f64, lambda: f64) -> f64 {
    Queue::new(c, mu, lambda).mean_s
}

/// What the steady-state latency of one accelerator's replicas in one zone
/// depends on, whichever zone the requests come from.
#[derive(Debug, Clone, Copy)]
struct Queue {
    mu: f64,
    /// `cμ − λ`; at or below zero the queue is unstable.
    theta: f64,
    /// The Erlang C probability of waiting for a slot.
    wait: f64,
    /// [`mean_sojourn_s`].
    mean_s: f64,
}

impl Queue {
    fn new(c: u32, mu: f64, lambda: f64) -> Queue {
        let theta = c as f64 * mu - lambda;
        if theta <= 0.0 {
            return Queue {
                mu,
                theta,
                wait: 1.0,
                mean_s: f64::INFINITY,
            };
        }
        let wait = erlang_c(c, lambda / mu);
        Queue {
            mu,
            theta,
            wait,
            mean_s: wait / theta + 1.0 / mu,
        }
    }

    /// [`p_within`] of this queue: its wait and `theta` depend on the zone
    /// and accelerator only, the time budget on the users' zone too, so
    /// `attain` works a queue out once per zone and accelerator rather than
    /// once per pair of zones.
    fn p_within(&self, t_s: f64) -> f64 {
        if t_s <= 0.0 || self.theta <= 0.0 {
            return 0.0;
        }
        let (mu, theta, wait) = (self.mu, self.theta, self.wait);
        let served_after = (-mu * t_s).exp();
        // P(Exp(θ) + Exp(μ) > t).
        let both_after = if ((theta - mu) / mu).abs() < 1e-9 {
            (1.0 + mu * t_s) * served_after
        } else {
            (theta * served_after - mu * (-theta * t_s).exp()) / (theta - mu)
        };
        let over = (1.0 - wait) * served_after + wait * both_after;
        (1.0 - over).clamp(0.0, 1.0)
    }
}

/// Serving slots of a replica of `throughput` requests per second whose
/// requests take `service_s` each (Little's law), at least one.
pub fn slots(throughput: f64, service_s: f64) -> u32 {
    (throughput * service_s).round().max(1.0) as u32
}

/// One service as the latency model sees it.
#[derive(Debug, Clone)]
pub struct ServiceModel {
    /// Requests per second of one replica, per accelerator ordinal.
    pub throughput: Vec<f64>,
    /// Mean service time of one request, seconds, per accelerator ordinal.
    pub service_s: Vec<f64>,
    /// The latency objective, seconds.
    pub slo_s: f64,
}

impl ServiceModel {
    /// The model of a service spec on `topo`'s accelerators.
    pub fn new(topo: &Topology, s: &gf_model::ServiceSpec) -> Self {
        let throughput: Vec<f64> = topo
            .accels
            .iter()
            .map(|a| s.throughput.get(&a.name).copied().unwrap_or(0.0))
            .collect();
        let service_s = throughput
            .iter()
            .map(|&t| match s.service_ms {
                Some(ms) => ms / 1000.0,
                None if t > 0.0 => 1.0 / t,
                None => 0.0,
            })
            .collect();
        ServiceModel {
            throughput,
            service_s,
            slo_s: s.latency_slo_ms / 1000.0,
        }
    }
}

/// What the requests of one instant got.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Attained {
    /// Requests per second asked for.
    pub demand_rps: f64,
    /// Requests per second answered within the SLO.
    pub within_rps: f64,
    /// Requests per second times their mean latency, seconds, for a
    /// demand-weighted mean.
    pub latency_rps_s: f64,
    /// Requests per second admitted and served, late or not.
    pub queued_rps: f64,
}

/// The share of requests within the SLO over the next `dt_s` seconds when
/// users of each zone ask `demand[z]` requests per second and
/// `serving[z × accels + a]` replicas of accelerator `a` serve in zone `z`;
/// `backlog[z]` is the requests queued beyond the steady state in zone `z`,
/// carried over from the last call and updated for the next.
pub fn attain(
    topo: &Topology,
    m: &ServiceModel,
    serving: &[u32],
    demand: &[f64],
    backlog: &mut [f64],
    dt_s: f64,
) -> Attained {
    let nz = topo.zones.len();
    let na = m.throughput.len();
    // Called every simulated minute for every service: the few numbers per
    // zone live on the stack for fleets of up to 16 zones.
    let cap: Small = (0..nz)
        .map(|y| {
            (0..na)
                .map(|a| serving.get(y * na + a).copied().unwrap_or(0) as f64 * m.throughput[a])
                .sum()
        })
        .collect();
    // flows[z × nz + y]: requests per second of zone z's users served in
    // zone y.
    let mut flows: SmallVec<[f64; 64]> = smallvec::smallvec![0.0f64; nz * nz];
    let mut load: Small = smallvec::smallvec![0.0f64; nz];
    let mut rest: Small = (0..nz)
        .map(|z| demand.get(z).copied().unwrap_or(0.0).max(0.0))
        .collect();
    let mut queues: SmallVec<[Option<(f64, f64, Queue)>; 4]> = SmallVec::new();
    for z in 0..nz {
        let x = rest[z].min(cap[z] * ROUTE_UTILIZATION);
        flows[z * nz + z] += x;
        load[z] += x;
        rest[z] -= x;
    }
    let slo_ms = m.slo_s * 1000.0;
    for z in 0..nz {
        if rest[z] <= 0.0 {
            continue;
        }
        let mut ys: SmallVec<[usize; 16]> = (0..nz)
            .filter(|&y| y != z && topo.rtt_ms(z as u32, y as u32) < slo_ms)
            .collect();
        ys.sort_by(|&a, &b| {
            topo.rtt_ms(z as u32, a as u32)
                .total_cmp(&topo.rtt_ms(z as u32, b as u32))
                .then(a.cmp(&b))
        });
        for y in ys {
            let room = (cap[y] * ROUTE_UTILIZATION - load[y]).max(0.0);
            let x = rest[z].min(room);
            flows[z * nz + y] += x;
            load[y] += x;
            rest[z] -= x;
            if rest[z] <= 0.0 {
                break;
            }
        }
    }
    for z in 0..nz {
        if rest[z] <= 0.0 {
            continue;
        }
        // No room anywhere within reach: queue at home, or at the nearest
        // zone with any replica.
        let home = if cap[z] > 0.0 {
            Some(z)
        } else {
            (0..nz).filter(|&y| cap[y] > 0.0).min_by(|&a, &b| {
                topo.rtt_ms(z as u32, a as u32)
                    .total_cmp(&topo.rtt_ms(z as u32, b as u32))
                    .then(a.cmp(&b))
            })
        };
        if let Some(y) = home {
            flows[z * nz + y] += rest[z];
            load[y] += rest[z];
        }
    }
    let mut out = Attained {
        demand_rps: demand.iter().map(|d| d.max(0.0)).sum(),
        ..Attained::default()
    };
    for y in 0..nz {
        let before = backlog.get(y).copied().unwrap_or(0.0);
        if cap[y] <= 0.0 {
            // No replica left: what was queued here is gone with them.
            if let Some(b) = backlog.get_mut(y) {
                *b = 0.0;
            }
            continue;
        }
        let drain = cap[y] * SATURATED;
        let grown = (before + (load[y] - drain) * dt_s).max(0.0);
        let after = grown.min(drain * m.slo_s);
        if let Some(b) = backlog.get_mut(y) {
            *b = after;
        }
        if load[y] <= 0.0 {
            continue;
        }
        // The share of the zone's requests admitted (the rest are shed).
        let kept = 1.0 - (grown - after) / dt_s.max(1e-9) / load[y];
        // With a backlog every slot is busy: a request waits for the
        // backlog ahead of it (its mean over the interval) at the zone's
        // full rate, then for its own service.
        let ahead_s = if before > 0.0 || after > 0.0 {
            Some((before + after) / 2.0 / drain)
        } else {
            None
        };
        let rho = (load[y] / cap[y]).min(SATURATED);
        // Each accelerator's queue in zone y is the same for requests from
        // every zone: worked out once (a `None` has no replica serving).
        queues.clear();
        queues.extend((0..na).map(|a| {
            let n = serving.get(y * na + a).copied().unwrap_or(0);
            if n == 0 || m.throughput[a] <= 0.0 {
                return None;
            }
            let c = slots(m.throughput[a], m.service_s[a]);
            let mu = m.throughput[a] / c as f64;
            let lambda = rho * m.throughput[a];
            // Replicas of a zone share its load by capacity, so every one
            // runs at the zone's utilization.
            let share = n as f64 * m.throughput[a] / cap[y];
            Some((share, mu, Queue::new(c, mu, lambda)))
        }));
        for (z, row) in flows.chunks_exact(nz).enumerate() {
            let x = row[y];
            if x <= 0.0 {
                continue;
            }
            let budget_s = m.slo_s - topo.rtt_ms(z as u32, y as u32) / 1000.0;
            let rtt_s = topo.rtt_ms(z as u32, y as u32) / 1000.0;
            for &(share, mu, q) in queues.iter().flatten() {
                let xs = x * share * kept;
                let (p, mean_s) = match ahead_s {
                    Some(w) => (
                        if budget_s > w {
                            1.0 - (-mu * (budget_s - w)).exp()
                        } else {
                            0.0
                        },
                        w + 1.0 / mu,
                    ),
                    None => (q.p_within(budget_s), q.mean_s),
                };
                out.within_rps += xs * p;
                out.latency_rps_s += xs * (rtt_s + mean_s);
                out.queued_rps += xs;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_slot_is_the_m_m_1_sojourn() {
        // M/M/1: the time in system is exponential at rate μ − λ.
        let (mu, lambda, t): (f64, f64, f64) = (10.0, 7.0, 0.4);
        let exact = 1.0 - (-(mu - lambda) * t).exp();
        assert!((p_within(1, mu, lambda, t) - exact).abs() < 1e-12);
        assert!((mean_sojourn_s(1, mu, lambda) - 1.0 / (mu - lambda)).abs() < 1e-12);
    }

    /// One zone, one H100 replica of 10 requests/s and 500 ms requests.
    fn one_replica(slo_ms: f64) -> (Topology, ServiceModel) {
        let src = format!(
            "version = 1\n[[provider]]\nname = \"p\"\n[[provider.region]]\nname = \"r\"\npower_mw = 1.0\nzone = \"z\"\n\
             [[provider.region.cluster]]\nname = \"c\"\naccelerator = \"h100\"\ndomains = 1\n\
             price = {{ model = \"on-demand\", usd_per_gpu_hour = 1.0 }}\n\
             [[service]]\nname = \"s\"\nteam = \"t\"\nmodel = \"m\"\ngpus_per_replica = 8\n\
             throughput = {{ h100 = 10.0 }}\nservice_ms = 500.0\ndemand = [{{ zone = \"z\", rps = 1.0 }}]\n\
             latency_slo_ms = {slo_ms}\n"
        );
        let doc = gf_model::parse_document("t.toml", &src).unwrap();
        let topo = Topology::from_document(&doc);
        let m = ServiceModel::new(&topo, &doc.services[0]);
        (topo, m)
    }

    #[test]
    fn a_burst_over_capacity_queues_and_drains_and_a_long_one_is_shed() {
        let (topo, m) = one_replica(30_000.0);
        let serving = [1u32; 16];
        let mut b = vec![0.0];
        // A minute at 12 requests/s against 10: about 120 queue up, each
        // waiting ~6 s, well within 30 s.
        let got = attain(
            &topo,
            &m,
            &serving[..topo.accels.len()],
            &[12.0],
            &mut b,
            60.0,
        );
        assert!(b[0] > 100.0, "{b:?}");
        assert!(got.within_rps > 0.99 * 12.0, "{got:?}");
        // Demand falls back: the backlog drains within the minute.
        attain(
            &topo,
            &m,
            &serving[..topo.accels.len()],
            &[5.0],
            &mut b,
            60.0,
        );
        assert_eq!(b[0], 0.0);
        // With a 3 s SLO the balancer admits only what can start in time.
        let (topo, m) = one_replica(3_000.0);
        let mut b = vec![0.0];
        let got = attain(
            &topo,
            &m,
            &serving[..topo.accels.len()],
            &[12.0],
            &mut b,
            60.0,
        );
        assert!(b[0] <= 10.0 * 3.0, "{b:?}");
        assert!(got.within_rps < 0.9 * 12.0, "{got:?}");
    }

    #[test]
    fn erlang_c_matches_the_textbook_value() {
        // Two servers at offered load 1 (ρ = 0.5): C = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
    }
}
