//! `/v1/events`: the event log as server-sent events, each with its
//! sequence number as `id`, so a client that reconnects with
//! `Last-Event-ID` (or `?after=`) misses nothing and sees nothing twice.
//! A team token sees the events of its own jobs only.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as Sse, KeepAlive, Sse as SseBody};
use futures_util::stream::{self, Stream};
use gf_api::{ApiError, EventView};
use gf_store::Store;

use crate::app::App;
use crate::auth::Principal;
use crate::clock::rfc3339;
use crate::fail::Fail;
use crate::logfmt;
use crate::routes::{query, query_num};

/// How often a follower polls the log when nothing new came.
const POLL: Duration = Duration::from_millis(250);

/// Follows the event log.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    params(
        ("after" = Option<u64>, Query, description = "start after this sequence number (default: the end)"),
        ("Last-Event-ID" = Option<u64>, Header, description = "resume after this sequence number"),
    ),
    responses((status = 200, description = "server-sent events, `data` an EventView", content_type = "text/event-stream", body = EventView),
        (status = 400, body = ApiError), (status = 401, body = ApiError)),
    security(("bearer" = []))
)]
pub async fn stream<S: Store>(
    State(app): State<App<S>>,
    headers: HeaderMap,
    q: Result<Query<BTreeMap<String, String>>, QueryRejection>,
) -> Result<SseBody<impl Stream<Item = Result<Sse, Infallible>>>, Fail> {
    let who = app.tokens.principal(&app.store, &headers).await?;
    let q = query(q, &["after"])?;
    let from_header = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| Fail::param("Last-Event-ID", "must be a sequence number"))?,
        ),
    };
    let after = match from_header.or(query_num(&q, "after", 0, u64::MAX)?) {
        Some(a) => a,
        None => app.store.last_seq().await?,
    };
    let state = Follow {
        app,
        who,
        after,
        buf: Vec::new(),
        teams: HashMap::new(),
    };
    let s = stream::unfold(state, |mut st| async move {
        loop {
            if let Some(ev) = st.buf.pop() {
                return Some((Ok(ev), st));
            }
            match st.app.store.read_log(st.after, 256).await {
                Ok(recs) if !recs.is_empty() => {
                    let mut out = Vec::new();
                    for rec in recs {
                        st.after = rec.seq;
                        if let Some(v) = st.view(&rec).await {
                            let data = serde_json::to_string(&v).unwrap_or_default();
                            out.push(
                                Sse::default()
                                    .id(rec.seq.to_string())
                                    .event(v.kind.clone())
                                    .data(data),
                            );
                        }
                    }
                    out.reverse();
                    st.buf = out;
                }
                _ => tokio::time::sleep(POLL).await,
            }
        }
    });
    Ok(SseBody::new(s).keep_alive(KeepAlive::default()))
}

struct Follow<S> {
    app: App<S>,
    who: Principal,
    after: u64,
    buf: Vec<Sse>,
    /// Teams of jobs already looked up.
    teams: HashMap<u64, String>,
}

impl<S: Store> Follow<S> {
    async fn view(&mut self, rec: &gf_store::LogRecord) -> Option<EventView> {
        let l = logfmt::decode(rec).ok()?;
        let job = logfmt::job_of(&l.event);
        if let Principal::Team(t) = &self.who {
            let j = job?;
            if !self.teams.contains_key(&j) {
                let team = self.app.store.job(j).await.ok()??.team;
                self.teams.insert(j, team);
            }
            if self.teams.get(&j) != Some(t) {
                return None;
            }
        }
        Some(EventView {
            seq: rec.seq,
            at: rfc3339(rec.at_s),
            kind: logfmt::kind(&l.event).to_string(),
            job,
            event: serde_json::to_value(&l.event).unwrap_or_default(),
        })
    }
}
