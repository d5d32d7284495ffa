//! The crash test: `gigafleet serve` is killed with SIGKILL at random
//! moments during a storm of submissions and cancels, restarted on the same
//! data directory, and the storm goes on. At the end every acknowledged
//! submission exists exactly once (under the id it was acknowledged with),
//! a retried submission never made a second job, no run was reported
//! started twice, and every job reaches an end.
//!
//! 200 kill/restart cycles here (under a minute); `GF_CRASH_CYCLES=1000` for
//! the long run recorded in docs/reliability.md.

mod common;

use common::storm::{Storm, check_log};
use common::{Api, Server, fleet_file, rt};

#[test]
fn sigkill_during_a_storm_loses_nothing_and_runs_nothing_twice() {
    let cycles: u64 = std::env::var("GF_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet_file(tmp.path());
    let data = tmp.path().join("data");
    let args = ["--time-scale", "72000"];
    let mut srv = Server::start(&fleet, &data, &args);
    let admin = srv.admin.clone().unwrap();
    let rt = rt();
    let mut storm = Storm::new(0x9e37_79b9_7f4a_7c15);
    for cycle in 0..cycles {
        let api = Api::new(&srv.url, Some(&admin));
        rt.block_on(storm.cycle(cycle, &[api], || srv.kill()));
        srv = Server::start(&fleet, &data, &args);
    }
    let api = Api::new(&srv.url, Some(&admin));
    let all = rt.block_on(storm.settle(&api, 120));
    let acked = storm.acked.lock().unwrap().len();
    assert!(
        acked as u64 > cycles,
        "the storm acknowledged too little to test: {acked}"
    );
    drop(srv);

    let store = gf_store::SqliteStore::open(&data).unwrap();
    let (runs, entries) = rt.block_on(check_log(&store));
    eprintln!(
        "crash test: {cycles} SIGKILL cycles, {acked} submissions acknowledged, {} jobs stored, {} cancels acknowledged, {runs} runs started, log of {entries} entries",
        all.len(),
        storm.cancels,
    );
}
