//! A run becomes one batch job: the domains the scheduler chose become the
//! job's exact node list, the gang's GPUs become GPUs per node, and the job's
//! `exec` becomes the script, environment, working directory and output
//! files. Pure, so every refusal (a domain the cluster lacks, a placement
//! Slurm cannot express) is decided before anything is sent.

use std::collections::BTreeMap;

use gf_model::protocol::{RunKind, RunSpec};

use crate::api::Submission;
use crate::config::ClusterConfig;
use crate::tag::Tags;

/// The PATH a job gets when its `exec.env` sets none: slurmrestd passes no
/// environment of its own.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The batch job of a run on `c`, or why Slurm cannot run it (a refusal).
pub(crate) fn submission(
    c: &ClusterConfig,
    spec: &RunSpec,
    tags: &Tags,
) -> Result<Submission, String> {
    let job = match &spec.kind {
        RunKind::Training { spec: job, .. } => job,
        RunKind::Replica { service, .. } => {
            return Err(format!(
                "service {service}: inference replicas are not run on Slurm (no command to run)"
            ));
        }
    };
    if spec.placement.gpu_milli.is_some_and(|m| m < 1000) {
        return Err("a share of one GPU (gpu_milli) cannot be given by Slurm GRES".into());
    }
    let mut nodes = Vec::new();
    let mut per_node: Option<u32> = None;
    let gpn = c.gpus_per_node;
    for slot in &spec.placement.domains {
        if slot.index >= c.domains() {
            return Err(format!(
                "{} has no domain {} (it has {})",
                c.name,
                slot.index,
                c.domains()
            ));
        }
        if slot.gpus == 0 || slot.gpus > gpn * c.nodes_per_domain {
            return Err(format!(
                "{} GPUs asked of domain {} of {}, which has {}",
                slot.gpus,
                slot.index,
                c.name,
                gpn * c.nodes_per_domain
            ));
        }
        // A share of a domain takes its first nodes, as few as hold it.
        let k = slot.gpus.div_ceil(gpn);
        if !slot.gpus.is_multiple_of(k) {
            return Err(format!(
                "{} GPUs of domain {} do not split evenly over {k} nodes of {gpn} GPUs",
                slot.gpus, slot.index
            ));
        }
        let g = slot.gpus / k;
        match per_node {
            Some(p) if p != g => {
                return Err(format!(
                    "the placement needs {p} GPUs on some nodes and {g} on others; a Slurm job has the same GPUs on every node"
                ));
            }
            _ => per_node = Some(g),
        }
        nodes.extend(c.domain_nodes(slot.index)[..k as usize].iter().cloned());
    }
    let Some(gpus_per_node) = per_node else {
        return Err("the placement names no domain".into());
    };
    let exec = &job.exec;
    let script = match (&exec.script, &exec.command) {
        (Some(s), _) => s.clone(),
        (None, Some(cmd)) => format!("#!/bin/sh\n{cmd}\n"),
        (None, None) => {
            return Err(format!(
                "job `{}` has no exec.command nor exec.script: a Slurm cluster runs real commands only",
                job.name
            ));
        }
    };
    let mut env: BTreeMap<String, String> = exec.env.clone();
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    // What a job needs to resume: which run it is and where its work stands.
    env.insert("GF_RUN".into(), tags.tag(spec.run));
    env.insert("GF_JOB".into(), job.name.clone());
    env.insert("GF_ATTEMPT".into(), spec.run.attempt.to_string());
    if let RunKind::Training {
        resume_gpu_h,
        checkpoint_interval_s,
        ..
    } = &spec.kind
    {
        env.insert("GF_RESUME_GPU_HOURS".into(), resume_gpu_h.to_string());
        env.insert(
            "GF_CHECKPOINT_INTERVAL_S".into(),
            checkpoint_interval_s.to_string(),
        );
    }
    Ok(Submission {
        name: tags.tag(spec.run),
        comment: format!("gigafleet job {}", job.name),
        partition: c.partition.clone(),
        nodes,
        gpus_per_node,
        script,
        env,
        cwd: exec
            .workdir
            .clone()
            .unwrap_or_else(|| c.default_workdir.clone()),
        stdout: exec.output.clone(),
        stderr: exec.error.clone(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gf_model::protocol::{DomainSlot, RunId, RunPlacement};
    use gf_model::{ExecSpec, JobSpec};

    use super::*;
    use crate::config::DEFAULT_TIMEOUT;
    use crate::token::TokenSource;

    fn cluster(nodes_per_domain: u32) -> ClusterConfig {
        ClusterConfig {
            name: "p/r/c".into(),
            url: "http://x".into(),
            api: "v0.0.38".into(),
            partition: "gpu".into(),
            user: "u".into(),
            token: TokenSource::File("/t".into()),
            nodes: (1..=8).map(|i| format!("n{i}")).collect(),
            nodes_per_domain,
            gpus_per_node: 4,
            timeout: DEFAULT_TIMEOUT,
            down_after: std::time::Duration::from_secs(60),
            default_workdir: "/tmp".into(),
        }
    }

    fn run(slots: &[(u32, u32)], exec: ExecSpec) -> RunSpec {
        let job = JobSpec {
            name: "train".into(),
            team: "t".into(),
            priority: 0,
            gpus: slots.iter().map(|s| s.1).sum(),
            accelerators: ["h100".to_string()].into(),
            work_gpu_hours: 1.0,
            checkpoint_interval_min: None,
            checkpoint_cost_min: 1.0,
            checkpoint_persist_min: None,
            checkpoint_in_memory: None,
            replica_group_gpus: None,
            partial_restart: None,
            providers: Vec::new(),
            regions: Vec::new(),
            preemptible: true,
            spot: false,
            gpu_milli: None,
            cpu_milli_per_gpu: 0,
            memory_mib_per_gpu: 0,
            exec,
            locs: Default::default(),
        };
        RunSpec {
            run: RunId { job: 7, attempt: 2 },
            placement: RunPlacement {
                cluster: "p/r/c".into(),
                domains: slots
                    .iter()
                    .map(|&(index, gpus)| DomainSlot {
                        index,
                        gpus,
                        spare: false,
                    })
                    .collect(),
                gpu_milli: None,
            },
            kind: RunKind::Training {
                spec: Arc::new(job),
                resume_gpu_h: 1.5,
                checkpoint_interval_s: 600,
            },
        }
    }

    fn cmd(c: &str) -> ExecSpec {
        ExecSpec {
            command: Some(c.into()),
            ..ExecSpec::default()
        }
    }

    #[test]
    fn whole_domains_become_their_nodes() {
        let s = submission(
            &cluster(2),
            &run(&[(1, 8), (3, 8)], cmd("srun x")),
            &Tags::default(),
        )
        .unwrap();
        assert_eq!(s.nodes, ["n3", "n4", "n7", "n8"]);
        assert_eq!((s.gpus_per_node, s.name.as_str()), (4, "gf-7.2"));
        assert_eq!(s.script, "#!/bin/sh\nsrun x\n");
        assert_eq!(s.env["GF_RESUME_GPU_HOURS"], "1.5");
        assert_eq!(s.env["PATH"], DEFAULT_PATH);
        assert_eq!(s.cwd, "/tmp");
    }

    #[test]
    fn a_share_of_a_domain_takes_its_first_nodes() {
        let s = submission(&cluster(2), &run(&[(2, 2)], cmd("x")), &Tags::default()).unwrap();
        assert_eq!(
            (s.nodes.as_slice(), s.gpus_per_node),
            (&["n5".to_string()][..], 2)
        );
    }

    #[test]
    fn what_slurm_cannot_run_is_refused_before_sending() {
        let c = cluster(1);
        for (r, want) in [
            (run(&[(8, 4)], cmd("x")), "has no domain 8"),
            (run(&[(0, 5)], cmd("x")), "5 GPUs asked"),
            (run(&[(0, 4), (1, 2)], cmd("x")), "same GPUs on every node"),
            (run(&[(0, 4)], ExecSpec::default()), "no exec.command"),
        ] {
            let e = submission(&c, &r, &Tags::default()).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
