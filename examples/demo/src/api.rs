//! What the three services share at their HTTP edge: errors as JSON, the intercepted handler's
//! result, injected faults.

use std::fmt;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hyperion::intercept::{CallResult, Outcome};
use hyperion::{Context, kv};
use serde::Serialize;

use crate::settings::Faults;

/// Why a request was not answered with what it asked for. Client errors (400, 404) are
/// answers, not failures; the others are failures of this service or of one it called.
#[derive(Debug)]
pub enum ApiError {
    /// The request is malformed (400).
    BadRequest(String),
    /// What it names does not exist (404).
    NotFound(String),
    /// A service this one called failed or could not be reached (502).
    Downstream {
        /// The service called.
        service: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// This service failed (500).
    Internal(String),
    /// A failure injected by `DEMO_ERROR_RATE` (500).
    Injected,
}

impl ApiError {
    /// The status the error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Downstream { .. } => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) | ApiError::Injected => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A database error, as a 500.
    pub fn database(error: impl fmt::Display) -> ApiError {
        ApiError::Internal(format!("database: {error}"))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::BadRequest(message) | ApiError::NotFound(message) => f.write_str(message),
            ApiError::Downstream { service, detail } => write!(f, "{service}: {detail}"),
            ApiError::Internal(message) => f.write_str(message),
            ApiError::Injected => f.write_str("injected failure (DEMO_ERROR_RATE)"),
        }
    }
}

impl std::error::Error for ApiError {}

/// The body of every error answer.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: String,
    status: u16,
    /// The trace to look at: present on every error, so that a 502 can be followed.
    #[serde(skip_serializing_if = "str::is_empty")]
    trace_id: &'a str,
}

/// An intercepted handler's result: the answer, or the error with the trace id to put in its
/// body. Only server errors (5xx) count as failed calls (the intercept's `outcome`, the span's
/// status); a 404 is an answer.
pub struct Handled<T> {
    result: Result<T, ApiError>,
    trace_id: String,
}

impl<T> Handled<T> {
    /// The result of a call made under `ctx`.
    pub fn new(ctx: &Context, result: Result<T, ApiError>) -> Self {
        let trace_id = if ctx.span_context().is_valid() {
            ctx.span_context().trace_id().to_string()
        } else {
            String::new()
        };
        Handled { result, trace_id }
    }
}

impl<T> CallResult for Handled<T> {
    fn outcome(&self) -> Outcome<'_> {
        match &self.result {
            Err(error) if error.status().is_server_error() => Outcome::Error {
                type_name: "ApiError",
                error,
            },
            _ => Outcome::Ok,
        }
    }
}

impl<T: IntoResponse> IntoResponse for Handled<T> {
    fn into_response(self) -> Response {
        match self.result {
            Ok(answer) => answer.into_response(),
            Err(error) => {
                let status = error.status();
                let body = ErrorBody {
                    error: error.to_string(),
                    status: status.as_u16(),
                    trace_id: &self.trace_id,
                };
                (status, Json(body)).into_response()
            }
        }
    }
}

/// Applies the injected faults at the start of a handler: maybe a delay, maybe a failure.
///
/// # Errors
///
/// [`ApiError::Injected`] for the `error_rate` fraction of calls.
pub async fn inject(ctx: &Context, faults: &Faults) -> Result<(), ApiError> {
    if faults.slow_rate > 0.0 && rand::random::<f64>() < faults.slow_rate {
        ctx.log().warn(
            "slow call injected",
            &[kv("delay_ms", faults.slow_delay.as_millis() as i64)],
        );
        tokio::time::sleep(faults.slow_delay).await;
    }
    if faults.error_rate > 0.0 && rand::random::<f64>() < faults.error_rate {
        ctx.log().error("failure injected", &[]);
        return Err(ApiError::Injected);
    }
    Ok(())
}
