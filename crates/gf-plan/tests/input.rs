//! Bad plan files and bad what-ifs get located, compiler-style errors that
//! say what would be accepted; no input makes the reader panic.

mod common;
use common::*;

fn errors(src: &str) -> Vec<String> {
    match gf_model::parse_document("plan.toml", src) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.iter().map(|d| d.to_string()).collect(),
    }
}

fn base() -> String {
    format!(
        "version = 1\n{}",
        site(
            "a",
            10.0,
            10,
            r#"{ model = "on-demand", usd_per_gpu_hour = 2.0 }"#
        )
    )
}

#[test]
fn unknown_fields_and_bad_values_are_located() {
    let src = format!(
        "{}\n[plan]\nstart = \"2026-01-01\"\nmonths = 0\nunmet_usd_per_gpu_hour = 5.0\nmax_provider_share = 1.5\nhorizon = 3\n",
        base()
    );
    let e = errors(&src);
    let line = |needle: &str| src.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    assert!(
        e.contains(&format!(
            "plan.toml:{}:10: error: `months` must be from 1 to 600 (fifty years)",
            line("months")
        )),
        "{e:?}"
    );
    assert!(e.contains(&format!(
        "plan.toml:{}:22: error: `max_provider_share` is 1.5; expected a fraction in (0, 1], e.g. 0.5",
        line("max_provider_share")
    )), "{e:?}");
    let unknown = e
        .iter()
        .find(|x| x.contains("unknown field `horizon` in [plan]"))
        .unwrap();
    assert!(
        unknown.starts_with(&format!("plan.toml:{}:1:", line("horizon"))),
        "{unknown}"
    );
    assert!(unknown.contains("expected one of:") && unknown.contains("months"));
}

#[test]
fn names_that_point_nowhere_are_located() {
    let src = format!(
        "{}{}\n[[plan.option]]\nname = \"o\"\ncluster = \"a/r1/nope\"\ngpus = 8\nlead_months = 1\nexercise_by = \"2026-06-01\"\n[[plan.site]]\nsite = \"a/r9\"\npower = [{{ date = \"2026-01-01\", mw = 1.0 }}]\n",
        base(),
        flat_plan(3, 5.0, 10.0, false).replace(
            "kind = \"training\"",
            "kind = \"training\"\naccelerators = [\"h900\"]"
        )
    );
    let e = errors(&src).join("\n");
    assert!(
        e.contains(
            "error: unknown cluster `a/r1/nope`; write `provider/region/cluster`, one of: a/r1/c1"
        ),
        "{e}"
    );
    assert!(
        e.contains("error: unknown site `a/r9`; write `provider/region`, one of: a/r1"),
        "{e}"
    );
    assert!(
        e.contains("error: unknown accelerator `h900`; expected one of: h100"),
        "{e}"
    );
    // Each names its line.
    for l in e.lines() {
        assert!(l.starts_with("plan.toml:"), "{l}");
    }
}

#[test]
fn an_inference_demand_without_a_service_is_an_error() {
    let src = format!(
        "{}{}",
        base(),
        flat_plan(3, 5.0, 10.0, false).replace("kind = \"training\"", "kind = \"inference\"")
    );
    let e = errors(&src).join("\n");
    assert!(e.contains("an inference demand needs `service`"), "{e}");
}

#[test]
fn curves_out_of_order_are_located() {
    let src = format!(
        "{}{}",
        base(),
        flat_plan(3, 5.0, 10.0, false).replace(
            "curve = [{ date = \"2026-01-01\", value = 10 }]",
            "curve = [{ date = \"2026-05-01\", value = 1.0 }, { date = \"2026-01-01\", value = 2.0 }]"
        )
    );
    let e = errors(&src).join("\n");
    assert!(
        e.contains("dates out of order: 2026-01-01 comes after 2026-05-01"),
        "{e}"
    );
}

#[test]
fn a_bad_what_if_on_the_command_line_is_located() {
    let d = doc(&format!("{}{}", base(), flat_plan(3, 5.0, 10.0, false)));
    let e = gf_model::parse_what_if("--what-if", "delay_site=a/r7,delay_months=x", &d).unwrap_err();
    let e: Vec<String> = e.iter().map(|d| d.to_string()).collect();
    // Placed on what was typed: the pair, and the column where it starts.
    assert!(
        e.iter().any(|x| x.starts_with(
            "--what-if:1:17: error: `delay_months=x`: expected a whole number, found a string"
        )),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|x| x.starts_with("--what-if:1:1: error: `delay_site=a/r7`: unknown site `a/r7`")),
        "{e:?}"
    );
    let ok = gf_model::parse_what_if("--what-if", "cut_provider=a,cut_share=0.25", &d).unwrap();
    assert_eq!(ok.cut_provider.as_deref(), Some("a"));
    assert_eq!(ok.cut_share, 0.25);
}

#[test]
fn garbage_never_panics() {
    for src in [
        "[plan]\n",
        "version = 1\n[plan]\nstart = 3\nmonths = \"x\"\n",
        "version = 1\nplan = 4\n",
        "version = 1\n[plan]\nstart = \"2026-01-01\"\nmonths = 2\nunmet_usd_per_gpu_hour = 1\ndemand = 3\nwhat_if = [1]\n",
        "version = 1\n[[plan.demand]]\n",
    ] {
        let _ = gf_model::parse_document("x.toml", src);
    }
    for spec in [
        "",
        "=",
        ",,,",
        "a=b=c",
        "name=\"x\"",
        "delay_months=-1",
        "\u{0}=\u{1}",
    ] {
        let _ = gf_model::parse_what_if("w", spec, &doc(&base()));
    }
}
