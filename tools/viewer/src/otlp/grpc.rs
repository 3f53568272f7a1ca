//! OTLP/gRPC: the three `Export` methods, with the request decoded here rather than by tonic's
//! prost codec, which answers a malformed message with INTERNAL; OTLP wants INVALID_ARGUMENT
//! (not retryable), so a bad body is not sent again and again.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use super::{MAX_MESSAGE, OtlpSignal};
use crate::store::Store;

/// Hands the message's bytes over as they are, and writes already-encoded responses.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The gRPC service of one signal (`TraceService`, `MetricsService` or `LogsService`).
pub(crate) struct ExportService<S> {
    store: Store,
    signal: PhantomData<fn() -> S>,
}

impl<S> ExportService<S> {
    pub(crate) fn new(store: Store) -> Self {
        ExportService {
            store,
            signal: PhantomData,
        }
    }
}

impl<S> Clone for ExportService<S> {
    fn clone(&self) -> Self {
        ExportService::new(self.store.clone())
    }
}

impl<S: OtlpSignal> NamedService for ExportService<S> {
    const NAME: &'static str = S::GRPC_SERVICE;
}

struct Export<S> {
    store: Store,
    signal: PhantomData<fn() -> S>,
}

impl<S: OtlpSignal> UnaryService<Bytes> for Export<S> {
    type Response = Vec<u8>;
    type Future = Ready<Result<Response<Vec<u8>>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        use prost::Message as _;
        ready(match S::Request::decode(request.into_inner()) {
            Ok(message) => Ok(Response::new(
                S::ingest(&self.store, message).encode_to_vec(),
            )),
            Err(e) => {
                self.store.count_rejected_request();
                Err(Status::invalid_argument(format!(
                    "malformed {}: {e}",
                    S::REQUEST
                )))
            }
        })
    }
}

impl<S: OtlpSignal> Service<http::Request<tonic::body::Body>> for ExportService<S> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() != S::GRPC_PATH {
            let status = Status::unimplemented(format!(
                "{} has no method {}",
                S::GRPC_SERVICE,
                request.uri().path()
            ));
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let export = Export::<S> {
            store: self.store.clone(),
            signal: PhantomData,
        };
        Box::pin(async move {
            let mut grpc = Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(MAX_MESSAGE);
            Ok(grpc.unary(export, request).await)
        })
    }
}
