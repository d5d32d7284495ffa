//! The tag that marks a Slurm job as a gigafleet run: its job name,
//! `gf-<job>.<attempt>`, or `gf-<deployment>-<job>.<attempt>` for a
//! deployment with a name. Everything gigafleet knows of a job it submitted
//! can be lost in a crash except this name, which Slurm keeps; so the tag is
//! how a dispatch finds a run already submitted, how a restarted controller
//! finds its runs, and how a run started twice is noticed.
//!
//! The deployment's name keeps two control planes that submit as the same
//! Slurm user (staging beside production, or two test servers) from taking
//! each other's jobs for their own: job numbers start at 1 in every store,
//! so without it one would adopt, or stop as unknown, the other's work.

use gf_model::protocol::RunId;

const PREFIX: &str = "gf-";

/// The tags of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tags {
    prefix: String,
}

impl Default for Tags {
    fn default() -> Tags {
        Tags {
            prefix: PREFIX.to_string(),
        }
    }
}

impl Tags {
    /// The tags of the deployment named `name`: 1 to 16 lowercase ASCII
    /// letters and digits (`None` if it is not).
    pub fn named(name: &str) -> Option<Tags> {
        let ok = (1..=16).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        ok.then(|| Tags {
            prefix: format!("{PREFIX}{name}-"),
        })
    }

    /// The job name of a run.
    pub fn tag(&self, run: RunId) -> String {
        format!("{}{}.{}", self.prefix, run.job, run.attempt)
    }

    /// The run a job name tags, if it is this deployment's tag.
    pub fn parse(&self, name: &str) -> Option<RunId> {
        parse_rest(name.strip_prefix(self.prefix.as_str())?)
    }
}

/// The job name of a run of the deployment without a name.
pub fn tag(run: RunId) -> String {
    Tags::default().tag(run)
}

/// The run a job name tags, if it is a tag of the deployment without a
/// name.
pub fn parse(name: &str) -> Option<RunId> {
    Tags::default().parse(name)
}

fn parse_rest(rest: &str) -> Option<RunId> {
    let (job, attempt) = rest.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(job) || !digits(attempt) {
        return None;
    }
    Some(RunId {
        job: job.parse().ok()?,
        attempt: attempt.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_reads_back_as_its_run() {
        let run = RunId {
            job: 18_446_744_073_709_551_615,
            attempt: 7,
        };
        assert_eq!(parse(&tag(run)), Some(run));
        for other in [
            "gf-1",
            "gf-.1",
            "gf-1.",
            "gf-+1.2",
            "gf-1.2.3",
            "job-1.2",
            "gf-1.99999999999",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    #[test]
    fn a_deployment_reads_its_own_tags_only() {
        let run = RunId { job: 1, attempt: 1 };
        let x = Tags::named("x1").unwrap();
        let y = Tags::named("y2").unwrap();
        assert_eq!(x.tag(run), "gf-x1-1.1");
        assert_eq!(x.parse(&x.tag(run)), Some(run));
        assert_eq!(y.parse(&x.tag(run)), None);
        assert_eq!(parse(&x.tag(run)), None);
        assert_eq!(x.parse(&tag(run)), None);
        for bad in ["", "X", "a-b", "a.b", "abcdefghijklmnopq"] {
            assert_eq!(Tags::named(bad), None, "{bad:?}");
        }
    }
}
