//! A failed request as an HTTP response: the one place where an
//! [`ErrorCode`] becomes a status (through [`ErrorCode::status`]) and where
//! busy answers get their `Retry-After`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gf_api::{ApiError, ErrorCode, Problem};
use gf_store::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct Fail(pub ApiError);

impl Fail {
    /// An answer with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Fail {
        Fail(ApiError::new(code, message))
    }

    /// 422 with problems by field.
    pub fn invalid(problems: Vec<Problem>) -> Fail {
        Fail(ApiError::invalid(problems))
    }

    /// 400 about one query or path parameter.
    pub fn param(field: &str, message: impl Into<String>) -> Fail {
        let message = message.into();
        Fail(ApiError {
            code: ErrorCode::BadRequest,
            message: format!("{field}: {message}"),
            problems: vec![Problem {
                field: field.to_string(),
                message,
            }],
        })
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        let code = match &e {
            StoreError::Busy | StoreError::Fenced(_) => ErrorCode::Unavailable,
            StoreError::Conflict(_) => ErrorCode::Conflict,
            StoreError::NotFound(_) => ErrorCode::NotFound,
            StoreError::SchemaTooNew { .. } | StoreError::Db(_) => ErrorCode::Internal,
        };
        if code == ErrorCode::Internal {
            tracing::error!(error = %e, "store failed");
        }
        Fail::new(code, e.to_string())
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = matches!(
            self.0.code,
            ErrorCode::TooManyRequests | ErrorCode::Unavailable
        );
        let mut r = (status, axum::Json(self.0)).into_response();
        if retry {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}
