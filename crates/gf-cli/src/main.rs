//! The `gigafleet` binary: one command-line front for the fleet model, the
//! scheduler, and (as they land) the twin, replay and the control plane.
//! Argument parsing and output live here; decisions live in the libraries.

mod bench;
mod client;
mod load;
mod out;
mod place;
mod plan;
mod replay;
mod replay_philly;
mod report;
mod serve;
mod simulate;
mod validate;

use out::outln;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// gigafleet: the control plane of a multi-cloud GPU fleet.
#[derive(Parser)]
#[command(name = "gigafleet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check fleet, workload and scenario files; errors as PATH:LINE:COL.
    Validate(validate::ValidateArgs),
    /// Decide where one job or service goes on a fleet, and why.
    Place(place::PlaceArgs),
    /// Replay a public cluster trace through a placement policy.
    Replay(replay::ReplayArgs),
    /// Run a scenario through the digital twin: the fleet over months, in seconds.
    Simulate(simulate::SimulateArgs),
    /// Plan capacity against demand, contracts and power: what to buy, where, when.
    Plan(plan::PlanArgs),
    /// Run the live control plane: API, durable store, reconciler, backend.
    Serve(serve::ServeArgs),
    /// Submit the jobs of a job file to a control plane.
    Submit(client::SubmitArgs),
    /// Show one job, or the jobs (live ones unless --all).
    Status(client::StatusArgs),
    /// Cancel a job.
    Cancel(client::IdArgs),
    /// Say why a job is where it is (why it waits, runs there, was preempted).
    Explain(client::IdArgs),
    /// Show the fleet: clusters, GPUs online and allocated, power by site.
    Fleet(client::ConnArgs),
    /// Follow the control plane's event stream.
    Watch(client::WatchArgs),
    /// Manage API tokens (admin).
    #[command(subcommand)]
    Token(client::TokenCmd),
    /// Measure the live control plane (durable submissions per second through HTTP).
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Print the JSON Schema of the file format.
    Schema,
}

// mimalloc rather than glibc's malloc: the twin allocates and frees a few
// small blocks per job and replica (millions a simulated year), where glibc
// spent ~12% of the 20M-GPU year in malloc and free; mimalloc takes 6% less
// CPU for that year (docs/performance.md). Built without transparent huge
// pages (`no_thp`): they cut user time further but, on virtual machines like
// ours, the kernel's compaction for them cost more system time than they saved.
// Its 2.x line (`v2`) rather than 3.x: the Rust crate asks every allocation
// for its alignment, and 3.x serves a block over 128 bytes whose size is not a
// power of two (a job's spec, its live part) through its over-allocating
// aligned path whenever the size class's page has no free block at hand;
// 2.x takes its plain small-object path (0.9% fewer instructions for the
// 20M-GPU twin, 676 -> 633 MB peak; docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Place(a) => place::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Submit(a) => client::submit(a),
        Command::Status(a) => client::status(a),
        Command::Cancel(a) => client::cancel(a),
        Command::Explain(a) => client::explain(a),
        Command::Fleet(a) => client::fleet(a),
        Command::Watch(a) => client::watch(a),
        Command::Token(c) => client::token(c),
        Command::Bench(c) => bench::run(c),
        Command::Schema => schema(),
    };
    match result {
        Ok(code) => code,
        // The reader went away (`| head`): nothing more is wanted, no error to report.
        Err(e) if out::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<out::BadInput>().is_some() => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn schema() -> anyhow::Result<ExitCode> {
    let schema = schemars::schema_for!(gf_model::Document);
    outln!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}
