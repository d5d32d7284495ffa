//! Property test over the API's request bodies: any JSON a client sends as
//! a job or a service is either read or refused with problems that name a
//! field of the body (or the body as a whole) — never a panic, never a
//! problem about a field the body does not have.

use gf_server::wire;
use proptest::prelude::*;
use serde_json::{Map, Value};

fn fleet() -> gf_model::Document {
    let src = r#"
version = 1
[[team]]
name = "research"
[[provider]]
name = "aws"
[[provider.region]]
name = "us-east-1"
power_mw = 10
zone = "us-east"
[[provider.region.cluster]]
name = "h"
accelerator = "h100"
domains = 4
price = { model = "on-demand", usd_per_gpu_hour = 2.0 }
"#;
    gf_model::parse_document("fleet.toml", src).unwrap()
}

const KEYS: &[&str] = &[
    "name",
    "team",
    "gpus",
    "accelerators",
    "work_gpu_hours",
    "priority",
    "spot",
    "preemptible",
    "gpu_milli",
    "checkpoint_interval_min",
    "exec",
    "model",
    "gpus_per_replica",
    "throughput",
    "demand",
    "latency_slo_ms",
    "regions",
    "colour",
    "x\"y",
    "",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        "[a-z0-9 \"\\\\\n\\]\\[=#]{0,12}".prop_map(Value::String),
        Just(Value::String("h100".into())),
        Just(Value::String("research".into())),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::collection::vec((prop::sample::select(KEYS), value()), 0..10).prop_map(|kv| {
            let mut m = Map::new();
            for (k, v) in kv {
                m.insert(k.to_string(), v);
            }
            Value::Object(m)
        }),
        1 => value(),
    ]
}

fn check(body: &Value, problems: &[gf_api::Problem]) {
    assert!(!problems.is_empty());
    for p in problems {
        assert!(!p.message.is_empty(), "{p:?}");
        let root = p.field.split(['.', '[']).next().unwrap_or("");
        let named = match body {
            Value::Object(m) => root.is_empty() || m.contains_key(root),
            _ => root.is_empty(),
        };
        assert!(
            named,
            "problem names `{}` the body lacks: {p:?} in {body}",
            p.field
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_job_body_is_read_or_refused_by_field(b in body()) {
        let f = fleet();
        if let Err(ps) = wire::job(&b, &f) {
            check(&b, &ps);
        }
    }

    #[test]
    fn any_service_body_is_read_or_refused_by_field(b in body()) {
        let f = fleet();
        if let Err(ps) = wire::service(&b, &f) {
            check(&b, &ps);
        }
    }
}
