//! Contracts that decisions move: a provider commitment is burned by spend
//! of any price model at that provider, so where the scheduler sends work
//! changes how much of it is burned. On the same demand and the same world,
//! the default policy (which scores a commitment behind schedule by its
//! projected dollar shortfall) burns more of it than first-fit does.

use gf_sched::Policy;
use gf_sim::{Sim, SimOptions, Summary};

/// Two equally priced on-demand clusters: GCP's first in the file, AWS's
/// under a commitment far behind schedule (it started a year ago and nothing
/// in this window can catch it up).
const BEHIND: &str = r#"
version = 1
[[contract]]
name = "aws-commit"
provider = "aws"
committed_usd = 50_000_000.0
start = "2025-06-01"
term_months = 24
[[team]]
name = "r"
[[provider]]
name = "gcp"
[[provider.region]]
name = "central"
power_mw = 10.0
zone = "us"
[[provider.region.cluster]]
name = "a3"
accelerator = "h100"
domains = 60
price = { model = "on-demand", usd_per_gpu_hour = 3.0 }
[[provider]]
name = "aws"
[[provider.region]]
name = "east"
power_mw = 10.0
zone = "us"
[[provider.region.cluster]]
name = "p5"
accelerator = "h100"
domains = 60
price = { model = "on-demand", usd_per_gpu_hour = 3.0 }
[scenario]
start = "2026-01-01"
horizon_days = 20
[[scenario.training]]
name = "res"
team = "r"
arrivals_per_day = 40
accelerators = ["h100"]
sizes = [ { gpus = 8, share = 0.7 }, { gpus = 64, share = 0.3 } ]
hours_median = 6
[scenario.failures]
domain_failures_per_domain_year = 0
cluster_outages_per_year = 0
region_outages_per_year = 0
"#;

fn run(policy: &str) -> Summary {
    let d = gf_model::parse_document("behind.toml", BEHIND).unwrap_or_else(|e| panic!("{e:?}"));
    let mut sim = Sim::new(
        &d,
        &SimOptions {
            seed: 11,
            policy: Policy::named(policy).unwrap(),
            until: None,
        },
    )
    .unwrap();
    sim.run(&mut |_| {}).unwrap();
    sim.summary()
}

#[test]
fn the_default_policy_burns_more_of_a_commitment_behind_schedule_than_first_fit() {
    let (d, f) = (run("default"), run("first-fit"));
    // The same demand reached both.
    assert_eq!(d.jobs_submitted, f.jobs_submitted);
    let (sd, sf) = (
        d.contracts["aws-commit"].spent_usd,
        f.contracts["aws-commit"].spent_usd,
    );
    assert!(sd > 0.0, "on-demand spend at AWS burns its commitment");
    assert!(
        sd > 1.5 * sf,
        "default burned {sd} USD of the commitment behind schedule, first-fit {sf}"
    );
}
