//! The tag that marks a Slurm job as a gigafleet run: its job name,
//! `gf-<job>.<attempt>`. Everything gigafleet knows of a job it submitted
//! can be lost in a crash except this name, which Slurm keeps; so the tag is
//! how a dispatch finds a run already submitted, how a restarted controller
//! finds its runs, and how a run started twice is noticed.

use gf_model::protocol::RunId;

const PREFIX: &str = "gf-";

/// The job name of a run.
pub fn tag(run: RunId) -> String {
    format!("{PREFIX}{}.{}", run.job, run.attempt)
}

/// The run a job name tags, if it is a gigafleet tag.
pub fn parse(name: &str) -> Option<RunId> {
    let rest = name.strip_prefix(PREFIX)?;
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
}
