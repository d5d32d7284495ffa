//! Solve time of the planning target (DESIGN.md): a seven-year monthly plan
//! with 50 sites, 5 accelerator types and 20 contracts, as an LP (options
//! exercisable in part) and as a MIP with 2,880 all-or-nothing options.
//! Model building is inside the measured time: the document is compiled into
//! an instance, written as a model and solved (for the MIP, the LP with the
//! decisions fixed is solved again for the duals, as `gigafleet plan` does).

// criterion_group! generates a public function without a doc comment.
#![allow(missing_docs)]

use std::fmt::Write;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

const ACCS: [&str; 5] = ["h100", "h200", "gb200", "gb300", "mi355x"];
const ZONES: [&str; 5] = ["us-east", "us-west", "us-central", "eu-west", "ap-east"];

/// 10 providers x 5 sites, 2 clusters a site, 2 contracts a provider,
/// `options` options (one exercise month each) spread over the clusters.
fn generated(options: usize, divisible: bool) -> gf_model::Document {
    let mut s = String::from("version = 1\n[[team]]\nname = \"t\"\n");
    for p in 0..10 {
        for k in 0..2 {
            let _ = write!(
                s,
                "[[contract]]\nname = \"p{p}-k{k}\"\nprovider = \"p{p}\"\ncommitted_usd = {}\nstart = \"{}-01-01\"\nterm_months = {}\n",
                2e9 + 1e9 * f64::from(p + k),
                2026 + k,
                48 + 12 * k
            );
        }
    }
    // Options expand reserved clusters (they are reserved capacity themselves).
    let mut clusters = Vec::new();
    for p in 0..10 {
        let _ = write!(s, "[[provider]]\nname = \"p{p}\"\n");
        for r in 0..5 {
            let site = p * 5 + r;
            let _ = write!(
                s,
                "[[provider.region]]\nname = \"r{r}\"\npower_mw = {}\nzone = \"{}\"\n",
                60.0 + 15.0 * f64::from(site % 7),
                ZONES[(site % 5) as usize]
            );
            for c in 0..2 {
                let acc = ACCS[((site + c) % 5) as usize];
                let dg = if acc.starts_with("gb") { 72 } else { 8 };
                let domains = 20_000 / dg + 50 * (site % 3);
                let reserved = (site + c) % 3 != 0;
                let contract = if (site + c) % 2 == 0 {
                    format!(", contract = \"p{p}-k{}\"", c)
                } else {
                    String::new()
                };
                let _ = write!(
                    s,
                    "[[provider.region.cluster]]\nname = \"c{c}\"\naccelerator = \"{acc}\"\ndomains = {domains}\nramp = [{{ date = \"2026-01-01\", domains = {} }}, {{ date = \"{}-07-01\", domains = {domains} }}]\nprice = {{ model = \"{}\", usd_per_gpu_hour = {}{contract} }}\n",
                    domains / 3,
                    2026 + (site % 4),
                    if reserved { "reserved" } else { "on-demand" },
                    1.5 + 0.25 * f64::from((site + c) % 9)
                );
                if reserved {
                    clusters.push(format!("p{p}/r{r}/c{c}"));
                }
            }
        }
    }
    let _ = write!(
        s,
        "[[service]]\nname = \"chat\"\nteam = \"t\"\nmodel = \"m\"\ngpus_per_replica = 8\nthroughput = {{ h100 = 80.0, h200 = 116.0, gb200 = 400.0, gb300 = 600.0, mi355x = 280.0 }}\ndemand = [{}]\nlatency_slo_ms = 500.0\n",
        ZONES
            .iter()
            .map(|z| format!("{{ zone = \"{z}\", rps = 400000.0 }}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s.push_str("[plan]\nstart = \"2026-01-01\"\nmonths = 84\nunmet_usd_per_gpu_hour = 6.0\nmax_provider_share = 0.3\nmax_vendor_share = 0.8\n");
    // The MIP stops within 1% of the bound, as capacity plans are usually
    // solved; at the default 0.01% the 2,880 options take minutes.
    if !divisible {
        s.push_str("mip_gap = 0.01\n");
    }
    for (name, accs, from, to) in [
        ("frontier", "[\"gb200\", \"gb300\"]", 200_000.0, 900_000.0),
        ("research", "[]", 300_000.0, 1_500_000.0),
        ("amd", "[\"mi355x\"]", 50_000.0, 300_000.0),
    ] {
        let _ = write!(
            s,
            "[[plan.demand]]\nname = \"{name}\"\nkind = \"training\"\naccelerators = {accs}\ncurve = [{{ date = \"2026-01-01\", value = {from} }}, {{ date = \"2032-12-01\", value = {to} }}]\n"
        );
    }
    s.push_str("[[plan.demand]]\nname = \"chat\"\nkind = \"inference\"\nservice = \"chat\"\ncurve = [{ date = \"2026-01-01\", value = 1.0 }, { date = \"2032-12-01\", value = 6.0 }]\n");
    for o in 0..options {
        let m = o % 78;
        let (y, mo) = (2026 + m / 12, m % 12 + 1);
        let _ = write!(
            s,
            "[[plan.option]]\nname = \"o{o}\"\ncluster = \"{}\"\ngpus = {}\nlead_months = {}\nexercise_from = \"{y}-{mo:02}-01\"\nexercise_by = \"{y}-{mo:02}-28\"\nusd_per_gpu_hour = {}\nterm_months = 24\ndivisible = {divisible}\n",
            clusters[o % clusters.len()],
            2_000 + 500 * (o % 7),
            3 + o % 4,
            1.4 + 0.1 * (o % 11) as f64
        );
    }
    for k in 0..20 {
        let _ = write!(
            s,
            "[[plan.candidate_contract]]\nname = \"cand{k}\"\nprovider = \"p{}\"\nsite = \"r{}\"\npower_mw = 40.0\naccelerator = \"{}\"\nstart = \"{}-01-01\"\nterm_months = 36\nusd_per_gpu_hour = {}\nmin_gpus = {}\nmax_gpus = 60000\n",
            k % 10,
            k % 5,
            ACCS[k % 5],
            2027 + k % 4,
            1.8 + 0.1 * (k % 5) as f64,
            if divisible { 0 } else { 10_000 }
        );
    }
    match gf_model::parse_document("bench.toml", &s) {
        Ok(d) => d,
        Err(e) => panic!(
            "{}",
            e.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn bench(c: &mut Criterion) {
    let lp = generated(2_880, true);
    let mip = generated(2_880, false);
    let mut g = c.benchmark_group("plan");
    g.sample_size(10);
    g.bench_function("lp_7y_50_sites_5_accelerators_20_contracts", |b| {
        b.iter(|| black_box(gf_plan::plan_document(black_box(&lp)).unwrap()))
    });
    g.bench_function("mip_7y_50_sites_2880_options", |b| {
        b.iter(|| black_box(gf_plan::plan_document(black_box(&mip)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
