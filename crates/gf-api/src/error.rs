//! The one error body every failed request answers with, and the one map
//! from its code to an HTTP status: handlers pick a code, never a status.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What went wrong, as a stable machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not JSON, or not of the expected shape.
    BadRequest,
    /// No token, or a token that is unknown or revoked.
    Unauthorized,
    /// The token may not do this (another team's work, an admin call).
    Forbidden,
    /// No such resource or route.
    NotFound,
    /// The route does not take this method.
    MethodNotAllowed,
    /// The resource exists already, or is in a state that forbids this.
    Conflict,
    /// The body is larger than the server takes.
    PayloadTooLarge,
    /// The JSON is well formed but a value is not accepted.
    Invalid,
    /// Too many requests at once: retry after the `Retry-After` seconds.
    TooManyRequests,
    /// The server cannot take this now (store overloaded, not the leader
    /// for a control call): retry after the `Retry-After` seconds.
    Unavailable,
    /// A fault of the server (never the client's input).
    Internal,
}

impl ErrorCode {
    /// The HTTP status for this code: the only place the mapping lives.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::Invalid => 422,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

/// One problem of a request, at one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// The field path, e.g. `gpus` or `demand[1].rps`; empty for the
    /// request as a whole.
    pub field: String,
    /// What is wrong and what would be accepted.
    pub message: String,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// The code.
    pub code: ErrorCode,
    /// The first problem in words, for people.
    pub message: String,
    /// Every problem found, by field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

impl ApiError {
    /// An error with one message and no field.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// An `invalid` error listing problems by field.
    pub fn invalid(problems: Vec<Problem>) -> Self {
        let message = match problems.first() {
            Some(p) if p.field.is_empty() => p.message.clone(),
            Some(p) => format!("{}: {}", p.field, p.message),
            None => "the request is invalid".to_string(),
        };
        ApiError {
            code: ErrorCode::Invalid,
            message,
            problems,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.status())?;
        for p in self.problems.iter().skip(1) {
            write!(f, "\n  {}: {}", p.field, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}
