//! Two `gigafleet serve` replicas on one PostgreSQL: both serve the API,
//! one leads (runs the reconcile loop). The leader is killed with SIGKILL
//! during a storm of submissions through both replicas; the other takes
//! over within seconds, rebuilding the controller (and the simulated world)
//! from the log, and the killed one comes back as a follower. At the end
//! every acknowledged submission exists exactly once and no run was
//! reported started twice.
//!
//! Needs GF_TEST_POSTGRES_URL (scripts/test.sh starts a throw-away
//! PostgreSQL and sets it); fails without it.

mod common;

use std::time::{Duration, Instant};

use common::storm::{Storm, check_log};
use common::{Api, Server, fleet_file, rt};
use tokio_postgres::NoTls;

fn server_url() -> String {
    std::env::var("GF_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "GF_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh, which starts \
             a throw-away PostgreSQL, or `eval \"$(bash scripts/ensure-postgres.sh start)\"` first"
        )
    })
}

/// A new, empty database on the test server; its URL.
async fn fresh_db() -> String {
    let url = server_url();
    let (client, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("GF_TEST_POSTGRES_URL names a running PostgreSQL");
    tokio::spawn(conn);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let db = format!("gf_replicas_{}_{nanos}", std::process::id());
    client
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{db}")
}

/// Which replica leads, waiting at most `secs` for exactly one to.
async fn leader(apis: &[Api], secs: u64) -> (usize, Duration) {
    let t0 = Instant::now();
    loop {
        let mut leading = Vec::new();
        for (i, a) in apis.iter().enumerate() {
            let (s, h) = a.get("/readyz").await;
            if s == 200 && h["leader"] == true {
                leading.push(i);
            }
        }
        if leading.len() == 1 {
            return (leading[0], t0.elapsed());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "no single ready leader within {secs} s: {leading:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn killing_the_leader_of_two_postgres_replicas_loses_nothing_and_runs_nothing_twice() {
    let cycles: u64 = std::env::var("GF_REPLICA_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let rt = rt();
    let url = rt.block_on(fresh_db());
    let tmp = tempfile::tempdir().unwrap();
    let fleet = fleet_file(tmp.path());
    let store = ["--database", url.as_str()];
    let args = ["--time-scale", "72000"];
    let mut servers = vec![
        Server::start_on(&fleet, &store, &args),
        Server::start_on(&fleet, &store, &args),
    ];
    let admin = servers[0]
        .admin
        .clone()
        .or_else(|| servers[1].admin.clone())
        .expect("one replica issued the admin token");
    let mut storm = Storm::new(0x2545_f491_4f6c_dd1d);
    let mut worst = Duration::ZERO;
    for cycle in 0..cycles {
        let apis: Vec<Api> = servers
            .iter()
            .map(|s| Api::new(&s.url, Some(&admin)))
            .collect();
        let (lead, _) = rt.block_on(leader(&apis, 30));
        rt.block_on(storm.cycle(cycle, &apis, || servers[lead].kill()));
        let other = 1 - lead;
        let (now_leads, took) = rt.block_on(leader(&apis[other..=other], 30));
        assert_eq!(now_leads, 0);
        worst = worst.max(took);
        servers[lead] = Server::start_on(&fleet, &store, &args);
    }
    let api = Api::new(&servers[0].url, Some(&admin));
    let all = rt.block_on(storm.settle(&api, 120));
    let acked = storm.acked.lock().unwrap().len();
    assert!(
        acked as u64 > cycles,
        "the storm acknowledged too little to test: {acked}"
    );
    drop(servers);
    let (runs, entries) = rt.block_on(async {
        let s = gf_store::PgStore::connect(&url).await.unwrap();
        check_log(&s).await
    });
    eprintln!(
        "replica test: {cycles} leader kills, worst takeover {:.2} s, {acked} submissions acknowledged, {} jobs stored, {runs} runs started, log of {entries} entries",
        worst.as_secs_f64(),
        all.len()
    );
}
