//! The conformance checks of a store's life beyond one handle: one leader
//! at a time, a deposed leader's writes refused by its fence, a schema too
//! new refused, and everything committed still there after a reopen.

use std::time::Duration;

use super::*;

/// Polls `acquire_leadership` until it leads, for a bounded time: a dead
/// leader's lock may take a moment to be released.
async fn lead_within<S: Store>(s: &S, patience: Duration) -> Result<Fence, String> {
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    loop {
        if let Some(f) = ok(s.acquire_leadership().await, "acquire_leadership")? {
            return Ok(f);
        }
        if waited >= patience {
            return Err(format!(
                "no leadership within {patience:?} after the leader left"
            ));
        }
        tokio::time::sleep(step).await;
        waited += step;
    }
}

/// One handle leads at a time: a second cannot while the first lives, and
/// can once it is gone, with a greater fence; `is_leader` follows.
pub async fn leadership_is_exclusive<H: Harness>(h: &H) -> Check {
    let a = open(h).await?;
    let b = open(h).await?;
    let fa = ok(a.acquire_leadership().await, "acquire_leadership")?
        .ok_or("the first handle must lead")?;
    ensure(
        ok(b.acquire_leadership().await, "acquire_leadership")?.is_none(),
        || "a second handle led while the first did".into(),
    )?;
    ensure(ok(a.is_leader(fa).await, "is_leader")?, || "a leads".into())?;
    ensure(ok(b.is_leader(fa).await, "is_leader")?, || {
        "b sees a's fence as the leader's".into()
    })?;
    ensure(
        !ok(b.is_leader(Fence(fa.0 + 1)).await, "is_leader")?,
        || "a fence never handed out does not lead".into(),
    )?;
    ensure(
        ok(b.acquire_leadership().await, "acquire_leadership")?.is_none(),
        || "b led on a second try".into(),
    )?;
    drop(a);
    let fb = lead_within(&b, Duration::from_secs(20)).await?;
    ensure(fb.0 > fa.0, || format!("new fence {fb:?} not above {fa:?}"))?;
    ensure(ok(b.is_leader(fb).await, "is_leader")?, || "b leads".into())?;
    ensure(!ok(b.is_leader(fa).await, "is_leader")?, || {
        "the old fence still leads".into()
    })?;
    let c = open(h).await?;
    ensure(
        ok(c.acquire_leadership().await, "acquire_leadership")?.is_none(),
        || "a third handle led while b did".into(),
    )?;
    ensure(ok(c.is_leader(fb).await, "is_leader")?, || {
        "c sees b's fence as the leader's".into()
    })
}

/// Writes carrying a stale fence are refused with `Fenced` and change
/// nothing; the current fence's and unfenced writes go through.
pub async fn stale_fence_writes_nothing<H: Harness>(h: &H) -> Check {
    let s = open(h).await?;
    let old =
        ok(s.acquire_leadership().await, "acquire_leadership")?.ok_or("a lone handle must lead")?;
    let job = ok(s.submit_job(new_job("red", "a", 8, None)).await, "submit")?;
    let svc = ok(s.create_service(new_service("red", "chat")).await, "create")?;
    ok(
        s.append(Some(old), 1, events("ok", 1)).await,
        "append with the current fence",
    )?;
    let new = ok(s.acquire_leadership().await, "acquire_leadership")?
        .ok_or("re-acquiring while leading must lead")?;
    ensure(new.0 > old.0, || format!("fence {new:?} not above {old:?}"))?;
    ensure(!ok(s.is_leader(old).await, "is_leader")?, || {
        "the stale fence still leads".into()
    })?;

    let last = ok(s.last_seq().await, "last_seq")?;
    let row = ok(s.job(job.id).await, "job")?;
    let srow = ok(s.service(svc.id as u32).await, "service")?;
    match s.append(Some(old), 2, events("stale", 3)).await {
        Err(StoreError::Fenced(f)) if f == old.0 => {}
        other => return Err(format!("append with a stale fence gave {other:?}")),
    }
    match s
        .update_jobs(Some(old), vec![update(job.id, "running", false)])
        .await
    {
        Err(StoreError::Fenced(_)) => {}
        other => return Err(format!("update_jobs with a stale fence gave {other:?}")),
    }
    match s
        .update_service_detail(Some(old), svc.id as u32, r#"{"stale":1}"#.into(), 9)
        .await
    {
        Err(StoreError::Fenced(_)) => {}
        other => {
            return Err(format!(
                "update_service_detail with a stale fence gave {other:?}"
            ));
        }
    }
    ensure(ok(s.last_seq().await, "last_seq")? == last, || {
        "a fenced append wrote".into()
    })?;
    ensure(ok(s.job(job.id).await, "job")? == row, || {
        "a fenced update changed the job".into()
    })?;
    ensure(
        ok(s.service(svc.id as u32).await, "service")? == srow,
        || "a fenced update changed the service".into(),
    )?;

    let seqs = ok(s.append(Some(new), 3, events("new", 2)).await, "append")?;
    ensure(seqs == [last + 1, last + 2], || {
        format!("current fence seqs {seqs:?}")
    })?;
    ok(
        s.update_jobs(Some(new), vec![update(job.id, "running", false)])
            .await,
        "update_jobs with the current fence",
    )?;
    ok(
        s.update_service_detail(Some(new), svc.id as u32, "{}".into(), 9)
            .await,
        "update_service_detail with the current fence",
    )?;
    ok(
        s.append(None, 4, events("unfenced", 1)).await,
        "unfenced append",
    )?;
    let row = ok(s.job(job.id).await, "job")?.ok_or("job missing")?;
    ensure(row.state == "running", || {
        format!("job after a current update {row:?}")
    })
}

/// A database whose schema is newer than this binary knows is refused.
pub async fn schema_too_new_is_refused<H: Harness>(h: &H) -> Check {
    {
        let s = open(h).await?;
        ok(s.append(None, 1, events("x", 1)).await, "append")?;
    }
    h.force_schema_version(SCHEMA_VERSION + 1).await;
    match h.open().await {
        Err(StoreError::SchemaTooNew { found, known })
            if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION =>
        {
            Ok(())
        }
        Err(e) => Err(format!("a newer schema gave {e}")),
        Ok(_) => Err("a newer schema was opened".into()),
    }
}

/// Everything acknowledged survives dropping the store and opening it
/// again; opening an up-to-date database migrates nothing.
pub async fn durable_across_reopen<H: Harness>(h: &H) -> Check {
    let team = TeamRow {
        name: "red".into(),
        quota_json: "{}".into(),
        weight: 1.0,
        max_priority: 5,
    };
    let (job, svc, fence) = {
        let s = open(h).await?;
        ok(s.append(None, 1, events("e", 2)).await, "append")?;
        let job = ok(
            s.submit_job(new_job("red", "a", 8, Some("k"))).await,
            "submit",
        )?;
        let svc = ok(s.create_service(new_service("red", "chat")).await, "create")?;
        ok(
            s.update_jobs(None, vec![update(job.id, "running", false)])
                .await,
            "update",
        )?;
        ok(s.put_team(team.clone()).await, "put_team")?;
        ok(s.add_token(token_row("ab", Some("red"))).await, "add_token")?;
        ok(s.set_meta("fleet", "v1", true).await, "set_meta")?;
        let fence = ok(s.acquire_leadership().await, "acquire")?.ok_or("must lead")?;
        (job, svc, fence)
    };
    let s = open(h).await?;
    ensure(ok(s.last_seq().await, "last_seq")? == 4, || {
        "log lost".into()
    })?;
    let log = ok(s.read_log(0, 10).await, "read_log")?;
    ensure(
        log.len() == 4
            && log[2].body
                == Body::JobSubmitted {
                    job: job.id,
                    spec_json: new_job("red", "a", 8, None).spec_json,
                },
        || format!("log after reopen {log:?}"),
    )?;
    let row = ok(s.job(job.id).await, "job")?.ok_or("job lost")?;
    ensure(row.state == "running", || {
        format!("projection lost: {row:?}")
    })?;
    let again = ok(
        s.submit_job(new_job("red", "a", 8, Some("k"))).await,
        "submit",
    )?;
    ensure(!again.created && again.id == job.id, || {
        format!("idempotency lost across reopen: {again:?}")
    })?;
    ensure(
        ok(s.service(svc.id as u32).await, "service")?.is_some(),
        || "service lost".into(),
    )?;
    ensure(ok(s.team("red").await, "team")? == Some(team), || {
        "team lost".into()
    })?;
    ensure(ok(s.token("ab").await, "token")?.is_some(), || {
        "token lost".into()
    })?;
    ensure(
        ok(s.meta("fleet").await, "meta")?.as_deref() == Some("v1"),
        || "meta lost".into(),
    )?;
    let next = lead_within(&s, Duration::from_secs(20)).await?;
    ensure(next.0 > fence.0, || {
        format!("fence {next:?} after reopen not above {fence:?}")
    })
}
