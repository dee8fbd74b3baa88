//! What a sink answers: scripted per request, or from a [`super::Handler`].

use std::time::Duration;

use bytes::Bytes;

/// One scripted answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Wait, then answer with the inner reply ("slow receiver").
    Delay {
        /// How long.
        delay: Duration,
        /// Then what.
        then: Box<Reply>,
    },
    /// HTTP/2: reset the stream with `REFUSED_STREAM` and send `GOAWAY(NO_ERROR)`; the
    /// request counts as not processed. HTTP/1.1: close the connection without answering.
    GoAway,
    /// HTTP/2: send `GOAWAY(NO_ERROR)` that still covers this stream, then answer it with
    /// the inner reply (the connection drains). HTTP/1.1: answer with `Connection: close`.
    GoAwayAfter(Box<Reply>),
    /// Never answer; the connection stays open until the sink shuts down.
    Hang,
    /// HTTP/1.1: write these bytes verbatim, then close. HTTP/2: same as [`Reply::Reset`].
    Raw(Bytes),
    /// Start a `200` response (headers, part of a body), then reset the TCP connection.
    Reset,
    /// A complete response.
    Status {
        /// Status code.
        status: u16,
        /// Extra headers (Content-Length is added by the sink).
        headers: Vec<(String, String)>,
        /// Body.
        body: Bytes,
    },
}

impl Reply {
    /// A response with `status`, no headers, no body.
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// `204 No Content`: what receivers usually answer.
    pub fn no_content() -> Self {
        Self::status(204)
    }

    /// `204` with the RW 2.0 `X-Prometheus-Remote-Write-*-Written` headers.
    pub fn written(samples: u64, histograms: u64, exemplars: u64) -> Self {
        Self::no_content()
            .header(
                "X-Prometheus-Remote-Write-Samples-Written",
                samples.to_string(),
            )
            .header(
                "X-Prometheus-Remote-Write-Histograms-Written",
                histograms.to_string(),
            )
            .header(
                "X-Prometheus-Remote-Write-Exemplars-Written",
                exemplars.to_string(),
            )
    }

    /// `status` with a `Retry-After` header (seconds or an HTTP-date).
    pub fn retry_after(status: u16, value: impl Into<String>) -> Self {
        Self::status(status).header("Retry-After", value)
    }

    /// Adds a header (only to [`Reply::Status`]; other replies are returned unchanged).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Self::Status { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// Sets the body (only on [`Reply::Status`]).
    pub fn body(mut self, bytes: impl Into<Bytes>) -> Self {
        if let Self::Status { body, .. } = &mut self {
            *body = bytes.into();
        }
        self
    }

    /// This reply after `delay`.
    pub fn delayed(self, delay: Duration) -> Self {
        Self::Delay {
            delay,
            then: Box::new(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_compose() {
        let r = Reply::retry_after(429, "3").body("slow down");
        assert_eq!(
            r,
            Reply::Status {
                status: 429,
                headers: vec![("Retry-After".into(), "3".into())],
                body: Bytes::from_static(b"slow down"),
            }
        );
        let Reply::Status { headers, .. } = Reply::written(1, 2, 3) else {
            panic!()
        };
        assert_eq!(headers.len(), 3);
        assert_eq!(headers[1].1, "2");
        assert_eq!(Reply::Hang.header("a", "b"), Reply::Hang);
        let Reply::Delay { delay, then } = Reply::no_content().delayed(Duration::from_millis(5))
        else {
            panic!()
        };
        assert_eq!(
            (delay, *then),
            (Duration::from_millis(5), Reply::status(204))
        );
    }
}
