//! One test per class of validation error, each on a small broken file, and
//! a property test that no input makes the reader panic.

use expect_test::{Expect, expect};
use proptest::prelude::*;

const FLEET: &str = r#"version = 1
[[contract]]
name = "k"
provider = "aws"
committed_usd = 1000.0
start = "2026-01-01"
term_months = 12

[[team]]
name = "t"
max_priority = 100

[[provider]]
name = "aws"
[[provider.region]]
name = "east"
power_mw = 5.0
zone = "us-east"
[[provider.region.cluster]]
name = "c"
accelerator = "gb200"
domains = 4
price = { model = "reserved", usd_per_gpu_hour = 3.0, contract = "k" }
"#;

fn check(src: &str, expect: Expect) {
    let out = match gf_model::parse_document("f.toml", src) {
        Ok(_) => "ok\n".to_string(),
        Err(ds) => ds.iter().map(|d| format!("{d}\n")).collect(),
    };
    expect.assert_eq(&out);
}

/// The fleet with `from` replaced by `to` (which must occur).
fn fleet_with(from: &str, to: &str) -> String {
    assert!(FLEET.contains(from), "{from}");
    FLEET.replacen(from, to, 1)
}

#[test]
fn the_base_fleet_is_valid() {
    check(
        FLEET,
        expect![[r#"
        ok
    "#]],
    );
}

#[test]
fn syntax_error() {
    check(
        "version = 1\n[[provider]]\nname = = 3\n",
        expect![[r#"
        f.toml:3:8: error: invalid TOML: expected a value, found an equals
    "#]],
    );
}

#[test]
fn unknown_field_lists_the_accepted_ones() {
    check(
        &fleet_with("zone = \"us-east\"", "zone = \"us-east\"\npower_kw = 3"),
        expect![[r#"
        f.toml:19:1: error: unknown field `power_kw` in [[provider.region]]; expected one of: cluster, name, power_mw, zone
    "#]],
    );
}

#[test]
fn missing_field() {
    check(
        &fleet_with("domains = 4\n", ""),
        expect![[r#"
        f.toml:19:1: error: missing field `domains` in [[provider.region.cluster]]
    "#]],
    );
}

#[test]
fn wrong_type() {
    check(
        &fleet_with("domains = 4", "domains = \"four\""),
        expect![[r#"
        f.toml:22:12: error: expected a whole number, found a string
    "#]],
    );
}

#[test]
fn out_of_range_integer() {
    check(
        &fleet_with("domains = 4", "domains = -4"),
        expect![[r#"
        f.toml:22:11: error: -4 is out of range; expected a whole number from 0 to 4294967295
    "#]],
    );
}

#[test]
fn negative_price() {
    check(
        &fleet_with("usd_per_gpu_hour = 3.0", "usd_per_gpu_hour = -3.0"),
        expect![[r#"
        f.toml:23:50: error: `usd_per_gpu_hour` is -3; it must be zero or more
    "#]],
    );
}

#[test]
fn unknown_accelerator_lists_the_known_ones() {
    check(
        &fleet_with("\"gb200\"", "\"gb900\""),
        expect![[r#"
        f.toml:21:16: error: unknown accelerator `gb900`; known accelerators: h100, h200, b200, gb200, gb300, mi300x, mi355x (or add an [[accelerator]])
    "#]],
    );
}

#[test]
fn an_added_accelerator_is_known() {
    let src = fleet_with("\"gb200\"", "\"tpu\"")
        + "[[accelerator]]\nname = \"tpu\"\nvendor = \"other\"\nhbm_gib = 95\ntrain_throughput = 1.1\ninfer_throughput = 1.2\npower_kw = 1.0\ndomain_gpus = 4\n";
    check(
        &src,
        expect![[r#"
        ok
    "#]],
    );
}

#[test]
fn ramp_dates_out_of_order() {
    check(
        &fleet_with(
            "domains = 4\n",
            "domains = 4\nramp = [{ date = \"2026-06-01\", domains = 2 }, { date = \"2026-03-01\", domains = 4 }]\n",
        ),
        expect![[r#"
            f.toml:23:57: error: ramp dates out of order: 2026-03-01 comes after 2026-06-01; list steps by increasing date
        "#]],
    );
}

#[test]
fn ramp_beyond_built_domains() {
    check(
        &fleet_with(
            "domains = 4\n",
            "domains = 4\nramp = [{ date = \"2026-06-01\", domains = 9 }]\n",
        ),
        expect![[r#"
            f.toml:23:8: error: ramp step on 2026-06-01 brings 9 domains online but the cluster has `domains = 4`
        "#]],
    );
}

#[test]
fn bad_date() {
    check(
        &fleet_with("2026-01-01", "2026-02-30"),
        expect![[r#"
        f.toml:6:10: error: `2026-02-30` is not a day of the calendar
    "#]],
    );
}

#[test]
fn duplicate_names() {
    check(
        &(FLEET.to_string() + "[[team]]\nname = \"t\"\n"),
        expect![[r#"
        f.toml:25:9: error: duplicate team name `t`; names must be unique
    "#]],
    );
}

#[test]
fn unknown_contract_and_provider() {
    check(
        &fleet_with("contract = \"k\"", "contract = \"nope\""),
        expect![[r#"
        f.toml:23:9: error: price names unknown contract `nope`; known contracts: k
    "#]],
    );
    check(
        &fleet_with("provider = \"aws\"", "provider = \"ibm\""),
        expect![[r#"
        f.toml:4:13: error: contract `k` names unknown provider `ibm`; known providers: aws
        f.toml:23:9: error: contract `k` is with `ibm`, not with this cluster's provider `aws`
    "#]],
    );
}

#[test]
fn spot_rate_on_reserved_capacity() {
    check(
        &fleet_with(
            "usd_per_gpu_hour = 3.0,",
            "usd_per_gpu_hour = 3.0, interruption_rate_per_hour = 0.1,",
        ),
        expect![[r#"
            f.toml:23:84: error: `interruption_rate_per_hour` applies to spot capacity only; set model = "spot" or remove it
        "#]],
    );
}

#[test]
fn unsupported_version() {
    check(
        &fleet_with("version = 1", "version = 7"),
        expect![[r#"
        f.toml:1:11: error: unsupported version 7; this build reads version = 1
    "#]],
    );
}

const JOB: &str = "\n[[job]]\nname = \"j\"\nteam = \"t\"\npriority = 10\ngpus = 72\naccelerators = [\"gb200\"]\nwork_gpu_hours = 100.0\n";

#[test]
fn gang_larger_than_any_cluster() {
    check(
        &(FLEET.to_string() + &JOB.replace("gpus = 72", "gpus = 300")),
        expect![[r#"
        f.toml:29:8: error: gang of 300 GPUs is larger than any cluster it may run on (largest: 288 GPUs); a gang never spans clusters
    "#]],
    );
}

#[test]
fn unknown_team_and_priority_above_the_teams_limit() {
    check(
        &(FLEET.to_string() + &JOB.replace("team = \"t\"", "team = \"u\"")),
        expect![[r#"
        f.toml:27:9: error: unknown team `u`; known teams: t
    "#]],
    );
    check(
        &(FLEET.to_string() + &JOB.replace("priority = 10", "priority = 500")),
        expect![[r#"
        f.toml:28:12: error: priority 500 is above team `t`'s max_priority 100
    "#]],
    );
}

#[test]
fn workload_checked_against_a_separate_fleet() {
    let fleet = gf_model::parse_document("fleet.toml", FLEET).unwrap();
    let work = JOB.replace("gpus = 72", "gpus = 1000");
    let errs =
        gf_model::parse_document_with("w.toml", &format!("version = 1\n{work}"), Some(&fleet))
            .unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0]
            .to_string()
            .starts_with("w.toml:7:8: error: gang of 1000 GPUs"),
        "{}",
        errs[0]
    );
}

const SERVICE: &str = "\n[[service]]\nname = \"s\"\nteam = \"t\"\nmodel = \"m\"\npriority = 50\ngpus_per_replica = 8\nthroughput = { gb200 = 100.0 }\ndemand = [{ zone = \"us-east\", rps = 500.0 }]\nlatency_slo_ms = 200.0\n";

#[test]
fn service_spread_rules() {
    check(
        &(FLEET.to_string() + SERVICE + "min_providers = 2\n"),
        expect![[r#"
        f.toml:34:17: error: `min_providers = 2` but only 1 provider(s) offer its accelerators in its regions: aws
    "#]],
    );
    check(
        &(FLEET.to_string() + SERVICE + "max_share_per_provider = 1.5\n"),
        expect![[r#"
        f.toml:34:26: error: `max_share_per_provider` is 1.5; expected a fraction in (0, 1], e.g. 0.5
    "#]],
    );
    check(
        &(FLEET.to_string() + SERVICE + "min_replicas = 9\nmax_replicas = 3\n"),
        expect![[r#"
        f.toml:34:16: error: `min_replicas` (9) is more than `max_replicas` (3)
    "#]],
    );
    check(
        &(FLEET.to_string() + &SERVICE.replace("us-east", "mars")),
        expect![[r#"
        f.toml:32:10: error: demand from unknown zone `mars`; the fleet's zones are: us-east
    "#]],
    );
}

#[test]
fn a_fleet_larger_than_the_index_can_hold() {
    // 4e9 domains would be 288e9 GPUs: refused where the total crosses the limit.
    check(
        &fleet_with("domains = 4", "domains = 4000000000"),
        expect![[r#"
            f.toml:22:11: error: with cluster `c` the fleet holds 4000000000 domains and 288000000000 GPUs; a fleet may hold at most 4194304 domains and 67108864 GPUs (split it into several fleets)
        "#]],
    );
    check(
        &fleet_with("domains = 4", "domains = 4\ndomain_gpus = 5000"),
        expect![[r#"
            f.toml:23:15: error: `domain_gpus = 5000` is more than the 1024 GPUs an NVLink domain may hold
        "#]],
    );
}

#[test]
fn every_error_of_a_file_in_one_run() {
    let src = fleet_with("domains = 4", "domains = -1")
        .replacen("power_mw = 5.0", "power_mw = 0", 1)
        .replacen("\"gb200\"", "\"nope\"", 1)
        + "bogus = 1\n";
    let errs = gf_model::parse_document("f.toml", &src).unwrap_err();
    assert_eq!(errs.len(), 4, "{errs:#?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = gf_model::parse_document("f.toml", &s);
    }

    #[test]
    fn mangled_fleets_never_panic(cut in 0usize..600, insert in "[=\\[\\]{}\"a-z0-9., \n-]{0,12}") {
        let mut src = FLEET.to_string();
        let at = cut.min(src.len());
        let at = (0..=at).rev().find(|&i| src.is_char_boundary(i)).unwrap_or(0);
        src.insert_str(at, &insert);
        let _ = gf_model::parse_document("f.toml", &src);
    }
}

const SLURM: &str = "backend = { slurm = { url = \"http://127.0.0.1:6820\", partition = \"gpu\", user = \"gf\", token_env = \"SLURM_JWT\", nodes = \"gpu-[001-004]\" } }\n";

#[test]
fn a_slurm_backend_maps_domains_to_nodes() {
    let src = fleet_with(
        "domains = 4\n",
        &format!("domains = 4\ndomain_gpus = 8\n{SLURM}"),
    );
    check(
        &src,
        expect![[r#"
        ok
    "#]],
    );
    let doc = gf_model::parse_document("f.toml", &src).unwrap();
    let (_, _, c) = doc.clusters().next().unwrap();
    let Some(gf_model::BackendSpec::Slurm(s)) = &c.backend else {
        panic!("no slurm backend: {c:?}");
    };
    assert_eq!(s.nodes.expand().unwrap()[3], "gpu-004");
    assert_eq!((s.api.as_str(), s.node_gpus(8)), ("v0.0.38", 8));
}

#[test]
fn a_node_mapping_whose_arithmetic_is_wrong() {
    let src = fleet_with(
        "domains = 4\n",
        "domains = 4\ndomain_gpus = 8\nbackend = { slurm = { url = \"http://s:6820\", partition = \"gpu\", user = \"gf\", token_file = \"/t\", nodes = \"gpu-[1-6]\", nodes_per_domain = 2, gpus_per_node = 8 } }\n",
    );
    check(
        &src,
        expect![[r#"
        f.toml:24:106: error: `nodes` names 6 Slurm nodes but cluster `c` has 4 domains × 2 nodes per domain = 8
        f.toml:24:156: error: 8 GPUs per node × 2 nodes per domain = 16 GPUs, but a domain of cluster `c` has 8
    "#]],
    );
}

#[test]
fn a_slurm_backend_with_bad_fields() {
    let src = fleet_with(
        "domains = 4\n",
        "domains = 4\nbackend = { slurm = { url = \"slurm:6820\", api = \"v0.0.99\", partition = \"gpu\", user = \"gf\", token_env = \"A\", token_file = \"/t\", nodes = \"gpu-[4-1]\", color = 1 } }\n",
    );
    check(
        &src,
        expect![[r#"
            f.toml:23:30: error: `url` is `slurm:6820`; expected slurmrestd's http:// or https:// address, e.g. https://slurm.example.com:6820
            f.toml:23:50: error: unsupported slurmrestd API `v0.0.99`; expected one of: v0.0.38
            f.toml:23:123: error: give one of `token_env` and `token_file`, not both
            f.toml:23:137: error: node pattern `gpu-[4-1]`: range `4-1` runs backwards
            f.toml:23:149: error: unknown field `color` in backend.slurm; expected one of: api, down_after_s, gpus_per_node, nodes, nodes_per_domain, partition, token_env, token_file, url, user
        "#]],
    );
    check(
        &fleet_with(
            "domains = 4\n",
            "domains = 4\nbackend = { kubernetes = {} }\n",
        ),
        expect![[r#"
            f.toml:23:11: error: `backend` names no engine; expected one of: slurm, e.g. backend = { slurm = { url = "https://slurm:6820", partition = "gpu", user = "gf", token_env = "SLURM_JWT", nodes = "gpu-[001-128]" } }
            f.toml:23:13: error: unknown field `kubernetes` in backend; expected one of: slurm
        "#]],
    );
    check(
        &fleet_with(
            "domains = 4\n",
            "domains = 4\nbackend = { slurm = { url = \"http://s:6820\", partition = \"gpu\", user = \"gf\", token_file = \"/t\", nodes = \"gpu-[1-4]\", down_after_s = 0 } }\n",
        ),
        expect![[r#"
            f.toml:23:133: error: `down_after_s` must be at least 1 (seconds without an answer before the cluster counts as down)
        "#]],
    );
}

const EXEC_JOB: &str = r#"version = 1
[[job]]
name = "train"
team = "t"
gpus = 8
accelerators = ["h100"]
work_gpu_hours = 10.0
"#;

#[test]
fn a_job_carries_what_a_real_engine_runs() {
    let src = format!(
        "{EXEC_JOB}[job.exec]\ncommand = \"srun python train.py\"\nenv = {{ NCCL_DEBUG = \"INFO\" }}\nworkdir = \"/scratch/a\"\noutput = \"out-%j.txt\"\n"
    );
    let doc = gf_model::parse_document("f.toml", &src).unwrap();
    let e = &doc.jobs[0].exec;
    assert_eq!(e.command.as_deref(), Some("srun python train.py"));
    assert_eq!(e.env["NCCL_DEBUG"], "INFO");
    assert_eq!(e.workdir.as_deref(), Some("/scratch/a"));
    // The API carries the same table; a job without it reads as before.
    let json = serde_json::to_string(&doc.jobs[0]).unwrap();
    assert!(
        json.contains(r#""exec":{"command":"srun python train.py""#),
        "{json}"
    );
    let back: gf_model::JobSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(back.exec, *e);
    let plain = gf_model::parse_document("f.toml", EXEC_JOB).unwrap();
    let json = serde_json::to_string(&plain.jobs[0]).unwrap();
    assert!(!json.contains("exec"), "{json}");
}

#[test]
fn bad_exec_fields() {
    check(
        &format!(
            "{EXEC_JOB}[job.exec]\ncommand = \"x\"\nscript = \"echo\"\nenv = {{ \"1A\" = \"b\" }}\nworkdir = \"rel\"\noutput = \"\"\nuser = \"root\"\n"
        ),
        expect![[r#"
            f.toml:10:11: error: `script` must start with an interpreter line such as #!/bin/bash
            f.toml:10:11: error: give one of `command` and `script`, not both
            f.toml:11:7: error: environment variable name `1A` is not a name; expected letters, digits and `_`, not starting with a digit
            f.toml:12:12: error: `workdir` is `rel`; expected an absolute path such as /scratch/run
            f.toml:13:10: error: `output` is empty; leave it out for the engine's default
            f.toml:14:1: error: unknown field `user` in [job.exec]; expected one of: command, env, error, output, script, workdir
        "#]],
    );
}

#[test]
fn the_schema_describes_exec_and_backend() {
    let schema = serde_json::to_string(&schemars::schema_for!(gf_model::Document)).unwrap();
    for word in [
        "\"exec\"",
        "\"workdir\"",
        "\"backend\"",
        "\"slurm\"",
        "\"nodes_per_domain\"",
        "\"token_file\"",
    ] {
        assert!(schema.contains(word), "{word} missing from the schema");
    }
}

#[test]
fn latency_table_errors_name_the_place_and_what_is_accepted() {
    let src = format!(
        "{FLEET}[latency]\nsame_zone_rtt_ms = -1.0\nrtt = 3\npairs = [\n  {{ zones = [\"us-east\", \"mars\"], rtt_ms = 300.0 }},\n  {{ zones = [\"us-east\", \"us-east\"], rtt_ms = 5.0 }},\n  {{ zones = [\"us-east\"], rtt_ms = 0.0 }},\n  {{ zones = [\"mars\", \"us-east\"], rtt_ms = 310.0 }},\n]\n[[service]]\nname = \"s\"\nteam = \"t\"\nmodel = \"m\"\ngpus_per_replica = 8\nthroughput = {{ gb200 = 10.0 }}\ndemand = [{{ zone = \"us-east\", rps = 1.0 }}]\nlatency_slo_ms = 100.0\nservice_ms = 0.0\n"
    );
    check(
        &src,
        expect![[r#"
            f.toml:25:20: error: `same_zone_rtt_ms` is -1; it must be zero or more
            f.toml:26:1: error: unknown field `rtt` in [latency]; expected one of: default_rtt_ms, pairs, same_zone_rtt_ms
            f.toml:28:13: error: unknown zone `mars` in a [latency] pair; the fleet's zones are: us-east
            f.toml:29:13: error: `zones` names `us-east` twice; a zone's own round trip is `same_zone_rtt_ms`
            f.toml:30:13: error: `zones` has 1 entries; expected two zone names, e.g. zones = ["us-east", "eu-west"]
            f.toml:30:35: error: `rtt_ms` is 0; it must be more than zero
            f.toml:31:13: error: unknown zone `mars` in a [latency] pair; the fleet's zones are: us-east
            f.toml:31:13: error: the round trip between `mars` and `us-east` is given twice; keep one
            f.toml:33:1: error: priority 500 is above team `t`'s max_priority 100
            f.toml:41:14: error: `service_ms` is 0; it must be more than zero
        "#]],
    );
}
