//! The response body, wrapped so that the request is finished when its last frame has been
//! handed to the server — not when the headers were ready — and counted as aborted when the
//! server drops it before then (the client disconnected mid-body).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};

use crate::flight::InFlight;

pin_project_lite::pin_project! {
    /// The body of a response that went through [`HttpServer`](crate::HttpServer): the
    /// service's own body, or an empty one when the layer answered for a panicking handler.
    pub struct ResponseBody<B: Body> {
        #[pin]
        inner: Option<B>,
        flight: Option<InFlight>,
        // HEAD requests and 1xx/204/304 responses have no body to send: the server drops it
        // unread, which is a complete exchange, not an abort.
        bodiless: bool,
        // The declared length (`Content-Length` or an exact size hint), and the bytes sent.
        length: Option<u64>,
        sent: u64,
    }

    impl<B: Body> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if let Some(mut flight) = this.flight.take() {
                let ended = match this.inner.as_ref().get_ref() {
                    Some(body) => body.is_end_stream(),
                    None => true,
                };
                // hyper drops a body of known length once that many bytes are written, without
                // polling it to its end.
                let all_sent = this.length.is_some_and(|length| *this.sent >= length);
                if ended || all_sent || *this.bodiless {
                    flight.complete();
                }
                // The body first (its own spans and cleanup belong inside the request), then
                // the request.
                this.inner.set(None);
                drop(flight);
            }
        }
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn new(
        inner: B,
        flight: Option<InFlight>,
        bodiless: bool,
        content_length: Option<u64>,
    ) -> Self {
        let length = content_length.or_else(|| inner.size_hint().exact());
        ResponseBody {
            inner: Some(inner),
            flight,
            bodiless,
            length,
            sent: 0,
        }
    }

    pub(crate) fn empty(flight: Option<InFlight>) -> Self {
        ResponseBody {
            inner: None,
            flight,
            bodiless: false,
            length: Some(0),
            sent: 0,
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            finish(this.flight);
            return Poll::Ready(None);
        };
        let polled = inner.poll_frame(cx);
        match &polled {
            Poll::Pending => {}
            Poll::Ready(None) => finish(this.flight),
            Poll::Ready(Some(Err(error))) => {
                if let Some(mut flight) = this.flight.take() {
                    flight.body_error(error);
                }
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.sent += data.remaining() as u64;
                }
                let last = frame.is_trailers()
                    || this.length.is_some_and(|length| *this.sent >= length)
                    || this
                        .inner
                        .as_ref()
                        .get_ref()
                        .as_ref()
                        .is_some_and(|b| b.is_end_stream());
                if last {
                    finish(this.flight);
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(body) => body.size_hint(),
            None => SizeHint::with_exact(0),
        }
    }
}

fn finish(flight: &mut Option<InFlight>) {
    if let Some(mut flight) = flight.take() {
        flight.complete();
    }
}

impl<B: Body + std::fmt::Debug> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("in_flight", &self.flight.is_some())
            .finish()
    }
}
