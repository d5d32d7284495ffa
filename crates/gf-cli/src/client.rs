//! The control plane's command-line client: `submit`, `status`, `cancel`,
//! `explain`, `fleet`, `watch` and `token`. Each speaks the HTTP API through
//! gf-api's types; tables for people, `--json` for scripts.
//!
//! The server and token come from `--server`/`--token`, else the
//! `GIGAFLEET_SERVER`/`GIGAFLEET_TOKEN` variables, else the config file
//! (`$GIGAFLEET_CONFIG`, or `~/.config/gigafleet/config.toml`, with
//! `server = "..."` and `token = "..."`).

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use gf_api::{ApiError, ExplainView, FleetView, JobList, JobView, TokenCreate, TokenCreated};
use serde_json::Value;

use crate::out::{out, outln};

/// Where the server is and who we are.
#[derive(Args, Clone)]
pub struct Conn {
    /// The server's URL (default: $GIGAFLEET_SERVER, the config file, or http://127.0.0.1:8470).
    #[arg(long, global = true)]
    server: Option<String>,
    /// The bearer token (default: $GIGAFLEET_TOKEN or the config file).
    #[arg(long, global = true)]
    token: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Args)]
pub struct SubmitArgs {
    /// A job file: the `[[job]]` tables `gigafleet place` reads.
    file: String,
    /// Idempotency key: submitting again with the same key returns the same
    /// jobs (the job's index is appended for files of several jobs).
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Args)]
pub struct StatusArgs {
    /// One job's id; without it, a list.
    id: Option<u64>,
    /// Only this team's jobs.
    #[arg(long)]
    team: Option<String>,
    /// Only jobs in this state.
    #[arg(long)]
    state: Option<String>,
    /// Ended jobs too (the list shows live jobs by default).
    #[arg(long)]
    all: bool,
    /// Jobs at most.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Args)]
pub struct IdArgs {
    /// The job's id.
    id: u64,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Args)]
pub struct ConnArgs {
    #[command(flatten)]
    conn: Conn,
}

#[derive(Args)]
pub struct WatchArgs {
    /// Start after this sequence number (default: from now on).
    #[arg(long)]
    after: Option<u64>,
    /// Stop after this many events.
    #[arg(long)]
    count: Option<u64>,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a token (admin): for a team, or another admin token.
    Create {
        /// The team it acts for; none for an admin token.
        #[arg(long)]
        team: Option<String>,
        /// Who holds it, what for.
        #[arg(long)]
        label: String,
        #[command(flatten)]
        conn: Conn,
    },
}

/// An HTTP client bound to a server and token.
struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    json: bool,
}

fn config_file() -> Option<(Option<String>, Option<String>)> {
    let path = std::env::var("GIGAFLEET_CONFIG").ok().or_else(|| {
        std::env::var("HOME")
            .ok()
            .map(|h| format!("{h}/.config/gigafleet/config.toml"))
    })?;
    let text = std::fs::read_to_string(path).ok()?;
    let v: toml::Table = text.parse().ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    Some((s("server"), s("token")))
}

impl Client {
    fn new(c: &Conn) -> anyhow::Result<Client> {
        let (file_server, file_token) = config_file().unwrap_or((None, None));
        let base = c
            .server
            .clone()
            .or_else(|| std::env::var("GIGAFLEET_SERVER").ok())
            .or(file_server)
            .unwrap_or_else(|| "http://127.0.0.1:8470".into());
        let token = c
            .token
            .clone()
            .or_else(|| std::env::var("GIGAFLEET_TOKEN").ok())
            .or(file_token);
        Ok(Client {
            http: reqwest::Client::builder()
                .build()
                .context("cannot build the HTTP client")?,
            base: base.trim_end_matches('/').to_string(),
            token,
            json: c.json,
        })
    }

    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(m, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Sends and reads a JSON answer; an error answer becomes its message.
    async fn call(&self, r: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let resp = r
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status >= 400 {
            match serde_json::from_value::<ApiError>(body.clone()) {
                Ok(e) => bail!("{e}"),
                Err(_) => bail!("the server answered {status}"),
            }
        }
        Ok((status, body))
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A job spec as the API takes it: the file's fields, without the ones
/// left at nothing.
fn submission(spec: &gf_model::JobSpec) -> Value {
    let mut v = serde_json::to_value(spec).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
    }
    v
}

fn job_row(j: &JobView) -> String {
    let place = j.cluster.clone().unwrap_or_else(|| "-".into());
    format!(
        "{:>8}  {:<24} {:<12} {:>7}  {:<11} {:>3}  {:<32} {}",
        j.id,
        trunc(&j.name, 24),
        trunc(&j.team, 12),
        j.gpus,
        j.state,
        j.attempt,
        trunc(&place, 32),
        j.reason
    )
}

fn trunc(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

const JOB_HEAD: &str = "      ID  NAME                     TEAM            GPUS  STATE       TRY  CLUSTER                          REASON";

pub fn submit(a: SubmitArgs) -> anyhow::Result<ExitCode> {
    let doc = match crate::load::read(&a.file, None) {
        Ok(d) => d,
        Err(inv) => return Ok(crate::load::report(&inv)),
    };
    if doc.jobs.is_empty() {
        bail!("{} holds no [[job]]", a.file);
    }
    let c = Client::new(&a.conn)?;
    let key = a.idempotency_key.unwrap_or_else(|| {
        let mut b = [0u8; 16];
        // A key per invocation: a retry inside it never submits twice.
        let _ = getrandom::fill(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect()
    });
    let rt = runtime()?;
    let mut done = Vec::new();
    for (i, spec) in doc.jobs.iter().enumerate() {
        let k = if doc.jobs.len() == 1 {
            key.clone()
        } else {
            format!("{key}-{i}")
        };
        let body = submission(spec);
        // A busy server answers 429 or 503: retry with the same key.
        let mut tries = 0;
        let v = loop {
            let r = c
                .req(reqwest::Method::POST, "/v1/jobs")
                .header("Idempotency-Key", &k)
                .json(&body);
            match rt.block_on(c.call(r)) {
                Ok((_, v)) => break v,
                Err(e)
                    if tries < 5
                        && (e.to_string().contains("(429)") || e.to_string().contains("(503)")) =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(200 << tries));
                }
                Err(e) => return Err(e.context(format!("submitting `{}`", spec.name))),
            }
        };
        let j: JobView = serde_json::from_value(v).context("an unexpected answer")?;
        done.push(j);
    }
    if c.json {
        outln!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        for j in &done {
            outln!("submitted job {} ({}) for team {}", j.id, j.name, j.team);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn status(a: StatusArgs) -> anyhow::Result<ExitCode> {
    let c = Client::new(&a.conn)?;
    let rt = runtime()?;
    if let Some(id) = a.id {
        let (_, v) = rt.block_on(c.call(c.req(reqwest::Method::GET, &format!("/v1/jobs/{id}"))))?;
        if c.json {
            outln!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            let j: JobView = serde_json::from_value(v)?;
            outln!("{JOB_HEAD}");
            outln!("{}", job_row(&j));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut jobs: Vec<JobView> = Vec::new();
    let mut cursor: Option<String> = None;
    while jobs.len() < a.limit {
        let mut q: Vec<(&str, String)> =
            vec![("limit", (a.limit - jobs.len()).min(1000).to_string())];
        if let Some(t) = &a.team {
            q.push(("team", t.clone()));
        }
        if let Some(s) = &a.state {
            q.push(("state", s.clone()));
        }
        if !a.all {
            q.push(("terminal", "false".into()));
        }
        if let Some(cu) = &cursor {
            q.push(("cursor", cu.clone()));
        }
        let (_, v) = rt.block_on(c.call(c.req(reqwest::Method::GET, "/v1/jobs").query(&q)))?;
        let page: JobList = serde_json::from_value(v)?;
        jobs.extend(page.jobs);
        match page.next_cursor {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    if c.json {
        outln!("{}", serde_json::to_string_pretty(&jobs)?);
    } else {
        outln!("{JOB_HEAD}");
        for j in &jobs {
            outln!("{}", job_row(j));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn cancel(a: IdArgs) -> anyhow::Result<ExitCode> {
    let c = Client::new(&a.conn)?;
    let rt = runtime()?;
    let (_, v) =
        rt.block_on(c.call(c.req(reqwest::Method::POST, &format!("/v1/jobs/{}/cancel", a.id))))?;
    if c.json {
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        outln!("job {} is being cancelled", a.id);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn explain(a: IdArgs) -> anyhow::Result<ExitCode> {
    let c = Client::new(&a.conn)?;
    let rt = runtime()?;
    let (_, v) =
        rt.block_on(c.call(c.req(reqwest::Method::GET, &format!("/v1/jobs/{}/explain", a.id))))?;
    if c.json {
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let e: ExplainView = serde_json::from_value(v)?;
    outln!("job {} is {}: {}", e.id, e.state, e.summary);
    if let (Some(n), Some(f)) = (e.considered, e.feasible) {
        outln!("  clusters considered {n}, feasible now {f}");
    }
    for cc in &e.causes {
        outln!("  {:>5} clusters: {}", cc.clusters, cc.cause);
    }
    if let Some(p) = &e.placement {
        let gpus: u32 = p.domains.iter().map(|d| d.gpus).sum();
        outln!(
            "  placed on {} ({} GPUs in {} domains)",
            p.cluster,
            gpus,
            p.domains.len()
        );
    }
    for (k, x) in &e.score_terms {
        outln!("  score {k}: {x:.4}");
    }
    for (k, n) in &e.interruptions {
        outln!("  interrupted {n} times by {k}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn fleet(a: ConnArgs) -> anyhow::Result<ExitCode> {
    let c = Client::new(&a.conn)?;
    let rt = runtime()?;
    let (_, v) = rt.block_on(c.call(c.req(reqwest::Method::GET, "/v1/fleet")))?;
    if c.json {
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let f: FleetView = serde_json::from_value(v)?;
    outln!("fleet at {}: {} jobs waiting", f.at, f.pending_jobs);
    outln!(
        "{:<40} {:<8} {:>10} {:>10}",
        "CLUSTER",
        "ACCEL",
        "ONLINE",
        "ALLOCATED"
    );
    for cl in &f.clusters {
        outln!(
            "{:<40} {:<8} {:>10} {:>10}",
            trunc(&cl.name, 40),
            cl.accelerator,
            cl.online_gpus,
            cl.allocated_gpus
        );
    }
    outln!("{:<40} {:>12} {:>12}", "SITE", "DRAWN MW", "ENVELOPE MW");
    for s in &f.sites {
        outln!(
            "{:<40} {:>12.2} {:>12.2}",
            trunc(&s.name, 40),
            s.drawn_mw,
            s.envelope_mw
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn watch(a: WatchArgs) -> anyhow::Result<ExitCode> {
    use futures_util::StreamExt;
    let c = Client::new(&a.conn)?;
    let rt = runtime()?;
    rt.block_on(async {
        let mut r = c.req(reqwest::Method::GET, "/v1/events");
        if let Some(after) = a.after {
            r = r.query(&[("after", after.to_string())]);
        }
        let resp = r
            .send()
            .await
            .with_context(|| format!("cannot reach {}", c.base))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let e: Option<ApiError> = resp.json().await.ok();
            match e {
                Some(e) => bail!("{e}"),
                None => bail!("the server answered {status}"),
            }
        }
        let mut body = resp.bytes_stream();
        let mut buf = String::new();
        let mut seen = 0u64;
        while let Some(chunk) = body.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk?));
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data:")) else {
                    continue;
                };
                let v: Value = serde_json::from_str(data.trim()).unwrap_or(Value::Null);
                if c.json {
                    outln!("{v}");
                } else {
                    let job = v
                        .get("job")
                        .and_then(Value::as_u64)
                        .map(|j| format!(" job {j}"))
                        .unwrap_or_default();
                    out!(
                        "{:>8} {} {}{}\n",
                        v.get("seq").and_then(Value::as_u64).unwrap_or(0),
                        v.get("at").and_then(Value::as_str).unwrap_or(""),
                        v.get("kind").and_then(Value::as_str).unwrap_or(""),
                        job
                    );
                }
                seen += 1;
                if a.count.is_some_and(|n| seen >= n) {
                    return Ok(());
                }
            }
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn token(cmd: TokenCmd) -> anyhow::Result<ExitCode> {
    let TokenCmd::Create { team, label, conn } = cmd;
    let c = Client::new(&conn)?;
    let rt = runtime()?;
    let (_, v) = rt.block_on(
        c.call(
            c.req(reqwest::Method::POST, "/v1/tokens")
                .json(&TokenCreate { team, label }),
        ),
    )?;
    let t: TokenCreated = serde_json::from_value(v)?;
    if c.json {
        outln!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        outln!("{}", t.token);
    }
    Ok(ExitCode::SUCCESS)
}
