//! Reading the TOML file format into [`Document`], reporting every problem.
//!
//! serde stops at the first error it meets; a user fixing a fleet file of a
//! hundred clusters wants them all at once. So the TOML text is parsed into a
//! spanned tree (toml-span) and walked here by hand: each table is read
//! through [`Tbl`](crate::tbl::Tbl), which records where every field was,
//! reports a missing or mistyped field with its line and column, and at the
//! end names each field it does not know together with the fields it would
//! accept. Checks that relate
//! several entities (names that refer to each other, a gang too large for any
//! cluster) run afterwards in `crate::validate`, pointed by the recorded
//! locations. The readers depend on the types, the table reader and the
//! diagnostics only; [`scenario`] reads the `[scenario]` section.

mod backend;
mod latency;
pub(crate) mod plan;
pub(crate) mod scenario;

use std::collections::BTreeMap;

use toml_span::value::{Value, ValueInner};

use crate::catalog::{Accelerator, Vendor};
use crate::diag::Diagnostics;
use crate::spec::*;
use crate::tbl::{Tbl, months, non_negative, positive, wanted};
use crate::units::Date;

/// Reads a whole file; `None` when it is not TOML or not a table (reported).
pub(crate) fn read_document(cx: &mut Diagnostics, src: &str) -> Option<Document> {
    let root = match toml_span::parse(src) {
        Ok(v) => v,
        Err(e) => {
            cx.error(e.span.start, format!("invalid TOML: {e}"));
            return None;
        }
    };
    read_root(cx, root)
}

/// Reads a document's tree, parsed from a file or built by a caller.
pub(crate) fn read_root(cx: &mut Diagnostics, root: Value<'_>) -> Option<Document> {
    let mut t = Tbl::new(cx, root, "the file")?;
    let version = t.req::<u32>(cx, "version");
    if let Some(v) = version.filter(|&v| v != FORMAT_VERSION) {
        cx.error(
            t.locs.of("version") as usize,
            format!("unsupported version {v}; this build reads version = {FORMAT_VERSION}"),
        );
    }
    let accelerators = t.list(cx, "accelerator", read_accelerator);
    let providers = t.list(cx, "provider", read_provider);
    let contracts = t.list(cx, "contract", read_contract);
    let teams = t.list(cx, "team", read_team);
    let jobs = t.list(cx, "job", read_job);
    let services = t.list(cx, "service", read_service);
    let scenario = t
        .take("scenario")
        .and_then(|v| scenario::read_scenario(cx, v));
    let plan = t.take("plan").and_then(|v| plan::read_plan(cx, v));
    let latency = t
        .take("latency")
        .and_then(|v| latency::read_latency(cx, v))
        .unwrap_or_default();
    t.finish(cx);
    Some(Document {
        version: version.unwrap_or(FORMAT_VERSION),
        accelerators,
        providers,
        contracts,
        teams,
        jobs,
        services,
        scenario,
        plan,
        latency,
    })
}

/// A partial-restart mode by name, reported at `at` when unknown.
pub(crate) fn partial_restart(cx: &mut Diagnostics, at: usize, s: &str) -> Option<PartialRestart> {
    let m = PartialRestart::from_name(s);
    if m.is_none() {
        cx.error(
            at,
            format!(
                "unknown partial_restart `{s}`; expected one of: {}",
                PartialRestart::NAMES.join(", ")
            ),
        );
    }
    m
}

/// The GPU-sharing and host-resource fields of a job or a service replica.
fn read_share(
    cx: &mut Diagnostics,
    t: &mut Tbl<'_>,
    gpus: Option<u32>,
    gpus_key: &str,
) -> (Option<u32>, u64, u64) {
    let milli = t.opt::<u32>(cx, "gpu_milli");
    if let Some(m) = milli {
        if !(1..=1000).contains(&m) {
            cx.error(
                t.at("gpu_milli"),
                format!(
                    "`gpu_milli` is {m}; expected thousandths of one GPU from 1 to 1000, e.g. 250"
                ),
            );
        } else if m < 1000 && gpus.is_some_and(|g| g != 1) {
            cx.error(
                t.at("gpu_milli"),
                format!("`gpu_milli = {m}` shares one GPU; set `{gpus_key} = 1` or leave `gpu_milli` out"),
            );
        }
    }
    let cpu = t.or::<u64>(cx, "cpu_milli_per_gpu", 0);
    let mem = t.or::<u64>(cx, "memory_mib_per_gpu", 0);
    (milli, cpu, mem)
}

fn read_accelerator(cx: &mut Diagnostics, v: Value<'_>) -> Option<Accelerator> {
    let mut t = Tbl::new(cx, v, "[[accelerator]]")?;
    let name = t.req::<String>(cx, "name");
    let vendor_s = t.req::<String>(cx, "vendor");
    let vendor = vendor_s.as_deref().and_then(|s| {
        let v = Vendor::from_name(s);
        if v.is_none() {
            cx.error(
                t.at("vendor"),
                format!(
                    "unknown vendor `{s}`; expected one of: {}",
                    Vendor::NAMES.join(", ")
                ),
            );
        }
        v
    });
    let hbm_gib = t.req::<f64>(cx, "hbm_gib");
    let train = t.req::<f64>(cx, "train_throughput");
    let infer = t.req::<f64>(cx, "infer_throughput");
    let power = t.req::<f64>(cx, "power_kw");
    let domain = t.req::<u32>(cx, "domain_gpus");
    for (k, x) in [
        ("hbm_gib", hbm_gib),
        ("train_throughput", train),
        ("infer_throughput", infer),
        ("power_kw", power),
    ] {
        if let Some(x) = x {
            positive(cx, &t, k, x);
        }
    }
    if domain == Some(0) {
        cx.error(t.at("domain_gpus"), "`domain_gpus` must be at least 1");
    }
    t.finish(cx);
    Some(Accelerator {
        name: name?,
        vendor: vendor?,
        hbm_gib: hbm_gib?,
        train_throughput: train?,
        infer_throughput: infer?,
        power_kw: power?,
        domain_gpus: domain?,
    })
}

fn read_provider(cx: &mut Diagnostics, v: Value<'_>) -> Option<ProviderSpec> {
    let mut t = Tbl::new(cx, v, "[[provider]]")?;
    let name = t.req::<String>(cx, "name");
    let regions = t.list(cx, "region", read_region);
    if t.locs.of("region") == t.locs.at {
        cx.error(
            t.start,
            "provider has no `[[provider.region]]`; add at least one region",
        );
    }
    let locs = t.finish(cx);
    Some(ProviderSpec {
        name: name?,
        regions,
        locs,
    })
}

fn read_region(cx: &mut Diagnostics, v: Value<'_>) -> Option<RegionSpec> {
    let mut t = Tbl::new(cx, v, "[[provider.region]]")?;
    let name = t.req::<String>(cx, "name");
    let power_mw = t.req::<f64>(cx, "power_mw");
    if let Some(p) = power_mw {
        positive(cx, &t, "power_mw", p);
    }
    let zone = t.req::<String>(cx, "zone");
    let clusters = t.list(cx, "cluster", read_cluster);
    let locs = t.finish(cx);
    // Only the name is needed to keep an entity: other fields fall back to
    // defaults (their errors are already recorded) so that the checks across
    // entities still run and report everything in one pass.
    Some(RegionSpec {
        name: name?,
        power_mw: power_mw.unwrap_or(1.0),
        zone: zone.unwrap_or_default(),
        clusters,
        locs,
    })
}

fn read_cluster(cx: &mut Diagnostics, v: Value<'_>) -> Option<ClusterSpec> {
    let mut t = Tbl::new(cx, v, "[[provider.region.cluster]]")?;
    let name = t.req::<String>(cx, "name");
    let accelerator = t.req::<String>(cx, "accelerator");
    let domain_gpus = t.opt::<u32>(cx, "domain_gpus");
    if domain_gpus == Some(0) {
        cx.error(t.at("domain_gpus"), "`domain_gpus` must be at least 1");
    }
    let domains = t.req::<u32>(cx, "domains");
    let domains_per_block = t.opt::<u32>(cx, "domains_per_block");
    let cpu_milli_per_domain = t.opt::<u64>(cx, "cpu_milli_per_domain");
    let memory_mib_per_domain = t.opt::<u64>(cx, "memory_mib_per_domain");
    for (k, v) in [
        ("cpu_milli_per_domain", cpu_milli_per_domain),
        ("memory_mib_per_domain", memory_mib_per_domain),
    ] {
        if v == Some(0) {
            cx.error(
                t.at(k),
                format!("`{k}` must be more than zero; leave it out when it is not a constraint"),
            );
        }
    }
    if domains_per_block == Some(0) {
        cx.error(
            t.at("domains_per_block"),
            "`domains_per_block` must be at least 1",
        );
    }
    let ramp = match t.take("ramp") {
        Some(v) => read_ramp(cx, v).unwrap_or_default(),
        None => Vec::new(),
    };
    let price = match t.take("price") {
        Some(v) => read_price(cx, v),
        None => {
            cx.error(
                t.start,
                "missing field `price` in [[provider.region.cluster]]; e.g. price = { model = \"reserved\", usd_per_gpu_hour = 2.5 }",
            );
            None
        }
    };
    let backend = t.take("backend").and_then(|v| backend::read_backend(cx, v));
    let locs = t.finish(cx);
    Some(ClusterSpec {
        name: name?,
        accelerator: accelerator.unwrap_or_default(),
        domain_gpus,
        domains: domains.unwrap_or(1),
        domains_per_block,
        cpu_milli_per_domain,
        memory_mib_per_domain,
        ramp,
        price: price.unwrap_or(PriceSpec {
            model: PriceModel::OnDemand,
            usd_per_gpu_hour: 0.0,
            interruption_rate_per_hour: 0.0,
            contract: None,
        }),
        backend,
        locs,
    })
}

fn read_ramp(cx: &mut Diagnostics, mut v: Value<'_>) -> Option<Vec<RampStep>> {
    let items = match v.take() {
        ValueInner::Array(items) => items,
        other => {
            wanted(cx, v.span.start, "an array of { date, domains }", &other);
            return None;
        }
    };
    let mut out = Vec::new();
    let mut prev: Option<Date> = None;
    for item in items {
        let Some(mut t) = Tbl::new(cx, item, "a ramp step") else {
            continue;
        };
        let date = t.req::<Date>(cx, "date");
        let domains = t.req::<u32>(cx, "domains");
        if let (Some(d), Some(p)) = (date, prev)
            && d <= p
        {
            cx.error(
                t.at("date"),
                format!(
                    "ramp dates out of order: {d} comes after {p}; list steps by increasing date"
                ),
            );
        }
        prev = date.or(prev);
        t.finish(cx);
        if let (Some(date), Some(domains)) = (date, domains) {
            out.push(RampStep { date, domains });
        }
    }
    Some(out)
}

fn read_price(cx: &mut Diagnostics, v: Value<'_>) -> Option<PriceSpec> {
    let mut t = Tbl::new(cx, v, "price")?;
    let model_s = t.req::<String>(cx, "model");
    let model = model_s.as_deref().and_then(|s| {
        let m = PriceModel::from_name(s);
        if m.is_none() {
            cx.error(
                t.at("model"),
                format!(
                    "unknown price model `{s}`; expected one of: {}",
                    PriceModel::NAMES.join(", ")
                ),
            );
        }
        m
    });
    let usd = t.req::<f64>(cx, "usd_per_gpu_hour");
    if let Some(x) = usd {
        non_negative(cx, &t, "usd_per_gpu_hour", x);
    }
    let rate = t.or::<f64>(cx, "interruption_rate_per_hour", 0.0);
    non_negative(cx, &t, "interruption_rate_per_hour", rate);
    if rate > 0.0 && model.is_some_and(|m| m != PriceModel::Spot) {
        cx.error(
            t.at("interruption_rate_per_hour"),
            "`interruption_rate_per_hour` applies to spot capacity only; set model = \"spot\" or remove it",
        );
    }
    let contract = t.opt::<String>(cx, "contract");
    t.finish(cx);
    Some(PriceSpec {
        model: model.unwrap_or(PriceModel::OnDemand),
        usd_per_gpu_hour: usd.unwrap_or(0.0),
        interruption_rate_per_hour: rate,
        contract,
    })
}

fn read_contract(cx: &mut Diagnostics, v: Value<'_>) -> Option<ContractSpec> {
    let mut t = Tbl::new(cx, v, "[[contract]]")?;
    let name = t.req::<String>(cx, "name");
    let provider = t.req::<String>(cx, "provider");
    let committed = t.req::<f64>(cx, "committed_usd");
    if let Some(x) = committed {
        non_negative(cx, &t, "committed_usd", x);
    }
    let start = t.req::<Date>(cx, "start");
    let term = t.req::<u32>(cx, "term_months");
    months(cx, &t, "term_months", term, 1);
    let locs = t.finish(cx);
    Some(ContractSpec {
        name: name?,
        provider: provider.unwrap_or_default(),
        committed_usd: committed.unwrap_or(0.0),
        start: start.unwrap_or_default(),
        term_months: term.unwrap_or(1),
        locs,
    })
}

fn read_team(cx: &mut Diagnostics, v: Value<'_>) -> Option<TeamSpec> {
    let mut t = Tbl::new(cx, v, "[[team]]")?;
    let name = t.req::<String>(cx, "name");
    let quota = t.or::<BTreeMap<String, u64>>(cx, "quota", BTreeMap::new());
    let weight = t.or::<f64>(cx, "weight", 1.0);
    positive(cx, &t, "weight", weight);
    let max_priority = t.or::<u32>(cx, "max_priority", 1000);
    let locs = t.finish(cx);
    Some(TeamSpec {
        name: name?,
        quota,
        weight,
        max_priority,
        locs,
    })
}

fn read_job(cx: &mut Diagnostics, v: Value<'_>) -> Option<JobSpec> {
    let mut t = Tbl::new(cx, v, "[[job]]")?;
    let name = t.req::<String>(cx, "name");
    let team = t.req::<String>(cx, "team");
    let priority = t.or::<u32>(cx, "priority", 0);
    let gpus = t.req::<u32>(cx, "gpus");
    if gpus == Some(0) {
        cx.error(t.at("gpus"), "`gpus` must be at least 1");
    }
    let accelerators = t.req::<Vec<String>>(cx, "accelerators");
    if accelerators.as_ref().is_some_and(|a| a.is_empty()) {
        cx.error(
            t.at("accelerators"),
            "`accelerators` is empty; list at least one, e.g. [\"gb200\"]",
        );
    }
    let work = t.req::<f64>(cx, "work_gpu_hours");
    if let Some(w) = work {
        positive(cx, &t, "work_gpu_hours", w);
    }
    let interval = t.opt::<f64>(cx, "checkpoint_interval_min");
    if let Some(i) = interval {
        positive(cx, &t, "checkpoint_interval_min", i);
    }
    let cost = t.or::<f64>(cx, "checkpoint_cost_min", 5.0);
    non_negative(cx, &t, "checkpoint_cost_min", cost);
    let persist = t.opt::<f64>(cx, "checkpoint_persist_min");
    if let Some(p) = persist {
        non_negative(cx, &t, "checkpoint_persist_min", p);
    }
    let in_memory = t.opt::<bool>(cx, "checkpoint_in_memory");
    let group = t.opt::<u32>(cx, "replica_group_gpus");
    if group == Some(0) {
        cx.error(
            t.at("replica_group_gpus"),
            "`replica_group_gpus` must be at least 1",
        );
    }
    let partial = t
        .opt::<String>(cx, "partial_restart")
        .and_then(|s| partial_restart(cx, t.at("partial_restart"), &s));
    let providers = t.or::<Vec<String>>(cx, "providers", Vec::new());
    let regions = t.or::<Vec<String>>(cx, "regions", Vec::new());
    let preemptible = t.or::<bool>(cx, "preemptible", true);
    let spot = t.or::<bool>(cx, "spot", false);
    let share = read_share(cx, &mut t, gpus, "gpus");
    let exec = t
        .take("exec")
        .and_then(|v| read_exec(cx, v))
        .unwrap_or_default();
    let locs = t.finish(cx);
    Some(JobSpec {
        name: name?,
        team: team.unwrap_or_default().into(),
        priority,
        gpus: gpus.unwrap_or(1),
        accelerators: accelerators.unwrap_or_default().into(),
        work_gpu_hours: work.unwrap_or(1.0),
        checkpoint_interval_min: interval,
        checkpoint_cost_min: cost,
        checkpoint_persist_min: persist,
        checkpoint_in_memory: in_memory,
        replica_group_gpus: group,
        partial_restart: partial,
        providers,
        regions,
        preemptible,
        spot,
        gpu_milli: share.0,
        cpu_milli_per_gpu: share.1,
        memory_mib_per_gpu: share.2,
        exec,
        locs,
    })
}

/// A job's `exec` table: what a real engine runs.
fn read_exec(cx: &mut Diagnostics, v: Value<'_>) -> Option<ExecSpec> {
    let mut t = Tbl::new(cx, v, "[job.exec]")?;
    let command = t.opt::<String>(cx, "command");
    let script = t.opt::<String>(cx, "script");
    if command.as_deref().is_some_and(|c| c.trim().is_empty()) {
        cx.error(t.at("command"), "`command` is empty");
    }
    if let Some(s) = &script
        && !s.starts_with("#!")
    {
        cx.error(
            t.at("script"),
            "`script` must start with an interpreter line such as #!/bin/bash",
        );
    }
    if command.is_some() && script.is_some() {
        cx.error(
            t.at("script"),
            "give one of `command` and `script`, not both",
        );
    }
    let env = t.or::<BTreeMap<String, String>>(cx, "env", BTreeMap::new());
    for k in env.keys() {
        let mut b = k.bytes();
        let ok = b
            .next()
            .is_some_and(|c| c == b'_' || c.is_ascii_alphabetic())
            && b.all(|c| c == b'_' || c.is_ascii_alphanumeric());
        if !ok {
            cx.error(
                t.at("env"),
                format!("environment variable name `{k}` is not a name; expected letters, digits and `_`, not starting with a digit"),
            );
        }
    }
    let workdir = t.opt::<String>(cx, "workdir");
    if let Some(w) = &workdir
        && !w.starts_with('/')
    {
        cx.error(
            t.at("workdir"),
            format!("`workdir` is `{w}`; expected an absolute path such as /scratch/run"),
        );
    }
    let output = t.opt::<String>(cx, "output");
    let error = t.opt::<String>(cx, "error");
    for (k, v) in [("output", &output), ("error", &error)] {
        if v.as_ref().is_some_and(|s| s.is_empty()) {
            cx.error(
                t.at(k),
                format!("`{k}` is empty; leave it out for the engine's default"),
            );
        }
    }
    t.finish(cx);
    Some(ExecSpec {
        command,
        script,
        env,
        workdir,
        output,
        error,
    })
}

fn read_demand(cx: &mut Diagnostics, v: Value<'_>) -> Option<DemandSpec> {
    let mut t = Tbl::new(cx, v, "a demand entry")?;
    let zone = t.req::<String>(cx, "zone");
    let rps = t.req::<f64>(cx, "rps");
    if let Some(r) = rps {
        non_negative(cx, &t, "rps", r);
    }
    t.finish(cx);
    Some(DemandSpec {
        zone: zone?,
        rps: rps?,
    })
}

fn read_service(cx: &mut Diagnostics, v: Value<'_>) -> Option<ServiceSpec> {
    let mut t = Tbl::new(cx, v, "[[service]]")?;
    let name = t.req::<String>(cx, "name");
    let team = t.req::<String>(cx, "team");
    let model = t.req::<String>(cx, "model");
    let priority = t.or::<u32>(cx, "priority", 500);
    let gpr = t.req::<u32>(cx, "gpus_per_replica");
    if gpr == Some(0) {
        cx.error(
            t.at("gpus_per_replica"),
            "`gpus_per_replica` must be at least 1",
        );
    }
    let throughput = t.req::<BTreeMap<String, f64>>(cx, "throughput");
    if let Some(tp) = &throughput {
        if tp.is_empty() {
            cx.error(t.at("throughput"), "`throughput` is empty; give requests/s per replica for at least one accelerator, e.g. { gb200 = 900.0 }");
        }
        for (k, &x) in tp {
            if x <= 0.0 {
                cx.error(
                    t.at("throughput"),
                    format!("throughput for `{k}` is {x}; it must be more than zero"),
                );
            }
        }
    }
    let demand = match t.take("demand") {
        Some(mut v) => match v.take() {
            ValueInner::Array(items) => items
                .into_iter()
                .filter_map(|i| read_demand(cx, i))
                .collect(),
            other => {
                wanted(cx, v.span.start, "an array of { zone, rps }", &other);
                Vec::new()
            }
        },
        None => {
            cx.error(t.start, "missing field `demand` in [[service]]; e.g. demand = [{ zone = \"us-east\", rps = 1000.0 }]");
            Vec::new()
        }
    };
    let slo = t.req::<f64>(cx, "latency_slo_ms");
    if let Some(s) = slo {
        positive(cx, &t, "latency_slo_ms", s);
    }
    let service_ms = t.opt::<f64>(cx, "service_ms");
    if let Some(x) = service_ms {
        positive(cx, &t, "service_ms", x);
    }
    let regions = t.or::<Vec<String>>(cx, "regions", Vec::new());
    let min_providers = t.or::<u32>(cx, "min_providers", 1);
    if min_providers == 0 {
        cx.error(t.at("min_providers"), "`min_providers` must be at least 1");
    }
    let share = t.or::<f64>(cx, "max_share_per_provider", 1.0);
    if !(share > 0.0 && share <= 1.0) {
        cx.error(
            t.at("max_share_per_provider"),
            format!("`max_share_per_provider` is {share}; expected a fraction in (0, 1], e.g. 0.5"),
        );
    }
    let min_replicas = t.or::<u32>(cx, "min_replicas", 1);
    let max_replicas = t.or::<u32>(cx, "max_replicas", 100_000);
    let sharing = read_share(cx, &mut t, gpr, "gpus_per_replica");
    if min_replicas > max_replicas {
        cx.error(
            t.at("min_replicas"),
            format!("`min_replicas` ({min_replicas}) is more than `max_replicas` ({max_replicas})"),
        );
    }
    let locs = t.finish(cx);
    Some(ServiceSpec {
        name: name?,
        team: team.unwrap_or_default(),
        model: model.unwrap_or_default(),
        priority,
        gpus_per_replica: gpr.unwrap_or(1),
        throughput: throughput.unwrap_or_default(),
        demand,
        latency_slo_ms: slo.unwrap_or(1.0),
        service_ms,
        regions,
        min_providers,
        max_share_per_provider: share,
        min_replicas,
        max_replicas,
        gpu_milli: sharing.0,
        cpu_milli_per_gpu: sharing.1,
        memory_mib_per_gpu: sharing.2,
        locs,
    })
}
