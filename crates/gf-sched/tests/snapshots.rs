//! Snapshot tests: placements rendered as text through one `check` helper,
//! so a change in behaviour shows up as a readable diff.

use expect_test::{Expect, expect};
use gf_model::{JobSpec, PriceModel};
use gf_testkit::{check_placements, fleet, job};

fn two_clouds() -> gf_model::Document {
    fleet()
        .provider("aws")
        .region("east", 20.0, "us-east")
        .cluster_with("nvl", "gb200", 12, PriceModel::Reserved, 4.0, Some(4))
        .cluster_with("hgx", "h100", 16, PriceModel::OnDemand, 2.0, None)
        .provider("azure")
        .region("west", 20.0, "us-west")
        .cluster_with("nvl", "gb200", 8, PriceModel::OnDemand, 3.0, Some(4))
        .build()
}

fn check(jobs: &[JobSpec], policy: &str, expect: Expect) {
    expect.assert_eq(&check_placements(&two_clouds(), jobs, policy));
}

#[test]
fn small_jobs_best_fit_one_domain_and_keep_whole_domains_free() {
    check(
        &[
            job("a").gpus(40).accels(&["gb200"]).build(),
            job("b").gpus(30).accels(&["gb200"]).build(),
            job("c").gpus(30).accels(&["gb200"]).build(),
        ],
        "default",
        expect![[r#"
            a: placed: 40 GPUs on aws/east/nvl in 1 domain (0 whole) across 1 fabric block
              3 clusters considered, 2 feasible; rejected: accelerator not accepted 1
              domains #11:40
            b: placed: 30 GPUs on aws/east/nvl in 1 domain (0 whole) across 1 fabric block
              3 clusters considered, 2 feasible; rejected: accelerator not accepted 1
              domains #11:30
            c: placed: 30 GPUs on aws/east/nvl in 1 domain (0 whole) across 1 fabric block
              3 clusters considered, 2 feasible; rejected: accelerator not accepted 1
              domains #10:30
        "#]],
    );
}

#[test]
fn large_gang_takes_whole_domains_from_fewest_blocks() {
    check(
        &[
            job("big").gpus(288).accels(&["gb200"]).build(),
            job("bigger").gpus(500).accels(&["gb200"]).build(),
            job("too-big").gpus(1000).accels(&["gb200"]).build(),
        ],
        "default",
        expect![[r#"
            big: placed: 288 GPUs on aws/east/nvl in 4 domains (4 whole) across 1 fabric block
              3 clusters considered, 2 feasible; rejected: accelerator not accepted 1
              domains #0-3:72
            bigger: placed: 500 GPUs on aws/east/nvl in 7 domains (6 whole) across 2 fabric blocks
              3 clusters considered, 2 feasible; rejected: accelerator not accepted 1
              domains #4-9:72 #10:68
            too-big: no fit
              3 clusters considered, 0 feasible; rejected: not enough GPUs online 2, accelerator not accepted 1
        "#]],
    );
}

/// First-fit takes the file's first cluster; cheapest the lowest marginal
/// price, which for reserved capacity (paid whether used or not) is zero, so
/// here it takes the reserved rack too, where a list-price view would have
/// sent it to the cheaper on-demand one; best-fit the tightest fit.
#[test]
fn named_policies_choose_by_their_own_rule() {
    let jobs = [job("x").gpus(72).accels(&["gb200", "h100"]).build()];
    check(
        &jobs,
        "first-fit",
        expect![[r#"
            x: placed: 72 GPUs on aws/east/nvl in 1 domain (1 whole) across 1 fabric block
              3 clusters considered, 3 feasible
              domains #11:72
        "#]],
    );
    check(
        &jobs,
        "cheapest",
        expect![[r#"
            x: placed: 72 GPUs on aws/east/nvl in 1 domain (1 whole) across 1 fabric block
              3 clusters considered, 3 feasible
              domains #11:72
        "#]],
    );
    check(
        &jobs,
        "best-fit",
        expect![[r#"
            x: placed: 72 GPUs on aws/east/hgx in 9 domains (9 whole) across 1 fabric block
              3 clusters considered, 3 feasible
              domains #0-8:8
        "#]],
    );
}

#[test]
fn preemption_picks_victims_that_lose_least() {
    // Fill the reserved GB200 cluster with preemptible work, then ask for a
    // high-priority gang restricted to AWS.
    let mut jobs: Vec<JobSpec> = (0..6)
        .map(|i| {
            job(&format!("fill{i}"))
                .gpus(144)
                .accels(&["gb200"])
                .providers(&["aws"])
                .priority(10)
                .build()
        })
        .collect();
    jobs[2].preemptible = false;
    jobs.push(
        job("urgent")
            .gpus(288)
            .accels(&["gb200"])
            .providers(&["aws"])
            .priority(99)
            .build(),
    );
    check(
        &jobs,
        "default",
        expect![[r#"
            fill0: placed: 144 GPUs on aws/east/nvl in 2 domains (2 whole) across 1 fabric block
              3 clusters considered, 1 feasible; rejected: accelerator not accepted 1, provider/region not allowed 1
              domains #0-1:72
            fill1: placed: 144 GPUs on aws/east/nvl in 2 domains (2 whole) across 1 fabric block
              3 clusters considered, 1 feasible; rejected: accelerator not accepted 1, provider/region not allowed 1
              domains #2-3:72
            fill2: placed: 144 GPUs on aws/east/nvl in 2 domains (2 whole) across 1 fabric block
              3 clusters considered, 1 feasible; rejected: accelerator not accepted 1, provider/region not allowed 1
              domains #4-5:72
            fill3: placed: 144 GPUs on aws/east/nvl in 2 domains (2 whole) across 1 fabric block
              3 clusters considered, 1 feasible; rejected: accelerator not accepted 1, provider/region not allowed 1
              domains #6-7:72
            fill4: placed: 144 GPUs on aws/east/nvl in 2 domains (2 whole) across 1 fabric block
              3 clusters considered, 1 feasible; rejected: accelerator not accepted 1, provider/region not allowed 1
              domains #8-9:72
            fill5: placed: 144 GPUs on aws/east/nvl in 2 domains (2 whole) across 1 fabric block
              3 clusters considered, 1 feasible; rejected: accelerator not accepted 1, provider/region not allowed 1
              domains #10-11:72
            urgent: placed after preemption: 288 GPUs on aws/east/nvl in 4 domains (4 whole) across 1 fabric block
              preempts 2 jobs losing 0.0 GPU-hours since their last checkpoints:
                fill0 (144 GPUs, 0.0 GPU-hours lost)
                fill1 (144 GPUs, 0.0 GPU-hours lost)
              3 clusters considered, 0 feasible; rejected: accelerator not accepted 1, provider/region not allowed 1, not enough free GPUs 1
              domains #0-3:72
        "#]],
    );
}
