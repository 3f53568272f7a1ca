//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics` and `/v1/logs` with a binary protobuf
//! (`application/x-protobuf`) or OTLP/JSON (`application/json`) body, gzip-compressed or not.
//! The answer uses the request's encoding; a body that does not decode is a 400 carrying a
//! `google.rpc.Status` that says why, and stores nothing.

use std::io::Read as _;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use flate2::read::GzDecoder;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use prost::Message as _;

use super::{Logs, MAX_MESSAGE, Metrics, OtlpSignal, Traces};
use crate::store::Store;

/// `google.rpc.Status`, the body of an OTLP/HTTP error.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct RpcStatus {
    /// `google.rpc.Code`: 3 is INVALID_ARGUMENT.
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC's INVALID_ARGUMENT, the code of every rejected body.
const INVALID_ARGUMENT: i32 = 3;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        })
    }
}

/// The OTLP/HTTP routes, sharing `store`.
pub(crate) fn router(store: Store) -> Router {
    Router::new()
        .route(Traces::HTTP_PATH, post(export::<Traces>))
        .route(Metrics::HTTP_PATH, post(export::<Metrics>))
        .route(Logs::HTTP_PATH, post(export::<Logs>))
        .layer(DefaultBodyLimit::max(MAX_MESSAGE))
        .with_state(store)
}

fn header_text<'a>(headers: &'a HeaderMap, name: header::HeaderName) -> String {
    let value: &'a str = headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn error(status: StatusCode, encoding: Encoding, message: String) -> Response {
    let body = RpcStatus {
        code: INVALID_ARGUMENT,
        message,
    };
    let bytes = match encoding {
        Encoding::Protobuf => body.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&body).unwrap_or_default(),
    };
    (
        status,
        [(header::CONTENT_TYPE, encoding.content_type())],
        bytes,
    )
        .into_response()
}

async fn export<S: OtlpSignal>(
    State(store): State<Store>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let encoding = match header_text(&headers, header::CONTENT_TYPE).as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        other => {
            store.count_rejected_request();
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Encoding::Json,
                format!(
                    "unsupported content-type `{other}`: OTLP/HTTP takes application/x-protobuf \
                     or application/json"
                ),
            );
        }
    };
    let body = match header_text(&headers, header::CONTENT_ENCODING).as_str() {
        "" | "identity" => body,
        "gzip" => match gunzip(&body) {
            Ok(body) => body,
            Err((status, message)) => {
                store.count_rejected_request();
                return error(status, encoding, message);
            }
        },
        other => {
            store.count_rejected_request();
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                encoding,
                format!("unsupported content-encoding `{other}`: gzip or none"),
            );
        }
    };
    let decoded = match encoding {
        Encoding::Protobuf => S::Request::decode(body).map_err(|e| e.to_string()),
        Encoding::Json => serde_json::from_slice::<S::Request>(&body).map_err(|e| e.to_string()),
    };
    let request = match decoded {
        Ok(request) => request,
        Err(e) => {
            store.count_rejected_request();
            let form = if encoding == Encoding::Json {
                "OTLP/JSON"
            } else {
                "protobuf"
            };
            return error(
                StatusCode::BAD_REQUEST,
                encoding,
                format!("malformed {} ({form}): {e}", S::REQUEST),
            );
        }
    };
    let response = S::ingest(&store, request);
    let bytes = match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&response).unwrap_or_default(),
    };
    ([(header::CONTENT_TYPE, encoding.content_type())], bytes).into_response()
}

/// Inflates a gzip body, refusing more than [`MAX_MESSAGE`] bytes of output.
fn gunzip(body: &[u8]) -> Result<Bytes, (StatusCode, String)> {
    let mut out = Vec::new();
    GzDecoder::new(body)
        .take(MAX_MESSAGE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("malformed gzip body: {e}")))?;
    if out.len() > MAX_MESSAGE {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body inflates to more than {MAX_MESSAGE} bytes"),
        ));
    }
    Ok(Bytes::from(out))
}
