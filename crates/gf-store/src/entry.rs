//! How a log entry is stored, the same in both databases: a kind code, an
//! optional id and an optional text, from which [`Body`] is rebuilt.

use crate::{Body, Seq, ServiceId, StoreError};

/// A controller event: the text is the event.
pub(crate) const KIND_EVENT: i64 = 0;
/// A job submission: the id is the job's; the text is read from the job row
/// (its spec never changes, so it is not stored twice).
pub(crate) const KIND_JOB: i64 = 1;
/// A service creation: the id is the service's, the text its spec as created
/// (the service row's spec changes later, the log entry must not).
pub(crate) const KIND_SERVICE: i64 = 2;

/// Rebuilds a log entry's body from its stored parts.
pub(crate) fn body(
    seq: Seq,
    kind: i64,
    ref_id: Option<u64>,
    text: Option<String>,
) -> Result<Body, StoreError> {
    let corrupt = || StoreError::Db(format!("log entry {seq} is corrupt (kind {kind})"));
    match kind {
        KIND_EVENT => Ok(Body::Event(text.ok_or_else(corrupt)?)),
        KIND_JOB => Ok(Body::JobSubmitted {
            job: ref_id.ok_or_else(corrupt)?,
            spec_json: text.ok_or_else(corrupt)?,
        }),
        KIND_SERVICE => Ok(Body::ServiceCreated {
            service: ref_id
                .and_then(|id| ServiceId::try_from(id).ok())
                .ok_or_else(corrupt)?,
            spec_json: text.ok_or_else(corrupt)?,
        }),
        _ => Err(corrupt()),
    }
}
