//! The HTTP side of one Slurm cluster: every call carries the user and a
//! fresh token, and whatever goes wrong on the way (refused connection,
//! timeout, an error answer) becomes an [`ApiError`] the backend can act on.
//! Which wire format to speak is chosen here, once per cluster, from the
//! configured API version.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::api::{ApiError, JobView, NodeView, Submission};
use crate::token::{Token, TokenSource};
use crate::v0_0_38;

/// The slurmrestd API versions this build speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `openapi/v0.0.38`, Slurm 22.05.
    V0_0_38,
}

impl Api {
    pub(crate) fn from_name(s: &str) -> Option<Api> {
        match s {
            "v0.0.38" => Some(Api::V0_0_38),
            _ => None,
        }
    }
}

/// A signal for a job: a request to exit, or the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGTERM to the batch script and its steps: the job may save and exit.
    Term,
    /// Cancel: Slurm sends SIGTERM, then SIGKILL after its `KillWait`.
    Kill,
}

pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
    user: String,
    token: Token,
    api: Api,
    /// A shorter timeout for every call, while the cluster is silent.
    probe_timeout: Option<Duration>,
}

impl Http {
    pub(crate) fn new(
        url: &str,
        user: &str,
        token: TokenSource,
        api: Api,
        timeout: Duration,
    ) -> Result<Http, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Http {
            client,
            base: url.trim_end_matches('/').to_string(),
            user: user.to_string(),
            token: Token::new(token),
            api,
            probe_timeout: None,
        })
    }

    /// Makes every call give up after `t` (`None`: the configured timeout):
    /// a cluster that stopped answering is probed without holding up the
    /// observation of the others for a whole slurmrestd timeout each time.
    pub(crate) fn set_probe_timeout(&mut self, t: Option<Duration>) {
        self.probe_timeout = t;
    }

    async fn call(
        &mut self,
        now: i64,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, ApiError> {
        let token = self.token.get(now).map_err(ApiError::Unavailable)?;
        let url = format!("{}{path}", self.base);
        let mut req = self
            .client
            .request(method, &url)
            .header("X-SLURM-USER-NAME", &self.user)
            .header("X-SLURM-USER-TOKEN", token);
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(t) = self.probe_timeout {
            req = req.timeout(t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ApiError::Unavailable(format!("{url}: {e}")))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ApiError::Unavailable(format!("{url}: {e}")))?;
        if status == 200 {
            Ok(bytes.to_vec())
        } else {
            Err(match self.api {
                Api::V0_0_38 => v0_0_38::error(status, &bytes),
            })
        }
    }

    /// Every job of the configured user slurmctld still holds (finished
    /// ones until `MinJobAge`): another user's job is never gigafleet's,
    /// whatever its name.
    pub(crate) async fn jobs(&mut self, now: i64) -> Result<Vec<JobView>, ApiError> {
        let mut jobs = match self.api {
            Api::V0_0_38 => {
                let b = self
                    .call(now, Method::GET, &v0_0_38::jobs_path(), None)
                    .await?;
                v0_0_38::jobs(&b)?
            }
        };
        jobs.retain(|j| j.user == self.user);
        Ok(jobs)
    }

    /// Every node of the cluster.
    pub(crate) async fn nodes(&mut self, now: i64) -> Result<Vec<NodeView>, ApiError> {
        match self.api {
            Api::V0_0_38 => {
                let b = self
                    .call(now, Method::GET, &v0_0_38::nodes_path(), None)
                    .await?;
                v0_0_38::nodes(&b)
            }
        }
    }

    /// Submits a batch job; its Slurm job id.
    pub(crate) async fn submit(&mut self, now: i64, s: &Submission) -> Result<u32, ApiError> {
        match self.api {
            Api::V0_0_38 => {
                let body = v0_0_38::submission(s);
                let b = self
                    .call(now, Method::POST, &v0_0_38::submit_path(), Some(&body))
                    .await?;
                v0_0_38::submitted(&b)
            }
        }
    }

    /// Signals or cancels a job.
    pub(crate) async fn signal(&mut self, now: i64, id: u32, sig: Signal) -> Result<(), ApiError> {
        match self.api {
            Api::V0_0_38 => {
                let path = match sig {
                    Signal::Term => format!("{}?signal=SIGTERM", v0_0_38::job_path(id)),
                    Signal::Kill => v0_0_38::job_path(id),
                };
                self.call(now, Method::DELETE, &path, None).await.map(drop)
            }
        }
    }
}
