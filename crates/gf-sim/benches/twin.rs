//! Benchmarks of the digital twin beside the code they measure: two weeks
//! of the seeds' fleet (examples/multicloud-2026.toml), engine events per
//! second included. The headline year-long 1M-GPU figure comes from
//! `gigafleet simulate examples/scale-1m.toml` (docs/performance-twin.md).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gf_sched::Policy;
use gf_sim::{Sim, SimOptions};

fn twin(c: &mut Criterion) {
    let src = include_str!("../../../examples/multicloud-2026.toml");
    let doc = gf_model::parse_document("multicloud-2026.toml", src).expect("example is valid");
    let opts = SimOptions {
        seed: 1,
        policy: Policy::named("default").expect("built-in policy"),
        until: gf_model::Date::from_ymd(2026, 1, 15),
    };
    // One run to learn the event count, so criterion reports events per second.
    let mut probe = Sim::new(&doc, &opts).expect("scenario builds");
    probe.run(&mut |_| {}).expect("the twin runs");
    let mut g = c.benchmark_group("twin");
    g.sample_size(10);
    g.throughput(Throughput::Elements(probe.events));
    g.bench_function("multicloud_2026_two_weeks", |b| {
        b.iter(|| {
            let mut sim = Sim::new(&doc, &opts).expect("scenario builds");
            sim.run(&mut |_| {}).expect("the twin runs");
            sim.events
        })
    });
    g.finish();
}

// The macro defines an undocumented `benches` function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(benches, twin);
}
use group::benches;
criterion_main!(benches);
