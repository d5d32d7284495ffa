//! [`SlurmBackend`]: the Backend trait over one or more Slurm clusters.
//!
//! What it remembers, and why. Slurm forgets a finished job after
//! `MinJobAge` and keeps no history without slurmdbd, so the backend records
//! each run it was given (its Slurm job, whether its start was reported,
//! whether a stop was asked, whether its end was reported) and reports an
//! end exactly once, from what it saw; a run whose job vanished before its
//! end was seen is lost. Nothing here survives a crash, and nothing needs
//! to: the job's name carries the run's tag, so a dispatch looks the tag up
//! before submitting and adopts a job already there, `runs` lists every
//! tagged job, and a tagged job nobody dispatched is reported unknown.
//!
//! Failures are told apart by what Slurm says, never guessed: a cluster that
//! does not answer (slurmrestd down, slurmctld down and every call answering
//! `error_number -1`) makes calls answer unavailable and changes nothing
//! known of its runs; only a job slurmctld (reachable) no longer lists is
//! gone.
//!
//! Slurm 22.05 restarted after a SIGKILL recovers an old saved state: a job
//! that was running comes back pending and is started a second time, a job
//! already ended (even cancelled) comes back and runs again, and a job
//! started since the last save is forgotten and its number given to the
//! next job submitted. So a run's job is followed by number *and* tag; a
//! run seen running whose job is pending again is cancelled and reported
//! lost (the controller restarts it from its checkpoint as one new attempt);
//! a run whose job vanished is lost; and any other active job carrying the
//! tag of a run (one over, or one whose job is another) is cancelled, so
//! exactly one run is kept.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures_util::future::join_all;
use gf_backend::{Backend, BackendError, ClusterCapacity};
use gf_model::protocol::{
    CapacityCause, FailureCategory, Report, RunId, RunSpec, ShrinkSpec, StopSpec,
};

use crate::api::{ApiError, JobState, JobView, NodeView};
use crate::client::{Api, Http, Signal};
use crate::config::ClusterConfig;
use crate::error::SlurmError;
use crate::submit::submission;
use crate::tag::Tags;

/// The Slurm backend.
pub struct SlurmBackend {
    clusters: Vec<Cluster>,
    /// The deployment's tags: the jobs named with them are its runs.
    tags: Tags,
    runs: BTreeMap<RunId, Tracked>,
    /// Tagged jobs reported unknown, so each is reported once.
    announced: BTreeSet<RunId>,
}

/// What one cluster answered to an observation.
struct Fetched {
    jobs: Vec<JobView>,
    nodes: Vec<NodeView>,
}

struct Cluster {
    cfg: ClusterConfig,
    http: Http,
    /// Whether each domain was last reported online. None is at first:
    /// the controller's capacity starts empty, and the first observation
    /// that answers brings the domains whose nodes are up online.
    online: Vec<bool>,
    /// The first answer was reported (its domains brought online).
    introduced: bool,
    /// Since when the cluster has not answered (`None`: its last
    /// observation answered).
    unanswered_since: Option<i64>,
    /// It was reported down (every domain offline) for not answering.
    down: bool,
    /// When it was last asked, while silent.
    last_probe: i64,
    /// Its last failure took long (a timeout): probe it sparingly.
    slow: bool,
}

/// Seconds between two probes of a cluster that does not answer: the
/// observations in between skip it rather than wait on it.
const PROBE_EVERY_S: i64 = 5;

/// A failure that took this long was a wait, not a refusal.
const SLOW_FAILURE: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a probe of a silent cluster may take: well under slurmrestd's
/// wait for an absent slurmctld (`MessageTimeout`, 10 s by default), well
/// over a healthy answer.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// What the backend knows of one run it was given.
struct Tracked {
    cluster: usize,
    /// Its Slurm job, once known.
    job: Option<u32>,
    /// It was seen running (so pending again means a second start).
    seen_running: bool,
    /// Its start was reported.
    started: bool,
    /// A stop was asked: when to kill it, and whether that was sent.
    stop: Option<Stop>,
    /// Its end was reported: nothing more is said of it.
    ended: bool,
}

#[derive(Clone, Copy)]
struct Stop {
    kill_at: i64,
    killed: bool,
}

fn unavailable(cluster: &str, e: ApiError) -> BackendError {
    match e {
        ApiError::Unavailable(m) => BackendError::Unavailable(format!("{cluster}: {m}")),
        ApiError::NoSuchJob => {
            BackendError::Unavailable(format!("{cluster}: slurmctld lost track of a job"))
        }
        ApiError::Rejected(m) => BackendError::Refused(format!("{cluster}: {m}")),
    }
}

/// One cluster's jobs and nodes. A cluster whose last answer was slow to
/// fail is asked at most every [`PROBE_EVERY_S`]: the observations in
/// between skip it rather than wait on it. A quick failure (a token
/// refused before sending, a refused connection) is asked again at once.
async fn fetch(c: &mut Cluster, now: i64) -> Result<Fetched, BackendError> {
    if let Some(since) = c.unanswered_since
        && c.slow
        && now - c.last_probe < PROBE_EVERY_S
    {
        return Err(BackendError::Unavailable(format!(
            "{}: has not answered since {since}; asked again every {PROBE_EVERY_S} s",
            c.cfg.name
        )));
    }
    let t0 = std::time::Instant::now();
    let got = async {
        let jobs = c.http.jobs(now).await;
        let jobs = jobs.map_err(|e| unavailable(&c.cfg.name, e))?;
        let nodes = c.http.nodes(now).await;
        let nodes = nodes.map_err(|e| unavailable(&c.cfg.name, e))?;
        Ok(Fetched { jobs, nodes })
    }
    .await;
    if got.is_err() {
        c.last_probe = now;
        c.slow = t0.elapsed() >= SLOW_FAILURE;
    }
    got
}

/// The job of a tag among `jobs`: the first one still active, else the last
/// one that ran; a job Slurm took a number for but could never run is no run.
fn pick<'a>(jobs: &'a [JobView], name: &str) -> Option<&'a JobView> {
    let mut tagged = jobs.iter().filter(|j| j.name == name && !j.never_ran());
    let all: Vec<&JobView> = tagged.by_ref().collect();
    all.iter()
        .filter(|j| !j.state.is_over())
        .min_by_key(|j| j.id)
        .or_else(|| all.iter().max_by_key(|j| j.id))
        .copied()
}

impl SlurmBackend {
    /// A backend over `clusters`. Nothing is contacted yet: see
    /// [`SlurmBackend::check`].
    pub fn new(clusters: Vec<ClusterConfig>) -> Result<SlurmBackend, SlurmError> {
        let clusters = clusters
            .into_iter()
            .map(|cfg| {
                let config = |message: String| SlurmError::Config {
                    cluster: cfg.name.clone(),
                    message,
                };
                let api = Api::from_name(&cfg.api).ok_or_else(|| {
                    config(format!(
                        "slurmrestd API `{}` is not spoken; expected one of: {}",
                        cfg.api,
                        gf_model::backend::SLURM_API_VERSIONS.join(", ")
                    ))
                })?;
                if cfg.nodes.is_empty()
                    || cfg.nodes_per_domain == 0
                    || !cfg
                        .nodes
                        .len()
                        .is_multiple_of(cfg.nodes_per_domain as usize)
                {
                    return Err(config(format!(
                        "{} nodes do not make whole domains of {}",
                        cfg.nodes.len(),
                        cfg.nodes_per_domain
                    )));
                }
                let http = Http::new(&cfg.url, &cfg.user, cfg.token.clone(), api, cfg.timeout)
                    .map_err(config)?;
                Ok(Cluster {
                    online: vec![false; cfg.domains() as usize],
                    introduced: false,
                    unanswered_since: None,
                    down: false,
                    last_probe: i64::MIN,
                    slow: false,
                    cfg,
                    http,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SlurmBackend {
            clusters,
            tags: Tags::default(),
            runs: BTreeMap::new(),
            announced: BTreeSet::new(),
        })
    }

    /// The backend of a deployment that tags its runs with `tags`: it sees
    /// the jobs of any other tags as nobody's.
    pub fn with_tags(mut self, tags: Tags) -> SlurmBackend {
        self.tags = tags;
        self
    }

    /// Checks every cluster's node mapping against what its slurmrestd
    /// reports: each node known, with the GPUs the mapping gives it. A
    /// cluster that does not answer is an [`SlurmError::Unreachable`] the
    /// caller may choose to start without.
    pub async fn check(&mut self, now: i64) -> Result<(), Vec<SlurmError>> {
        let mut problems = Vec::new();
        for c in &mut self.clusters {
            let name = c.cfg.name.clone();
            let nodes = match c.http.nodes(now).await {
                Ok(n) => n,
                Err(e) => {
                    problems.push(SlurmError::Unreachable {
                        cluster: name,
                        message: format!("{e:?}"),
                    });
                    continue;
                }
            };
            let by_name: BTreeMap<&str, &NodeView> =
                nodes.iter().map(|n| (n.name.as_str(), n)).collect();
            for node in &c.cfg.nodes {
                let message = match by_name.get(node.as_str()) {
                    None => format!("node `{node}` is not known to Slurm"),
                    Some(n) if n.gpus != c.cfg.gpus_per_node => format!(
                        "node `{node}` has {} GPUs in its GRES, the mapping gives it {}",
                        n.gpus, c.cfg.gpus_per_node
                    ),
                    Some(_) => continue,
                };
                problems.push(SlurmError::Mapping {
                    cluster: name.clone(),
                    message,
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn cluster_of(&self, name: &str) -> Result<usize, BackendError> {
        self.clusters
            .iter()
            .position(|c| c.cfg.name == name)
            .ok_or_else(|| BackendError::UnknownCluster(name.to_string()))
    }

    /// Refuses at once a call to a cluster whose last observation did not
    /// answer: each call would wait out slurmrestd's timeout to learn what
    /// the next observation (which probes it) will tell anyway.
    fn answering(&self, ci: usize) -> Result<(), BackendError> {
        let c = &self.clusters[ci];
        match c.unanswered_since {
            Some(t) => Err(BackendError::Unavailable(format!(
                "{}: has not answered since {t} (seconds since the epoch)",
                c.cfg.name
            ))),
            None => Ok(()),
        }
    }

    /// Notes that a cluster did not answer an observation; once it has not
    /// answered for its `down_after`, reports every domain of it offline,
    /// once, so that its work is placed elsewhere. Its runs are not
    /// reported ended: nothing is known of them until it answers again.
    fn unanswered(&mut self, now: i64, ci: usize, out: &mut Vec<Report>) {
        let c = &mut self.clusters[ci];
        if c.unanswered_since.is_none() {
            c.http.set_probe_timeout(Some(PROBE_TIMEOUT));
        }
        let since = *c.unanswered_since.get_or_insert(now);
        if c.down || now - since < c.cfg.down_after.as_secs() as i64 {
            return;
        }
        c.down = true;
        let domains: Vec<u32> = (0..c.online.len() as u32)
            .filter(|&d| c.online[d as usize])
            .collect();
        c.online.iter_mut().for_each(|o| *o = false);
        if !domains.is_empty() {
            out.push(Report::CapacityChanged {
                cluster: c.cfg.name.as_str().into(),
                domains,
                online: false,
                cause: CapacityCause::ClusterOutage,
            });
        }
    }

    fn track(&mut self, run: RunId, cluster: usize, job: Option<u32>) -> &mut Tracked {
        self.announced.remove(&run);
        self.runs.entry(run).or_insert(Tracked {
            cluster,
            job,
            seen_running: false,
            started: false,
            stop: None,
            ended: false,
        })
    }

    /// Cancels a job; a job already gone is fine.
    async fn cancel(&mut self, now: i64, ci: usize, id: u32, sig: Signal) -> Result<(), ApiError> {
        match self.clusters[ci].http.signal(now, id, sig).await {
            Ok(()) | Err(ApiError::NoSuchJob) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every cluster's jobs and nodes, asked of all clusters at once.
    async fn fetch_all(&mut self, now: i64) -> Vec<Result<Fetched, BackendError>> {
        join_all(self.clusters.iter_mut().map(|c| fetch(c, now))).await
    }

    /// Moves one cluster's runs on by what it answered, appending the
    /// reports to `out`.
    async fn observe_cluster(
        &mut self,
        now: i64,
        ci: usize,
        Fetched { jobs, nodes }: Fetched,
        out: &mut Vec<Report>,
    ) -> Result<(), BackendError> {
        let name = self.clusters[ci].cfg.name.clone();
        let by_id: HashMap<u32, &JobView> = jobs.iter().map(|j| (j.id, j)).collect();
        let live: Vec<RunId> = self
            .runs
            .iter()
            .filter(|(_, t)| t.cluster == ci && !t.ended)
            .map(|(r, _)| *r)
            .collect();
        let mut cancel = Vec::new();
        for run in live {
            let name_tag = self.tags.tag(run);
            let t = self.runs.get_mut(&run).expect("listed above");
            // By number and name: a slurmctld restarted from an old state
            // hands a forgotten job's number to the next job submitted.
            let job = match t.job {
                Some(id) => by_id.get(&id).copied().filter(|j| j.name == name_tag),
                None => pick(&jobs, &name_tag),
            };
            let Some(job) = job else {
                // slurmctld answered and no longer has it: purged before its
                // end was seen, or forgotten by a slurmctld that crashed.
                t.ended = true;
                out.push(match t.stop {
                    Some(_) => Report::Stopped {
                        run,
                        progress: None,
                    },
                    None => Report::Lost {
                        run,
                        progress: None,
                    },
                });
                continue;
            };
            t.job = Some(job.id);
            if self.step(now, run, job, out) {
                cancel.push((run, job.id));
            }
        }
        for (run, id) in cancel {
            self.cancel(now, ci, id, Signal::Kill)
                .await
                .map_err(|e| unavailable(&name, e))?;
            if let Some(s) = &mut self.runs.get_mut(&run).expect("tracked").stop {
                s.killed = true;
            }
        }
        // Every active tagged job is the one job of a live run, a second
        // start, or a run nobody gave this backend.
        let mut second = Vec::new();
        for j in jobs.iter().filter(|j| !j.state.is_over()) {
            let Some(run) = self.tags.parse(&j.name) else {
                continue;
            };
            match self.runs.get(&run) {
                // Over, or its job is another: Slurm 22.05 restarted from an
                // old state runs again a job it had ended, or runs a job a
                // second time; exactly one run is kept.
                Some(t) if t.ended || t.cluster != ci || t.job != Some(j.id) => second.push(j.id),
                Some(_) => {}
                None => {
                    if self.announced.insert(run) {
                        out.push(Report::Unknown {
                            run,
                            cluster: name.clone(),
                        });
                    }
                }
            }
        }
        for id in second {
            self.cancel(now, ci, id, Signal::Kill)
                .await
                .map_err(|e| unavailable(&name, e))?;
        }
        self.capacity_changes(ci, &nodes, out);
        Ok(())
    }

    /// Moves a tracked run on by what its job shows; true when the job must
    /// be cancelled now.
    fn step(&mut self, now: i64, run: RunId, job: &JobView, out: &mut Vec<Report>) -> bool {
        let t = self.runs.get_mut(&run).expect("tracked");
        match &job.state {
            JobState::Pending => {
                if t.seen_running {
                    // Slurm 22.05 after a SIGKILL of slurmctld: the job it ran
                    // is pending again and would start a second time.
                    t.ended = true;
                    out.push(Report::Lost {
                        run,
                        progress: None,
                    });
                    return true;
                }
                // A stop of a job that never started needs no grace.
                t.stop.is_some_and(|s| !s.killed)
            }
            JobState::Running | JobState::Other(_) => {
                t.seen_running = true;
                if !t.started {
                    t.started = true;
                    out.push(Report::Started { run });
                }
                t.stop.is_some_and(|s| !s.killed && now >= s.kill_at)
            }
            over => {
                t.ended = true;
                if t.stop.is_some() {
                    out.push(Report::Stopped {
                        run,
                        progress: None,
                    });
                    return false;
                }
                if job.never_ran() {
                    out.push(Report::Refused {
                        run,
                        reason: format!("Slurm could never run it ({})", job.reason),
                    });
                    return false;
                }
                if !t.started {
                    t.started = true;
                    out.push(Report::Started { run });
                }
                out.push(match over {
                    JobState::Completed => Report::Finished { run },
                    // Slurm could not start the batch step on its node: the
                    // host's fault, not the job's.
                    JobState::Failed if job.reason == "JobLaunchFailure" => Report::Failed {
                        run,
                        category: FailureCategory::Hardware,
                        progress: None,
                    },
                    JobState::Failed => Report::Failed {
                        run,
                        category: FailureCategory::Software,
                        progress: None,
                    },
                    JobState::BootFail => Report::Failed {
                        run,
                        category: FailureCategory::Hardware,
                        progress: None,
                    },
                    JobState::Preempted => Report::Failed {
                        run,
                        category: FailureCategory::Preemption,
                        progress: None,
                    },
                    // Its node failed, or someone else cancelled it: gone
                    // through no fault of its own.
                    _ => Report::Lost {
                        run,
                        progress: None,
                    },
                });
                false
            }
        }
    }

    /// Reports the domains that went offline or came back since last told.
    fn capacity_changes(&mut self, ci: usize, nodes: &[NodeView], out: &mut Vec<Report>) {
        let c = &mut self.clusters[ci];
        let now_online = online(&c.cfg, nodes, &c.online);
        // A cluster's first answer brings its capacity in, as a ramp step
        // of the fleet does; later returns are repairs.
        let back = if c.introduced {
            CapacityCause::Repair
        } else {
            CapacityCause::Ramp
        };
        c.introduced = true;
        for (online, cause) in [(false, CapacityCause::DomainFailure), (true, back)] {
            let domains: Vec<u32> = (0..now_online.len())
                .filter(|&d| now_online[d] == online && c.online[d] != online)
                .map(|d| d as u32)
                .collect();
            if !domains.is_empty() {
                out.push(Report::CapacityChanged {
                    cluster: c.cfg.name.as_str().into(),
                    domains,
                    online,
                    cause,
                });
            }
        }
        c.online = now_online;
    }
}

/// Which domains are online: every node of theirs known and up. A node
/// Slurm does not know the state of yet keeps its domain as it was.
fn online(cfg: &ClusterConfig, nodes: &[NodeView], before: &[bool]) -> Vec<bool> {
    let by_name: BTreeMap<&str, &NodeView> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    (0..cfg.domains())
        .map(|d| {
            let mut state = Some(true);
            for n in cfg.domain_nodes(d) {
                match by_name.get(n.as_str()).map(|n| n.up) {
                    None | Some(Some(false)) => return false,
                    Some(None) => state = None,
                    Some(Some(true)) => {}
                }
            }
            state.unwrap_or(before[d as usize])
        })
        .collect()
}

impl Backend for SlurmBackend {
    async fn dispatch(&mut self, now: i64, spec: &RunSpec) -> Result<(), BackendError> {
        let ci = self.cluster_of(&spec.placement.cluster)?;
        if self.runs.contains_key(&spec.run) {
            return Ok(());
        }
        self.answering(ci)?;
        let name = self.clusters[ci].cfg.name.clone();
        let sub =
            submission(&self.clusters[ci].cfg, spec, &self.tags).map_err(BackendError::Refused)?;
        // A run already there (submitted before a crash, or by another
        // instance) is adopted, never submitted twice.
        let jobs = self.clusters[ci]
            .http
            .jobs(now)
            .await
            .map_err(|e| unavailable(&name, e))?;
        if let Some(j) = pick(&jobs, &sub.name) {
            self.track(spec.run, ci, Some(j.id));
            return Ok(());
        }
        match self.clusters[ci].http.submit(now, &sub).await {
            Ok(id) => {
                self.track(spec.run, ci, Some(id));
                Ok(())
            }
            // Not known to have happened: the next dispatch looks the tag up.
            Err(e) => Err(unavailable(&name, e)),
        }
    }

    async fn shrink(&mut self, _now: i64, _shrink: &ShrinkSpec) -> Result<(), BackendError> {
        // Slurm is given no replica sets (a replica has no command to run:
        // `submission` refuses them), so there is never one to shrink.
        Ok(())
    }

    async fn stop(&mut self, now: i64, stop: &StopSpec) -> Result<(), BackendError> {
        if !self.runs.contains_key(&stop.run) {
            // A run this backend was not given (left from before a crash):
            // found by its tag, or there is nothing to stop.
            let name = self.tags.tag(stop.run);
            let mut found = None;
            let mut silent = None;
            for ci in 0..self.clusters.len() {
                if let Err(e) = self.answering(ci) {
                    // It may hold the run: unless another has it, the stop
                    // is not known to be done.
                    silent = Some(e);
                    continue;
                }
                let cname = self.clusters[ci].cfg.name.clone();
                let jobs = self.clusters[ci]
                    .http
                    .jobs(now)
                    .await
                    .map_err(|e| unavailable(&cname, e))?;
                if let Some(j) = pick(&jobs, &name).filter(|j| !j.state.is_over()) {
                    found = Some((ci, j.id));
                    break;
                }
            }
            let Some((ci, id)) = found else {
                return silent.map_or(Ok(()), Err);
            };
            // Its start is no news to whoever stops it.
            self.track(stop.run, ci, Some(id)).started = true;
        }
        let t = self.runs.get(&stop.run).expect("tracked above");
        if t.ended || t.stop.is_some() {
            return Ok(());
        }
        self.answering(t.cluster)?;
        let t = self.runs.get_mut(&stop.run).expect("tracked above");
        let (ci, job) = (t.cluster, t.job);
        let now_kill = stop.grace_s <= 0;
        t.stop = Some(Stop {
            kill_at: now + stop.grace_s.max(0),
            killed: now_kill,
        });
        let Some(id) = job else {
            return Ok(());
        };
        let sig = if now_kill { Signal::Kill } else { Signal::Term };
        let mut sent = self.cancel(now, ci, id, sig).await;
        if sig == Signal::Term && matches!(sent, Err(ApiError::Rejected(_))) {
            // A job still pending cannot take a signal (error 2020) and has
            // nothing to save: it is cancelled at once.
            sent = self.cancel(now, ci, id, Signal::Kill).await;
            if let Some(s) = &mut self.runs.get_mut(&stop.run).expect("tracked").stop {
                s.killed = true;
            }
        }
        if let Err(e) = sent {
            // Not sent: the stop is not taken, so a retry sends it again.
            self.runs.get_mut(&stop.run).expect("tracked").stop = None;
            return Err(unavailable(&self.clusters[ci].cfg.name, e));
        }
        Ok(())
    }

    async fn observe(&mut self, now: i64) -> Result<Vec<Report>, BackendError> {
        let mut out = Vec::new();
        let mut failed = None;
        let mut reached = 0;
        let fetched = self.fetch_all(now).await;
        for (ci, f) in fetched.into_iter().enumerate() {
            match f {
                Ok(f) => {
                    // Answering again: its domains come back as its nodes
                    // say, through the capacity changes below.
                    let c = &mut self.clusters[ci];
                    c.unanswered_since = None;
                    c.down = false;
                    c.http.set_probe_timeout(None);
                    match self.observe_cluster(now, ci, f, &mut out).await {
                        Ok(()) => reached += 1,
                        Err(e) => failed = Some(e),
                    }
                }
                Err(e) => {
                    self.unanswered(now, ci, &mut out);
                    failed = Some(e);
                }
            }
        }
        // One cluster down does not hide what the others report; the
        // capacity call says which is unreachable. A cluster reported down
        // is news even when none answered.
        match failed {
            Some(e) if reached == 0 && out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    async fn capacity(&mut self, now: i64) -> Result<Vec<ClusterCapacity>, BackendError> {
        Ok(join_all(self.clusters.iter_mut().map(|c| async move {
            let domain_gpus = c.cfg.gpus_per_node * c.cfg.nodes_per_domain;
            match c.http.nodes(now).await {
                Ok(nodes) => {
                    let on = online(&c.cfg, &nodes, &c.online);
                    ClusterCapacity {
                        cluster: c.cfg.name.clone(),
                        reachable: true,
                        online: (0..on.len() as u32).filter(|&d| on[d as usize]).collect(),
                        domain_gpus,
                    }
                }
                Err(_) => ClusterCapacity {
                    cluster: c.cfg.name.clone(),
                    reachable: false,
                    online: Vec::new(),
                    domain_gpus,
                },
            }
        }))
        .await)
    }

    async fn runs(&mut self, now: i64) -> Result<Vec<RunId>, BackendError> {
        let mut runs = BTreeSet::new();
        let answers = join_all(self.clusters.iter_mut().map(|c| async move {
            let jobs = c.http.jobs(now).await;
            jobs.map_err(|e| unavailable(&c.cfg.name, e))
        }))
        .await;
        // All or nothing: a cluster that does not answer may hold runs, and
        // a run missing from the list would be taken for lost.
        for jobs in answers {
            // A tagged job still listed is had until this backend reports
            // its end, even one that ended while no server watched: adopted,
            // its end is reported rather than guessed as lost.
            runs.extend(
                jobs?
                    .iter()
                    .filter(|j| !j.never_ran())
                    .filter_map(|j| self.tags.parse(&j.name))
                    .filter(|r| self.runs.get(r).is_none_or(|t| !t.ended)),
            );
        }
        runs.extend(self.runs.iter().filter(|(_, t)| !t.ended).map(|(r, _)| *r));
        Ok(runs.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_TIMEOUT;
    use crate::token::TokenSource;

    fn job(id: u32, name: &str, state: &str, reason: &str) -> JobView {
        JobView {
            id,
            name: name.into(),
            state: JobState::from_name(state),
            reason: reason.into(),
            user: "u".into(),
        }
    }

    #[test]
    fn a_tag_picks_its_first_active_job_else_its_last_that_ran() {
        let jobs = [
            job(3, "gf-1.1", "COMPLETED", "None"),
            job(5, "gf-1.1", "RUNNING", "None"),
            job(4, "gf-1.1", "PENDING", "Resources"),
            job(6, "gf-2.1", "COMPLETED", "None"),
            job(7, "gf-2.1", "FAILED", "NonZeroExitCode"),
            job(8, "gf-3.1", "FAILED", "BadConstraints"),
        ];
        assert_eq!(pick(&jobs, "gf-1.1").map(|j| j.id), Some(4));
        assert_eq!(pick(&jobs, "gf-2.1").map(|j| j.id), Some(7));
        // Slurm's number for a request it could never run is no run.
        assert_eq!(pick(&jobs, "gf-3.1"), None);
    }

    #[test]
    fn a_domain_is_online_when_all_its_nodes_are_up() {
        let cfg = ClusterConfig {
            name: "p/r/c".into(),
            url: "http://x".into(),
            api: "v0.0.38".into(),
            partition: "gpu".into(),
            user: "u".into(),
            token: TokenSource::File("/t".into()),
            nodes: (1..=6).map(|i| format!("n{i}")).collect(),
            nodes_per_domain: 2,
            gpus_per_node: 4,
            timeout: DEFAULT_TIMEOUT,
            down_after: std::time::Duration::from_secs(60),
            default_workdir: "/tmp".into(),
        };
        let node = |name: &str, up: Option<bool>| NodeView {
            name: name.into(),
            up,
            gpus: 4,
        };
        let nodes = [
            node("n1", Some(true)),
            node("n2", Some(false)),
            node("n3", Some(true)),
            node("n4", None),
            node("n5", Some(true)),
            // n6 is not known to Slurm.
        ];
        // A node whose state Slurm does not know yet keeps its domain as it was.
        assert_eq!(
            online(&cfg, &nodes, &[true, true, true]),
            [false, true, false]
        );
        assert_eq!(
            online(&cfg, &nodes, &[true, false, true]),
            [false, false, false]
        );
    }
}
