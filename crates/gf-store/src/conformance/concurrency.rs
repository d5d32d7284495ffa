//! The conformance checks of many writers at once: every concurrent
//! submission acknowledged exactly once, one job per idempotency key under a
//! race, and a reader following the log's tail never skipping an entry.

use std::collections::BTreeSet;
use std::time::Duration;

use super::*;

/// 2,000 submissions from 100 tasks over two handles (two servers): each
/// acknowledged once, with distinct ids and a dense log of exactly them.
pub async fn concurrent_submissions_acknowledged_once<H: Harness>(h: &H) -> Check {
    let handles = [open(h).await?, open(h).await?];
    let (tasks, each) = (100usize, 20usize);
    let mut joins = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let s = handles[t % 2].clone();
        joins.spawn(async move {
            let mut got = Vec::new();
            for i in 0..each {
                let job = new_job(&format!("team{}", t % 7), &format!("t{t}-{i}"), 1, None);
                got.push((format!("t{t}-{i}"), s.submit_job(job).await?));
            }
            Ok::<_, StoreError>(got)
        });
    }
    let mut acks = Vec::new();
    while let Some(r) = joins.join_next().await {
        acks.extend(ok(joined(r)?, "submit")?);
    }
    let n = tasks * each;
    ensure(acks.len() == n, || {
        format!("{} acknowledgements", acks.len())
    })?;
    let ids: BTreeSet<u64> = acks.iter().map(|(_, s)| s.id).collect();
    let seqs: BTreeSet<u64> = acks.iter().map(|(_, s)| s.seq).collect();
    ensure(ids.len() == n && seqs.len() == n, || {
        format!(
            "{} distinct ids and {} distinct seqs for {n}",
            ids.len(),
            seqs.len()
        )
    })?;
    ensure(acks.iter().all(|(_, s)| s.created), || "all created".into())?;
    ensure(seqs.iter().copied().eq(1..=n as u64), || {
        "seqs not dense from 1".into()
    })?;
    let last = ok(handles[0].last_seq().await, "last_seq")?;
    ensure(last == n as u64, || format!("last_seq {last}"))?;
    let mut logged = Vec::new();
    let mut after = 0;
    loop {
        let page = ok(handles[1].read_log(after, 500).await, "read_log")?;
        let Some(r) = page.last() else { break };
        after = r.seq;
        logged.extend(page);
    }
    ensure(logged.len() == n, || {
        format!("{} log entries", logged.len())
    })?;
    for (name, sub) in &acks {
        let r = &logged[(sub.seq - 1) as usize];
        let Body::JobSubmitted { job, spec_json } = &r.body else {
            return Err(format!("entry {} is {:?}", sub.seq, r.body));
        };
        ensure(*job == sub.id && spec_json.contains(name.as_str()), || {
            format!(
                "entry {} holds job {job} {spec_json}, acknowledged {name} as {sub:?}",
                sub.seq
            )
        })?;
    }
    Ok(())
}

/// Many tasks racing to submit under one key create one job; every one of
/// them is told its id.
pub async fn concurrent_same_key_creates_one<H: Harness>(h: &H) -> Check {
    let handles = [open(h).await?, open(h).await?];
    let mut joins = tokio::task::JoinSet::new();
    for t in 0..64 {
        let s = handles[t % 2].clone();
        joins.spawn(async move {
            s.submit_job(new_job("red", "once", 8, Some("the-key")))
                .await
        });
    }
    let mut subs = Vec::new();
    while let Some(r) = joins.join_next().await {
        subs.push(ok(joined(r)?, "submit")?);
    }
    let created = subs.iter().filter(|s| s.created).count();
    ensure(created == 1, || {
        format!("{created} of 64 racing submissions created")
    })?;
    ensure(
        subs.iter()
            .all(|s| s.id == subs[0].id && s.seq == subs[0].seq),
        || format!("racers were told different jobs: {subs:?}"),
    )?;
    ensure(ok(handles[0].last_seq().await, "last_seq")? == 1, || {
        "racers appended more than once".into()
    })
}

/// A reader tailing the log by seq while two handles append concurrently
/// sees every entry, in order, never one after a gap: seq is commit order.
pub async fn tail_never_skips<H: Harness>(h: &H) -> Check {
    let handles = [open(h).await?, open(h).await?];
    let (writers, appends, per) = (6usize, 40usize, 3usize);
    let total = (writers * appends * per) as u64;
    let mut joins = tokio::task::JoinSet::new();
    for w in 0..writers {
        let s = handles[w % 2].clone();
        joins.spawn(async move {
            for i in 0..appends {
                let seqs = s
                    .append(None, i as i64, events(&format!("w{w}i{i}"), per))
                    .await?;
                if !seqs.windows(2).all(|p| p[0] < p[1]) {
                    return Err(StoreError::Db(format!(
                        "one append's seqs out of order: {seqs:?}"
                    )));
                }
            }
            Ok::<_, StoreError>(())
        });
    }
    let tailer = handles[1].clone();
    let mut seen = 0u64;
    let mut polls = 0u64;
    while seen < total {
        let page = ok(tailer.read_log(seen, 50).await, "read_log")?;
        for r in &page {
            ensure(r.seq == seen + 1, || {
                format!("the tail jumped from {seen} to {} (poll {polls})", r.seq)
            })?;
            seen = r.seq;
        }
        polls += 1;
        if page.is_empty() {
            ensure(polls < 200_000, || {
                format!("the tail stalled at {seen} of {total}")
            })?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    while let Some(r) = joins.join_next().await {
        ok(joined(r)?, "append")?;
    }
    ensure(ok(tailer.last_seq().await, "last_seq")? == total, || {
        "more entries than appended".into()
    })
}
