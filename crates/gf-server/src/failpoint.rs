//! Named points where a test can make the server die, to prove that a
//! crash exactly there loses nothing and repeats nothing.
//!
//! Killing a process from outside cannot aim between two steps a few
//! microseconds apart (a submission to Slurm and the next write); a point
//! in the code can. `GF_FAILPOINT=NAME` in the server's environment makes
//! it abort at the first pass through the point of that name. Without the
//! variable a point costs one cached comparison. Only tests set it.

use std::sync::OnceLock;

/// Aborts the process, as a crash would, if `GF_FAILPOINT` names `name`.
pub fn hit(name: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("GF_FAILPOINT").ok());
    if armed.as_deref() == Some(name) {
        eprintln!("gigafleet: failpoint {name} hit; aborting as a crash would");
        std::process::abort();
    }
}
