//! Reading a cluster's `backend = { slurm = { ... } }` table: the engine and
//! its node mapping, each field checked on its own (a URL that is one, a
//! node pattern that expands, one token source). Whether the mapping's
//! arithmetic agrees with the cluster's domains is checked afterwards, in
//! `validate::backend`, where the cluster's domain size is known.

use std::collections::BTreeSet;

use toml_span::value::{Value, ValueInner};

use crate::backend::{BackendSpec, DEFAULT_DOWN_AFTER_S, NodeNames, SLURM_API_VERSIONS, SlurmSpec};
use crate::diag::Diagnostics;
use crate::tbl::{Tbl, wanted};

/// The engines a cluster may name.
const ENGINES: [&str; 1] = ["slurm"];

pub(crate) fn read_backend(cx: &mut Diagnostics, v: Value<'_>) -> Option<BackendSpec> {
    let mut t = Tbl::new(cx, v, "backend")?;
    let slurm = t.take("slurm").and_then(|v| read_slurm(cx, v));
    let at = t.start;
    let had_slurm = t.at("slurm") != at;
    t.finish(cx);
    if !had_slurm {
        cx.error(
            at,
            format!(
                "`backend` names no engine; expected one of: {}, e.g. backend = {{ slurm = {{ url = \"https://slurm:6820\", partition = \"gpu\", user = \"gf\", token_env = \"SLURM_JWT\", nodes = \"gpu-[001-128]\" }} }}",
                ENGINES.join(", ")
            ),
        );
    }
    slurm.map(BackendSpec::Slurm)
}

fn read_slurm(cx: &mut Diagnostics, v: Value<'_>) -> Option<SlurmSpec> {
    let mut t = Tbl::new(cx, v, "backend.slurm")?;
    let url = t.req::<String>(cx, "url");
    if let Some(u) = &url
        && !(u.starts_with("http://") || u.starts_with("https://"))
    {
        cx.error(
            t.at("url"),
            format!("`url` is `{u}`; expected slurmrestd's http:// or https:// address, e.g. https://slurm.example.com:6820"),
        );
    }
    let api = t.or::<String>(cx, "api", SLURM_API_VERSIONS[0].to_string());
    if !SLURM_API_VERSIONS.contains(&api.as_str()) {
        cx.error(
            t.at("api"),
            format!(
                "unsupported slurmrestd API `{api}`; expected one of: {}",
                SLURM_API_VERSIONS.join(", ")
            ),
        );
    }
    let partition = t.req::<String>(cx, "partition");
    let user = t.req::<String>(cx, "user");
    for (k, v) in [("partition", &partition), ("user", &user)] {
        if v.as_ref().is_some_and(|s| s.is_empty()) {
            cx.error(t.at(k), format!("`{k}` is empty"));
        }
    }
    let token_env = t.opt::<String>(cx, "token_env");
    let token_file = t.opt::<String>(cx, "token_file");
    match (&token_env, &token_file) {
        (Some(_), Some(_)) => cx.error(
            t.at("token_file"),
            "give one of `token_env` and `token_file`, not both",
        ),
        (None, None) => cx.error(
            t.start,
            "backend.slurm needs a token: `token_env` (a variable holding the JWT) or `token_file` (a file refreshed with `scontrol token`)",
        ),
        _ => {}
    }
    let nodes = match t.take("nodes") {
        Some(v) => read_nodes(cx, v),
        None => {
            cx.error(
                t.start,
                "missing field `nodes` in backend.slurm; e.g. nodes = \"gpu-[001-128]\" or nodes = [\"gpu-a\", \"gpu-b\"]",
            );
            None
        }
    };
    let nodes_per_domain = t.or::<u32>(cx, "nodes_per_domain", 1);
    if nodes_per_domain == 0 {
        cx.error(
            t.at("nodes_per_domain"),
            "`nodes_per_domain` must be at least 1",
        );
    }
    let gpus_per_node = t.opt::<u32>(cx, "gpus_per_node");
    if gpus_per_node == Some(0) {
        cx.error(t.at("gpus_per_node"), "`gpus_per_node` must be at least 1");
    }
    let down_after_s = t.or::<u32>(cx, "down_after_s", DEFAULT_DOWN_AFTER_S);
    if down_after_s == 0 {
        cx.error(
            t.at("down_after_s"),
            "`down_after_s` must be at least 1 (seconds without an answer before the cluster counts as down)",
        );
    }
    let locs = t.finish(cx);
    Some(SlurmSpec {
        url: url?,
        api,
        partition: partition?,
        user: user?,
        token_env,
        token_file,
        nodes: nodes?,
        nodes_per_domain: nodes_per_domain.max(1),
        gpus_per_node,
        down_after_s: down_after_s.max(1),
        locs,
    })
}

fn read_nodes(cx: &mut Diagnostics, mut v: Value<'_>) -> Option<NodeNames> {
    let at = v.span.start;
    match v.take() {
        ValueInner::String(s) => {
            let names = NodeNames::Pattern(s.into_owned());
            match names.expand() {
                Ok(_) => Some(names),
                Err(e) => {
                    cx.error(at, e);
                    None
                }
            }
        }
        ValueInner::Array(items) => {
            let mut names = Vec::with_capacity(items.len());
            let mut seen = BTreeSet::new();
            for mut i in items {
                let at = i.span.start;
                match i.take() {
                    ValueInner::String(s) if s.is_empty() => cx.error(at, "empty node name"),
                    ValueInner::String(s) => {
                        if !seen.insert(s.to_string()) {
                            cx.error(at, format!("node `{s}` is listed twice"));
                        }
                        names.push(s.into_owned());
                    }
                    other => wanted(cx, at, "a node name", &other),
                }
            }
            Some(NodeNames::List(names))
        }
        other => {
            wanted(
                cx,
                at,
                "a node pattern such as \"gpu-[001-128]\" or a list of node names",
                &other,
            );
            None
        }
    }
}
