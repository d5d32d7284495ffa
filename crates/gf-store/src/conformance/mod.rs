//! The Store conformance suite: one set of checks that every store passes
//! unchanged — the log's dense order and paging, idempotent submission, job
//! paging and filters, quota sums, projections, services, teams, tokens,
//! metadata, leadership and fencing, schema versions, durability across a
//! reopen, and many concurrent writers — in the way Quickwit's
//! `metastore_test_suite!` runs one suite over every metastore. A store's
//! tests provide a [`Harness`] (how to open another handle on the same
//! database, and how to tamper with its schema version) and invoke
//! [`store_conformance_suite!`](crate::store_conformance_suite).
//!
//! The checks spawn tokio tasks, so they run inside a multi-threaded tokio
//! runtime (what the server runs them in).

use std::future::Future;

use crate::{
    Body, Fence, JobQuery, JobUpdate, NewJob, NewService, SCHEMA_VERSION, Store, StoreError,
    TeamRow, TokenRow,
};

/// What the suite needs of a store under test beyond the trait.
pub trait Harness: Send + Sync + 'static {
    /// The store.
    type S: Store;
    /// A new handle on the database under test — the same database at every
    /// call, as a second server or the CLI would open it.
    fn open(&self) -> impl Future<Output = Result<Self::S, StoreError>> + Send;
    /// Writes `version` as the database's schema version behind the store's
    /// back (every handle is dropped first).
    fn force_schema_version(&self, version: u32) -> impl Future<Output = ()> + Send;
    /// Cleans up after a check, whatever its outcome.
    fn finish(self) -> impl Future<Output = ()> + Send
    where
        Self: Sized,
    {
        async {}
    }
}

/// A check's result: the first thing found wrong, in words.
pub type Check = Result<(), String>;

mod concurrency;
mod lifetime;

pub use concurrency::*;
pub use lifetime::*;

fn ok<T>(r: Result<T, StoreError>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what} failed: {e}"))
}

fn joined<T>(r: Result<T, tokio::task::JoinError>) -> Result<T, String> {
    r.map_err(|e| format!("a task of the check died: {e}"))
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Check {
    if cond { Ok(()) } else { Err(what()) }
}

async fn open<H: Harness>(h: &H) -> Result<H::S, String> {
    ok(h.open().await, "opening the store")
}

/// A submission of `gpus` GPUs by `team`, its spec naming it.
pub fn new_job(team: &str, name: &str, gpus: u32, key: Option<&str>) -> NewJob {
    NewJob {
        team: team.into(),
        name: name.into(),
        gpus,
        idempotency_key: key.map(Into::into),
        spec_json: format!(r#"{{"name":"{name}","gpus":{gpus}}}"#),
        at_s: 1_000,
    }
}

fn new_service(team: &str, name: &str) -> NewService {
    NewService {
        team: team.into(),
        name: name.into(),
        spec_json: format!(r#"{{"name":"{name}","v":1}}"#),
        at_s: 2_000,
    }
}

fn update(id: u64, state: &str, terminal: bool) -> JobUpdate {
    JobUpdate {
        id,
        state: state.into(),
        terminal,
        attempt: 1,
        cluster: (!terminal).then(|| "aws/us-east-1/a".to_string()),
        reason: format!("now {state}"),
        detail_json: format!(r#"{{"state":"{state}"}}"#),
        at_s: 3_000,
    }
}

fn token_row(sha: &str, team: Option<&str>) -> TokenRow {
    TokenRow {
        sha256: sha.into(),
        team: team.map(Into::into),
        label: format!("token {sha}"),
        created_at_s: 500,
        revoked: false,
    }
}

fn events(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!(r#"{{"{prefix}":{i}}}"#)).collect()
}

/// An empty log reads empty; appended events get dense seqs from 1, read
/// back in order, a page at a time.
pub async fn log_is_dense_and_pages<H: Harness>(h: &H) -> Check {
    let s = open(h).await?;
    ensure(ok(s.last_seq().await, "last_seq")? == 0, || {
        "an empty log must have last_seq 0".into()
    })?;
    ensure(ok(s.read_log(0, 10).await, "read_log")?.is_empty(), || {
        "an empty log must read empty".into()
    })?;
    let first = ok(s.append(None, 10, events("a", 3)).await, "append")?;
    ensure(first == vec![1, 2, 3], || format!("first seqs {first:?}"))?;
    let none = ok(s.append(None, 11, Vec::new()).await, "empty append")?;
    ensure(none.is_empty(), || format!("an empty append gave {none:?}"))?;
    let second = ok(s.append(None, 12, events("b", 4)).await, "append")?;
    ensure(second == vec![4, 5, 6, 7], || {
        format!("second seqs {second:?}")
    })?;
    ensure(ok(s.last_seq().await, "last_seq")? == 7, || {
        "last_seq".into()
    })?;

    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = ok(s.read_log(after, 3).await, "read_log")?;
        ensure(page.len() <= 3, || {
            format!("a page of 3 held {}", page.len())
        })?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        all.extend(page);
    }
    let seqs: Vec<u64> = all.iter().map(|r| r.seq).collect();
    ensure(seqs == (1..=7).collect::<Vec<_>>(), || {
        format!("paged seqs {seqs:?}")
    })?;
    let want: Vec<Body> = events("a", 3)
        .into_iter()
        .chain(events("b", 4))
        .map(Body::Event)
        .collect();
    let got: Vec<Body> = all.iter().map(|r| r.body.clone()).collect();
    ensure(got == want, || format!("bodies {got:?}"))?;
    ensure(all[0].at_s == 10 && all[6].at_s == 12, || {
        format!("times {:?}", all.iter().map(|r| r.at_s).collect::<Vec<_>>())
    })?;
    let tail = ok(s.read_log(5, 100).await, "read_log")?;
    ensure(tail.iter().map(|r| r.seq).eq([6, 7]), || {
        format!("after 5: {tail:?}")
    })?;
    ensure(ok(s.read_log(7, 100).await, "read_log")?.is_empty(), || {
        "nothing after the last entry".into()
    })?;
    ensure(ok(s.read_log(0, 0).await, "read_log")?.is_empty(), || {
        "limit 0 reads nothing".into()
    })
}

/// A second submission with a key its team already used returns the first
/// job, `created: false`, and writes nothing; other teams and keyless jobs
/// are new jobs.
pub async fn submit_is_idempotent<H: Harness>(h: &H) -> Check {
    let s = open(h).await?;
    let a = ok(
        s.submit_job(new_job("red", "a", 8, Some("k1"))).await,
        "submit",
    )?;
    ensure(a.created && a.id == 1 && a.seq == 1, || {
        format!("first {a:?}")
    })?;
    let last = ok(s.last_seq().await, "last_seq")?;
    let mut again = new_job("red", "a-changed", 16, Some("k1"));
    again.at_s = 9_999;
    let b = ok(s.submit_job(again).await, "resubmit")?;
    ensure(!b.created && b.id == a.id && b.seq == a.seq, || {
        format!("a repeated key gave {b:?}, want {a:?} not created")
    })?;
    ensure(ok(s.last_seq().await, "last_seq")? == last, || {
        "a repeated key appended to the log".into()
    })?;
    let row = ok(s.job(a.id).await, "job")?.ok_or("the job vanished")?;
    ensure(
        row.name == "a" && row.gpus == 8 && row.submitted_at_s == 1_000,
        || format!("a repeated key changed the job: {row:?}"),
    )?;
    let other_team = ok(
        s.submit_job(new_job("blue", "a", 8, Some("k1"))).await,
        "submit",
    )?;
    ensure(other_team.created && other_team.id != a.id, || {
        format!("another team's key is its own: {other_team:?}")
    })?;
    let x = ok(s.submit_job(new_job("red", "x", 1, None)).await, "submit")?;
    let y = ok(s.submit_job(new_job("red", "x", 1, None)).await, "submit")?;
    ensure(x.created && y.created && x.id != y.id, || {
        format!("keyless submissions are distinct jobs: {x:?} {y:?}")
    })?;
    let all = ok(
        s.jobs(JobQuery {
            limit: 100,
            ..JobQuery::default()
        })
        .await,
        "jobs",
    )?;
    ensure(all.len() == 4, || {
        format!("{} jobs stored, want 4", all.len())
    })?;
    let row = ok(s.job(a.id).await, "job")?.ok_or("job a missing")?;
    ensure(row.idempotency_key.as_deref() == Some("k1"), || {
        format!("key not kept: {row:?}")
    })
}

/// Submissions, service creations, service changes and events share one
/// dense log, and each entry reads back as what was written — a service's
/// creation entry keeps the spec it was created with after the spec changes.
pub async fn log_carries_every_kind<H: Harness>(h: &H) -> Check {
    let s = open(h).await?;
    let e1 = ok(s.append(None, 1, events("e", 1)).await, "append")?;
    let j = ok(
        s.submit_job(new_job("red", "train", 72, None)).await,
        "submit",
    )?;
    let sv = ok(
        s.create_service(new_service("red", "chat")).await,
        "create_service",
    )?;
    let ch = ok(
        s.change_service(
            sv.id as u32,
            Some(r#"{"name":"chat","v":2}"#.into()),
            false,
            2_100,
            r#"{"changed":"chat"}"#.into(),
        )
        .await,
        "change_service",
    )?;
    let e2 = ok(s.append(None, 5, events("f", 2)).await, "append")?;
    let seqs = [e1[0], j.seq, sv.seq, ch, e2[0], e2[1]];
    ensure(seqs == [1, 2, 3, 4, 5, 6], || format!("seqs {seqs:?}"))?;
    let log = ok(s.read_log(0, 100).await, "read_log")?;
    let bodies: Vec<Body> = log.iter().map(|r| r.body.clone()).collect();
    let want = vec![
        Body::Event(r#"{"e":0}"#.into()),
        Body::JobSubmitted {
            job: j.id,
            spec_json: new_job("red", "train", 72, None).spec_json,
        },
        Body::ServiceCreated {
            service: sv.id as u32,
            spec_json: new_service("red", "chat").spec_json,
        },
        Body::Event(r#"{"changed":"chat"}"#.into()),
        Body::Event(r#"{"f":0}"#.into()),
        Body::Event(r#"{"f":1}"#.into()),
    ];
    ensure(bodies == want, || format!("log bodies {bodies:#?}"))?;
    let at: Vec<i64> = log.iter().map(|r| r.at_s).collect();
    ensure(at == [1, 1_000, 2_000, 2_100, 5, 5], || {
        format!("times {at:?}")
    })
}

/// Jobs list by increasing id, filtered by team, state and terminal, a page
/// after a cursor at a time.
pub async fn jobs_page_and_filter<H: Harness>(h: &H) -> Check {
    let s = open(h).await?;
    let mut ids = Vec::new();
    for i in 0..30u32 {
        let team = if i % 3 == 0 { "blue" } else { "red" };
        let sub = ok(
            s.submit_job(new_job(team, &format!("j{i}"), i + 1, None))
                .await,
            "submit",
        )?;
        ids.push(sub.id);
    }
    ensure(ids == (1..=30).collect::<Vec<_>>(), || {
        format!("ids {ids:?}")
    })?;
    // Jobs 1..=10 run, 11..=15 completed.
    let mut ups: Vec<JobUpdate> = (1..=10).map(|id| update(id, "running", false)).collect();
    ups.extend((11..=15).map(|id| update(id, "completed", true)));
    ok(s.update_jobs(None, ups).await, "update_jobs")?;

    let list = |q: JobQuery| {
        let s = s.clone();
        async move { ok(s.jobs(q).await, "jobs").map(|v| v.iter().map(|j| j.id).collect::<Vec<_>>()) }
    };
    let q = JobQuery {
        limit: 1_000,
        ..JobQuery::default()
    };
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = list(JobQuery {
            after,
            limit: 7,
            ..q.clone()
        })
        .await?;
        ensure(page.len() <= 7, || format!("page of 7 held {}", page.len()))?;
        let Some(&last) = page.last() else { break };
        after = Some(last);
        paged.extend(page);
    }
    ensure(paged == ids, || format!("paged ids {paged:?}"))?;
    let blue = list(JobQuery {
        team: Some("blue".into()),
        ..q.clone()
    })
    .await?;
    let want: Vec<u64> = (1..=30).filter(|id| (id - 1) % 3 == 0).collect();
    ensure(blue == want, || format!("blue jobs {blue:?}"))?;
    let running = list(JobQuery {
        state: Some("running".into()),
        ..q.clone()
    })
    .await?;
    ensure(running == (1..=10).collect::<Vec<_>>(), || {
        format!("running jobs {running:?}")
    })?;
    let done = list(JobQuery {
        terminal: Some(true),
        ..q.clone()
    })
    .await?;
    ensure(done == (11..=15).collect::<Vec<_>>(), || {
        format!("terminal jobs {done:?}")
    })?;
    let live = list(JobQuery {
        terminal: Some(false),
        ..q.clone()
    })
    .await?;
    ensure(live.len() == 25 && !live.contains(&11), || {
        format!("live jobs {live:?}")
    })?;
    let red_pending_after_20 = list(JobQuery {
        team: Some("red".into()),
        state: Some("pending".into()),
        terminal: Some(false),
        after: Some(20),
        limit: 3,
    })
    .await?;
    ensure(red_pending_after_20 == [21, 23, 24], || {
        format!("red pending after 20, 3 of them: {red_pending_after_20:?}")
    })?;
    let none = list(JobQuery {
        team: Some("green".into()),
        ..q.clone()
    })
    .await?;
    ensure(none.is_empty(), || format!("unknown team's jobs {none:?}"))?;
    let past_end = list(JobQuery {
        after: Some(u64::MAX),
        ..q.clone()
    })
    .await?;
    ensure(past_end.is_empty(), || {
        format!("after u64::MAX: {past_end:?}")
    })?;
    let zero = list(JobQuery {
        limit: 0,
        ..q.clone()
    })
    .await?;
    ensure(zero.is_empty(), || format!("limit 0 listed {zero:?}"))
}

/// A page never holds more than 1,000 jobs, whatever the limit asked.
pub async fn jobs_limit_is_capped<H: Harness>(h: &H) -> Check {
    let s = open(h).await?;
    let pending: Vec<_> = (0..1_005)
        .map(|i| s.submit_job(new_job("red", &format!("j{i}"), 1, None)))
        .collect();
    for p in pending {
        ok(p.await, "submit")?;
    }
    let page = ok(
        s.jobs(JobQuery {
            limit: usize::MAX,
            ..JobQuery::default()
        })
        .await,
        "jobs",
    )?;
    ensure(page.len() == 1_000, || {
        format!("a page held {} jobs, the cap is 1,000", page.len())
    })?;
    let rest = ok(
        s.jobs(JobQuery {
            after: page.last().map(|j| j.id),
            limit: 5_000,
            ..JobQuery::default()
        })
        .await,
        "jobs",
    )?;
    ensure(rest.len() == 5, || {
        format!("the next page held {}", rest.len())
    })
}

/// A job reads back as submitted, `pending` until the controller projects
/// onto it; a projection replaces the controller's fields only; unknown
/// ids are skipped.
pub async fn job_projection<H: Harness>(h: &H) -> Check {
    let s = open(h).await?;
    ensure(ok(s.job(1).await, "job")?.is_none(), || {
        "a job before any submission".into()
    })?;
    let sub = ok(
        s.submit_job(new_job("red", "train", 64, Some("key"))).await,
        "submit",
    )?;
    let row = ok(s.job(sub.id).await, "job")?.ok_or("submitted job missing")?;
    let want_spec = new_job("red", "train", 64, None).spec_json;
    ensure(
        row.id == sub.id
            && row.team == "red"
            && row.name == "train"
            && row.gpus == 64
            && row.spec_json == want_spec
            && row.idempotency_key.as_deref() == Some("key")
            && row.submitted_at_s == 1_000
            && row.state == "pending"
            && !row.terminal
            && row.attempt == 0
            && row.cluster.is_none(),
        || format!("fresh job row {row:?}"),
    )?;
    let up = update(sub.id, "running", false);
    ok(
        s.update_jobs(None, vec![up.clone(), update(999, "running", false)])
            .await,
        "update_jobs with an unknown id",
    )?;
    let row = ok(s.job(sub.id).await, "job")?.ok_or("job missing")?;
    ensure(
        row.state == up.state
            && row.terminal == up.terminal
            && row.attempt == up.attempt
            && row.cluster == up.cluster
            && row.reason == up.reason
            && row.detail_json == up.detail_json
            && row.updated_at_s == up.at_s
            && row.spec_json == want_spec
            && row.submitted_at_s == 1_000,
        || format!("projected row {row:?}"),
    )?;
    ensure(ok(s.job(999).await, "job")?.is_none(), || {
        "an update of an unknown id created it".into()
    })?;
    let mut done = update(sub.id, "failed", true);
    done.attempt = 3;
    ok(s.update_jobs(None, vec![done.clone()]).await, "update_jobs")?;
    let row = ok(s.job(sub.id).await, "job")?.ok_or("job missing")?;
    ensure(
        row.state == "failed" && row.terminal && row.attempt == 3 && row.cluster.is_none(),
        || format!("terminal row {row:?}"),
    )?;
    ensure(ok(s.job(u64::MAX).await, "job")?.is_none(), || {
        "job u64::MAX".into()
    })
}

/// `team_gpus_live` sums the GPUs of a team's jobs that are not terminal.
pub async fn quota_counts_live_jobs<H: Harness>(h: &H) -> Check {
    let s = open(h).await?;
    ensure(
        ok(s.team_gpus_live("red").await, "team_gpus_live")? == 0,
        || "no jobs, no GPUs".into(),
    )?;
    let a = ok(s.submit_job(new_job("red", "a", 8, None)).await, "submit")?;
    let b = ok(s.submit_job(new_job("red", "b", 64, None)).await, "submit")?;
    ok(s.submit_job(new_job("red", "c", 1, None)).await, "submit")?;
    ok(
        s.submit_job(new_job("blue", "d", 1_000, None)).await,
        "submit",
    )?;
    let live = ok(s.team_gpus_live("red").await, "team_gpus_live")?;
    ensure(live == 73, || format!("red live GPUs {live}, want 73"))?;
    ok(
        s.update_jobs(
            None,
            vec![
                update(a.id, "running", false),
                update(b.id, "completed", true),
            ],
        )
        .await,
        "update_jobs",
    )?;
    let live = ok(s.team_gpus_live("red").await, "team_gpus_live")?;
    ensure(live == 9, || {
        format!("red live GPUs {live} after b ended, want 9")
    })?;
    let blue = ok(s.team_gpus_live("blue").await, "team_gpus_live")?;
    ensure(blue == 1_000, || format!("blue live GPUs {blue}"))?;
    let none = ok(s.team_gpus_live("green").await, "team_gpus_live")?;
    ensure(none == 0, || format!("unknown team's GPUs {none}"))
}

/// Services: created with a log entry, names unique among live services,
/// a deleted name free again, spec changes and the controller's detail
/// kept, deleted services still readable.
pub async fn services_lifecycle<H: Harness>(h: &H) -> Check {
    let s = open(h).await?;
    ensure(ok(s.service(1).await, "service")?.is_none(), || {
        "a service before any creation".into()
    })?;
    let chat = ok(s.create_service(new_service("red", "chat")).await, "create")?;
    ensure(chat.created && chat.id == 1 && chat.seq == 1, || {
        format!("first service {chat:?}")
    })?;
    let last = ok(s.last_seq().await, "last_seq")?;
    match s.create_service(new_service("blue", "chat")).await {
        Err(StoreError::Conflict(_)) => {}
        other => return Err(format!("a live name taken again gave {other:?}")),
    }
    ensure(ok(s.last_seq().await, "last_seq")? == last, || {
        "a refused creation appended to the log".into()
    })?;
    let embed = ok(
        s.create_service(new_service("blue", "embed")).await,
        "create",
    )?;
    let id = chat.id as u32;
    let row = ok(s.service(id).await, "service")?.ok_or("chat missing")?;
    ensure(
        row.team == "red"
            && row.name == "chat"
            && row.spec_json == new_service("red", "chat").spec_json
            && !row.deleted
            && row.created_at_s == 2_000
            && row.updated_at_s == 2_000,
        || format!("fresh service {row:?}"),
    )?;

    let v2 = r#"{"name":"chat","v":2}"#.to_string();
    let seq = ok(
        s.change_service(id, Some(v2.clone()), false, 2_500, "{}".into())
            .await,
        "change_service",
    )?;
    ensure(seq == ok(s.last_seq().await, "last_seq")?, || {
        "a change's seq is the last".into()
    })?;
    ok(
        s.update_service_detail(None, id, r#"{"replicas":3}"#.into(), 2_600)
            .await,
        "update_service_detail",
    )?;
    let row = ok(s.service(id).await, "service")?.ok_or("chat missing")?;
    ensure(
        row.spec_json == v2 && row.detail_json == r#"{"replicas":3}"# && row.updated_at_s == 2_600,
        || format!("changed service {row:?}"),
    )?;
    match s.update_service_detail(None, 77, "{}".into(), 1).await {
        Err(StoreError::NotFound(_)) => {}
        other => return Err(format!("detail of an unknown service gave {other:?}")),
    }
    match s.change_service(77, None, true, 1, "{}".into()).await {
        Err(StoreError::NotFound(_)) => {}
        other => return Err(format!("changing an unknown service gave {other:?}")),
    }

    ok(
        s.change_service(id, None, true, 2_700, r#"{"deleted":"chat"}"#.into())
            .await,
        "delete",
    )?;
    let row = ok(s.service(id).await, "service")?.ok_or("deleted chat must stay readable")?;
    ensure(row.deleted && row.spec_json == v2, || {
        format!("deleted service {row:?}")
    })?;
    let last = ok(s.last_seq().await, "last_seq")?;
    match s.change_service(id, None, true, 2_800, "{}".into()).await {
        Err(StoreError::NotFound(_)) => {}
        other => return Err(format!("deleting a deleted service gave {other:?}")),
    }
    ensure(ok(s.last_seq().await, "last_seq")? == last, || {
        "a refused change appended to the log".into()
    })?;
    let again = ok(
        s.create_service(new_service("blue", "chat")).await,
        "re-create",
    )?;
    ensure(again.created && again.id == 3, || {
        format!("re-created chat {again:?}")
    })?;
    let all: Vec<(u32, bool)> = ok(s.services(None).await, "services")?
        .iter()
        .map(|r| (r.id, r.deleted))
        .collect();
    ensure(
        all == [(1, true), (embed.id as u32, false), (3, false)],
        || format!("services {all:?}"),
    )?;
    let blue: Vec<u32> = ok(s.services(Some("blue".into())).await, "services")?
        .iter()
        .map(|r| r.id)
        .collect();
    ensure(blue == [2, 3], || format!("blue services {blue:?}"))
}

/// Teams are created, replaced and listed by name.
pub async fn teams_round_trip<H: Harness>(h: &H) -> Check {
    let s = open(h).await?;
    ensure(ok(s.teams().await, "teams")?.is_empty(), || {
        "no teams yet".into()
    })?;
    let red = TeamRow {
        name: "red".into(),
        quota_json: r#"{"*":128}"#.into(),
        weight: 1.5,
        max_priority: 10,
    };
    let blue = TeamRow {
        name: "blue".into(),
        quota_json: r#"{"h100":8}"#.into(),
        weight: 0.25,
        max_priority: 3,
    };
    ok(s.put_team(red.clone()).await, "put_team")?;
    ok(s.put_team(blue.clone()).await, "put_team")?;
    ensure(
        ok(s.team("red").await, "team")? == Some(red.clone()),
        || "red reads back".into(),
    )?;
    let red2 = TeamRow {
        quota_json: r#"{"*":256}"#.into(),
        weight: 2.0,
        max_priority: 20,
        ..red
    };
    ok(s.put_team(red2.clone()).await, "put_team (replace)")?;
    ensure(
        ok(s.team("red").await, "team")? == Some(red2.clone()),
        || "red replaced".into(),
    )?;
    ensure(ok(s.team("green").await, "team")?.is_none(), || {
        "unknown team".into()
    })?;
    let all = ok(s.teams().await, "teams")?;
    ensure(all == vec![blue, red2], || format!("teams by name {all:?}"))
}

/// Tokens: stored by hash, a hash stored twice is a conflict, revocation
/// marks (and keeps) them, listed all or by team.
pub async fn tokens_round_trip<H: Harness>(h: &H) -> Check {
    let s = open(h).await?;
    let admin = token_row("aa01", None);
    let red = token_row("bb02", Some("red"));
    let blue = token_row("cc03", Some("blue"));
    for t in [&admin, &red, &blue] {
        ok(s.add_token(t.clone()).await, "add_token")?;
    }
    match s.add_token(token_row("bb02", Some("blue"))).await {
        Err(StoreError::Conflict(_)) => {}
        other => return Err(format!("a hash stored twice gave {other:?}")),
    }
    ensure(
        ok(s.token("bb02").await, "token")? == Some(red.clone()),
        || "the conflicting add changed the token".into(),
    )?;
    ensure(ok(s.token("dd04").await, "token")?.is_none(), || {
        "unknown token".into()
    })?;
    ok(s.revoke_token("bb02").await, "revoke_token")?;
    let got = ok(s.token("bb02").await, "token")?.ok_or("a revoked token is kept")?;
    ensure(got.revoked && got.team.as_deref() == Some("red"), || {
        format!("revoked token {got:?}")
    })?;
    match s.revoke_token("dd04").await {
        Err(StoreError::NotFound(_)) => {}
        other => return Err(format!("revoking an unknown hash gave {other:?}")),
    }
    let all: Vec<String> = ok(s.tokens(None).await, "tokens")?
        .into_iter()
        .map(|t| t.sha256)
        .collect();
    ensure(all == ["aa01", "bb02", "cc03"], || {
        format!("all tokens {all:?}")
    })?;
    let reds = ok(s.tokens(Some("red".into())).await, "tokens")?;
    ensure(
        reds.len() == 1 && reds[0].sha256 == "bb02" && reds[0].revoked,
        || format!("red tokens {reds:?}"),
    )?;
    ensure(ok(s.token("aa01").await, "token")? == Some(admin), || {
        "admin token".into()
    })
}

/// Metadata: set and read back; `only_if_absent` writes once.
pub async fn meta_only_if_absent<H: Harness>(h: &H) -> Check {
    let s = open(h).await?;
    ensure(ok(s.meta("fleet").await, "meta")?.is_none(), || {
        "no meta yet".into()
    })?;
    ensure(
        ok(s.set_meta("fleet", "v1", true).await, "set_meta")?,
        || "the first only_if_absent must write".into(),
    )?;
    ensure(
        !ok(s.set_meta("fleet", "v2", true).await, "set_meta")?,
        || "a second only_if_absent must not write".into(),
    )?;
    ensure(
        ok(s.meta("fleet").await, "meta")?.as_deref() == Some("v1"),
        || "only_if_absent overwrote".into(),
    )?;
    ensure(
        ok(s.set_meta("fleet", "v3", false).await, "set_meta")?,
        || "an overwrite answers true".into(),
    )?;
    ensure(
        ok(s.meta("fleet").await, "meta")?.as_deref() == Some("v3"),
        || "overwrite lost".into(),
    )?;
    // Many racing first starts: exactly one wins.
    let racers: Vec<_> = (0..20)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.set_meta("epoch", &format!("{i}"), true).await })
        })
        .collect();
    let mut wins = 0;
    for r in racers {
        if ok(joined(r.await)?, "set_meta")? {
            wins += 1;
        }
    }
    ensure(wins == 1, || format!("{wins} racers won only_if_absent"))
}

/// Generates one `#[test]` per conformance check. `$make` is a future of a
/// fresh [`Harness`] (a new, empty database); `$drive` runs a future to
/// completion inside a multi-threaded tokio runtime.
#[macro_export]
macro_rules! store_conformance_suite {
    ($make:expr, $drive:expr) => {
        $crate::store_conformance_suite!(@tests $make, $drive;
            log_is_dense_and_pages, submit_is_idempotent, log_carries_every_kind,
            jobs_page_and_filter, jobs_limit_is_capped, job_projection,
            quota_counts_live_jobs, services_lifecycle, teams_round_trip, tokens_round_trip,
            meta_only_if_absent, leadership_is_exclusive, stale_fence_writes_nothing,
            schema_too_new_is_refused, durable_across_reopen,
            concurrent_submissions_acknowledged_once, concurrent_same_key_creates_one,
            tail_never_skips);
    };
    (@tests $make:expr, $drive:expr; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                let r: $crate::conformance::Check = $drive(async {
                    let h = $make.await;
                    let r = $crate::conformance::$name(&h).await;
                    $crate::conformance::Harness::finish(h).await;
                    r
                });
                if let Err(e) = r {
                    panic!("conformance check {} failed: {e}", stringify!($name));
                }
            }
        )*
    };
}
