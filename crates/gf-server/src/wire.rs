//! A JSON request body becomes a job or service spec through the very
//! reader and checks of the file format, so the API accepts exactly what
//! `gigafleet validate` accepts and words its problems the same way.
//!
//! The body's object is written out as a one-entry TOML document, one
//! field per line (array elements one per line too), and the line of each
//! diagnostic is mapped back to the field path it came from: `gpus`,
//! `demand[1]`. A value TOML cannot hold (null, a nested array of
//! objects) is refused with its path before any of that.

use gf_api::Problem;
use gf_model::{Diagnostic, Document, JobSpec, ServiceSpec};
use serde_json::Value;

/// Reads a job submission body (already parsed as JSON) against the fleet.
pub fn job(body: &Value, fleet: &Document) -> Result<JobSpec, Vec<Problem>> {
    let doc = read("job", body, fleet)?;
    doc.jobs
        .into_iter()
        .next()
        .ok_or_else(|| vec![whole("the body holds no job")])
}

/// Reads a service creation body against the fleet.
pub fn service(body: &Value, fleet: &Document) -> Result<ServiceSpec, Vec<Problem>> {
    let doc = read("service", body, fleet)?;
    doc.services
        .into_iter()
        .next()
        .ok_or_else(|| vec![whole("the body holds no service")])
}

fn whole(msg: &str) -> Problem {
    Problem {
        field: String::new(),
        message: msg.to_string(),
    }
}

/// The TOML text of one `[[table]]` and, per line, the field it holds.
struct Toml {
    text: String,
    paths: Vec<String>,
}

impl Toml {
    fn line(&mut self, s: &str, path: &str) {
        self.text.push_str(s);
        self.text.push('\n');
        self.paths.push(path.to_string());
    }
}

fn read(table: &str, body: &Value, fleet: &Document) -> Result<Document, Vec<Problem>> {
    // Most bodies are accepted: their tree is built straight from the JSON
    // and read with no text to parse. Only a body with a problem (or a
    // value that tree cannot hold) is written out as text and read again,
    // so that each problem is placed on its line and so its field.
    if let Some(root) = tree(table, body)
        && let Ok(doc) = gf_model::parse_tree_with(table, "", root, Some(fleet))
    {
        return Ok(doc);
    }
    read_text(table, body, fleet)
}

/// Reads the body written out as TOML text, one field per line, each
/// problem placed on the line of the field it is about.
fn read_text(table: &str, body: &Value, fleet: &Document) -> Result<Document, Vec<Problem>> {
    let Value::Object(fields) = body else {
        return Err(vec![whole(&format!(
            "the body must be a JSON object with the fields of a [[{table}]] table"
        ))]);
    };
    let mut t = Toml {
        text: String::new(),
        paths: Vec::new(),
    };
    t.line("version = 1", "");
    t.line(&format!("[[{table}]]"), "");
    let mut problems = Vec::new();
    for (k, v) in fields {
        let key = quote(k);
        match v {
            Value::Array(items) if !items.is_empty() => {
                t.line(&format!("{key} = ["), k);
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{k}[{i}]");
                    match inline(item, &path) {
                        Ok(s) => t.line(&format!("  {s},"), &path),
                        Err(p) => problems.push(p),
                    }
                }
                t.line("]", k);
            }
            _ => match inline(v, k) {
                Ok(s) => t.line(&format!("{key} = {s}"), k),
                Err(p) => problems.push(p),
            },
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    gf_model::parse_document_with(table, &t.text, Some(fleet))
        .map_err(|ds| ds.iter().map(|d| locate(d, &t.paths)).collect())
}

/// The tree the text written out below would parse into, without its
/// spans (no diagnostic is kept from it): `version = 1` and one `[[table]]`
/// holding the body's fields. `None` for a body that is not an object or
/// holds a value TOML cannot (null, an integer past `i64`), left to the
/// text's reading to refuse with its path.
fn tree<'a>(table: &'a str, body: &'a Value) -> Option<toml_span::Value<'a>> {
    use toml_span::value::{Key, Table, Value as T, ValueInner as V};
    fn key(name: &str) -> Key<'_> {
        Key {
            name: name.into(),
            span: Default::default(),
        }
    }
    fn value(v: &Value) -> Option<T<'_>> {
        Some(T::new(match v {
            Value::Null => return None,
            Value::Bool(b) => V::Boolean(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => V::Integer(i),
                None if n.is_u64() => return None,
                None => V::Float(n.as_f64()?),
            },
            Value::String(s) => V::String(s.as_str().into()),
            Value::Array(items) => V::Array(items.iter().map(value).collect::<Option<_>>()?),
            Value::Object(m) => V::Table(
                m.iter()
                    .map(|(k, v)| Some((key(k), value(v)?)))
                    .collect::<Option<Table<'_>>>()?,
            ),
        }))
    }
    let Value::Object(_) = body else {
        return None;
    };
    let mut root = Table::new();
    root.insert(key("version"), T::new(V::Integer(1)));
    root.insert(key(table), T::new(V::Array(vec![value(body)?])));
    Some(T::new(V::Table(root)))
}

fn locate(d: &Diagnostic, paths: &[String]) -> Problem {
    Problem {
        field: paths
            .get(d.line.saturating_sub(1) as usize)
            .cloned()
            .unwrap_or_default(),
        message: d.message.clone(),
    }
}

/// A value on one line: a scalar, an array, or an inline table (TOML's
/// inline tables and arrays nest).
fn inline(v: &Value, path: &str) -> Result<String, Problem> {
    let refuse = |what: &str| Problem {
        field: path.to_string(),
        message: format!("{what} is not accepted here; leave the field out for its default"),
    };
    Ok(match v {
        Value::Null => return Err(refuse("null")),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => quote(s),
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                parts.push(inline(item, &format!("{path}[{i}]"))?);
            }
            format!("[{}]", parts.join(", "))
        }
        Value::Object(m) => {
            let mut parts = Vec::with_capacity(m.len());
            for (k, item) in m {
                let p = format!("{path}.{k}");
                parts.push(format!("{} = {}", quote(k), inline(item, &p)?));
            }
            format!("{{ {} }}", parts.join(", "))
        }
    })
}

/// A JSON number as TOML: integers stay integers, other numbers become
/// floats with a decimal point (TOML reads `1e3` as a float too).
fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let s = n.to_string();
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn fleet() -> Document {
        let src = r#"
version = 1
[[team]]
name = "research"
max_priority = 500
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

    #[test]
    fn a_valid_job_reads_as_the_file_would() {
        let body = serde_json::json!({
            "name": "a", "team": "research", "gpus": 8,
            "accelerators": ["h100"], "work_gpu_hours": 100.5
        });
        let j = job(&body, &fleet()).unwrap();
        assert_eq!((j.name.as_str(), j.gpus, j.work_gpu_hours), ("a", 8, 100.5));
        assert!(j.preemptible, "defaults are the file format's");
    }

    #[test]
    fn problems_name_the_field_and_what_is_accepted() {
        let body = serde_json::json!({
            "name": "a", "team": "research", "gpus": 0,
            "accelerators": ["h100", "tpu9"], "work_gpu_hours": 1, "colour": "red"
        });
        let ps = job(&body, &fleet()).unwrap_err();
        let fields: Vec<&str> = ps.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"gpus"), "{ps:?}");
        assert!(fields.contains(&"colour"), "{ps:?}");
        assert!(fields.contains(&"accelerators"), "{ps:?}");
        let colour = ps.iter().find(|p| p.field == "colour").unwrap();
        assert!(
            colour.message.contains("gpus"),
            "names what is accepted: {colour:?}"
        );
    }

    #[test]
    fn values_toml_cannot_hold_are_refused_with_their_path() {
        let body = serde_json::json!({"name": null, "accelerators": [null]});
        let ps = job(&body, &fleet()).unwrap_err();
        let fields: Vec<&str> = ps.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["accelerators[0]", "name"], "{ps:?}");
        let ps = job(&serde_json::json!([1, 2]), &fleet()).unwrap_err();
        assert_eq!(ps[0].field, "");
    }

    #[test]
    fn nested_tables_carry_what_a_real_engine_needs() {
        let body = serde_json::json!({
            "name": "a", "team": "research", "gpus": 8,
            "accelerators": ["h100"], "work_gpu_hours": 1,
            "exec": {"command": "python train.py", "env": {"SEED": "7"}, "workdir": "/srv/a"}
        });
        let j = job(&body, &fleet()).unwrap();
        assert_eq!(j.exec.command.as_deref(), Some("python train.py"));
        assert_eq!(j.exec.env.get("SEED").map(String::as_str), Some("7"));
        let mut bad = body.clone();
        bad["exec"]["workdir"] = "relative".into();
        let ps = job(&bad, &fleet()).unwrap_err();
        assert_eq!(ps[0].field, "exec", "{ps:?}");
    }

    /// A job body that the fleet accepts as it is.
    fn valid() -> Value {
        serde_json::json!({
            "name": "a", "team": "research", "gpus": 8,
            "accelerators": ["h100"], "work_gpu_hours": 100.5
        })
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            (-3i64..70_000).prop_map(Value::from),
            prop_oneof![Just(i64::MAX), Just(i64::MIN)].prop_map(Value::from),
            prop_oneof![Just(u64::MAX), Just(1u64 << 63)].prop_map(Value::from),
            (-10.0f64..1e6).prop_map(Value::from),
            any::<bool>().prop_map(Value::Bool),
            prop_oneof![Just("h100"), Just("research"), Just(""), Just("x\"\n")]
                .prop_map(Value::from),
            Just(Value::Null),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(2, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![Just("command"), Just("env"), Just("workdir"), Just("zz")],
                    inner,
                    0..3
                )
                .prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// The tree built from the JSON accepts exactly the bodies the
        /// text written out accepts, and reads them into the same job.
        #[test]
        fn the_tree_reads_a_body_as_its_text_does(
            field in prop::sample::select(&[
                "gpus", "priority", "work_gpu_hours", "accelerators", "spot",
                "preemptible", "gpu_milli", "checkpoint_interval_min", "name",
                "team", "exec", "colour",
            ][..]),
            v in value(),
        ) {
            let f = fleet();
            let mut b = valid();
            b[field] = v;
            let by_tree = tree("job", &b)
                .map(|root| gf_model::parse_tree_with("job", "", root, Some(&f)));
            let by_text = read_text("job", &b, &f);
            match (by_tree, by_text) {
                (Some(Ok(a)), Ok(d)) => prop_assert_eq!(
                    serde_json::to_value(&a.jobs).unwrap(),
                    serde_json::to_value(&d.jobs).unwrap()
                ),
                (Some(Ok(_)), Err(ps)) => {
                    prop_assert!(false, "the tree accepts what the text refuses: {ps:?}")
                }
                (_, Ok(_)) => prop_assert!(false, "the text accepts what the tree does not"),
                _ => {}
            }
        }
    }

    #[test]
    fn strings_are_escaped_not_interpreted() {
        let body = serde_json::json!({
            "name": "a\"\n]\n[[job]]\nname = \"b", "team": "research", "gpus": 8,
            "accelerators": ["h100"], "work_gpu_hours": 1
        });
        let j = job(&body, &fleet()).unwrap();
        assert_eq!(j.name, "a\"\n]\n[[job]]\nname = \"b");
    }
}
