//! What a response means for the batch, as data (FORMATS.md §3.4, §4.4).
//!
//! [`classify`] is pure: status, headers and body prefix in, [`Disposition`] out. The retry
//! loop ([`super::send_with_retry`]) and later the queue act on it; nothing here sleeps or logs.
//!
//! Where ringwrite differs from Prometheus HEAD, on purpose:
//! - `408 Request Timeout` is retried (Prometheus drops every 4xx but 429). A 408 says the
//!   receiver gave up waiting for us, not that the data is bad.
//! - RW 2.0: a `415`, or a 2xx *without* any `*-Written` header although something was sent,
//!   yields [`Disposition::FallBackToRw1`] instead of a drop, so the caller can re-encode the
//!   batch as RW 1.0 (the spec's "MAY retry with a different content type"). DESIGN.md asks
//!   for this; Prometheus only offers a config switch.
//! - RW 2.0: a 2xx *with* Written headers that add up to 0 is [`Disposition::Sent`] with
//!   those zero counts (the receiver is confirmed 2.0 and says it wrote nothing), so the
//!   caller counts everything as failed. Prometheus raises a non-recoverable error there; the
//!   accounting outcome is the same.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};

use super::headers::{names, WireFormat};

/// How many bytes of an error body are kept for the log line (Prometheus `maxErrMsgLen`).
pub const MAX_ERROR_BODY: usize = 1024;

/// A complete HTTP response as the pool returns it.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// At most [`MAX_ERROR_BODY`] bytes from the start of the body; the rest was discarded.
    pub body_prefix: Bytes,
}

/// How much the batch carried, to compare with what the receiver says it wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SentCounts {
    /// Float samples.
    pub samples: u64,
    /// Native histogram samples.
    pub histograms: u64,
    /// Exemplars.
    pub exemplars: u64,
}

impl SentCounts {
    /// Sum of all three.
    pub fn total(&self) -> u64 {
        self.samples + self.histograms + self.exemplars
    }
}

/// `X-Prometheus-Remote-Write-*-Written` values. A missing header counts as 0 once any of the
/// three is present (spec: allowed for 2.0); an unparsable value also counts as 0, as in
/// Prometheus `ParseWriteResponseStats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WrittenStats {
    /// Samples written.
    pub samples: u64,
    /// Histograms written.
    pub histograms: u64,
    /// Exemplars written.
    pub exemplars: u64,
}

impl WrittenStats {
    /// Parses the headers; `None` when none of the three is present.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let get = |name: &str| headers.get(name).map(|v| parse_count(v.as_bytes()));
        let (s, h, e) = (
            get(names::SAMPLES_WRITTEN),
            get(names::HISTOGRAMS_WRITTEN),
            get(names::EXEMPLARS_WRITTEN),
        );
        if s.is_none() && h.is_none() && e.is_none() {
            return None;
        }
        Some(Self {
            samples: s.unwrap_or(0),
            histograms: h.unwrap_or(0),
            exemplars: e.unwrap_or(0),
        })
    }

    /// Sum of all three.
    pub fn total(&self) -> u64 {
        self.samples + self.histograms + self.exemplars
    }

    /// What was sent but not written, per kind (the caller adds it to `*_failed_total`).
    pub fn missing(&self, sent: &SentCounts) -> SentCounts {
        SentCounts {
            samples: sent.samples.saturating_sub(self.samples),
            histograms: sent.histograms.saturating_sub(self.histograms),
            exemplars: sent.exemplars.saturating_sub(self.exemplars),
        }
    }
}

fn parse_count(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// What to do with the batch after a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Do not retry; count the batch as failed and log the reason.
    Drop {
        /// Why.
        reason: DropReason,
    },
    /// The receiver does not take RW 2.0: re-encode this batch (and later ones) as RW 1.0.
    FallBackToRw1 {
        /// What showed it.
        cause: FallbackCause,
    },
    /// Retry after `after` if given (Retry-After), else after the backoff delay.
    Retry {
        /// Parsed `Retry-After`, only when positive.
        after: Option<Duration>,
        /// The status that asked for the retry.
        status: StatusCode,
    },
    /// Accepted. `written` is `None` when the receiver sent no Written headers (then, for
    /// RW 1.0, the whole batch counts as written).
    Sent {
        /// Counts from the `*-Written` headers.
        written: Option<WrittenStats>,
    },
}

/// Why a batch was dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// A non-retryable status; `body` is the first [`MAX_ERROR_BODY`] bytes, lossily UTF-8.
    HttpStatus {
        /// The status.
        status: StatusCode,
        /// Start of the body, for the log line.
        body: String,
        /// Written counts if the receiver sent them (a 4xx may report a partial write).
        written: Option<WrittenStats>,
    },
}

impl DropReason {
    /// Short label for metrics and log fields: `http_4xx`, `http_3xx`, ...
    pub fn label(&self) -> &'static str {
        match self {
            Self::HttpStatus { status, .. } => match status.as_u16() / 100 {
                1 => "http_1xx",
                2 => "http_2xx",
                3 => "http_3xx",
                4 => "http_4xx",
                _ => "http_other",
            },
        }
    }
}

/// What showed that the receiver only speaks RW 1.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackCause {
    /// A 2xx answer to an RW 2.0 request with samples, without any Written header.
    NoWrittenHeaders,
    /// `415 Unsupported Media Type`.
    UnsupportedMediaType,
}

impl std::fmt::Display for FallbackCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NoWrittenHeaders => {
                "2xx response without X-Prometheus-Remote-Write-*-Written headers"
            }
            Self::UnsupportedMediaType => "415 Unsupported Media Type",
        })
    }
}

/// Classifies a response (FORMATS.md §3.4, §4.4; see the module docs for deviations).
pub fn classify(
    response: &Response,
    format: WireFormat,
    sent: SentCounts,
    retry_on_http_429: bool,
    now: SystemTime,
) -> Disposition {
    let status = response.status;
    let headers = &response.headers;
    if status.is_success() {
        let written = WrittenStats::from_headers(headers);
        if format == WireFormat::Rw2 && written.is_none() && sent.total() > 0 {
            return Disposition::FallBackToRw1 {
                cause: FallbackCause::NoWrittenHeaders,
            };
        }
        return Disposition::Sent { written };
    }
    let retry = status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || (status == StatusCode::TOO_MANY_REQUESTS && retry_on_http_429);
    if retry {
        return Disposition::Retry {
            after: retry_after(headers, now),
            status,
        };
    }
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE && format == WireFormat::Rw2 {
        return Disposition::FallBackToRw1 {
            cause: FallbackCause::UnsupportedMediaType,
        };
    }
    let prefix = &response.body_prefix[..response.body_prefix.len().min(MAX_ERROR_BODY)];
    Disposition::Drop {
        reason: DropReason::HttpStatus {
            status,
            body: String::from_utf8_lossy(prefix).into_owned(),
            written: WrittenStats::from_headers(headers),
        },
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP-date (relative to `now`, whole seconds).
/// Zero, negative, past or unparsable values give `None` (Prometheus ignores them too).
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if text
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'-' || b == b'+')
    {
        let secs: i64 = text.parse().ok()?;
        return u64::try_from(secs)
            .ok()
            .filter(|s| *s > 0)
            .map(Duration::from_secs);
    }
    let date = httpdate::parse_http_date(text).ok()?;
    let secs = date.duration_since(now).ok()?.as_secs();
    (secs > 0).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body_prefix: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    const SENT: SentCounts = SentCounts {
        samples: 100,
        histograms: 5,
        exemplars: 2,
    };

    fn now() -> SystemTime {
        httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap()
    }

    fn retry(status: u16, after: Option<u64>) -> Disposition {
        Disposition::Retry {
            after: after.map(Duration::from_secs),
            status: StatusCode::from_u16(status).unwrap(),
        }
    }

    fn drop(status: u16, body: &str) -> Disposition {
        Disposition::Drop {
            reason: DropReason::HttpStatus {
                status: StatusCode::from_u16(status).unwrap(),
                body: body.to_string(),
                written: None,
            },
        }
    }

    #[test]
    fn classify_table() {
        use WireFormat::{Rw1, Rw2};
        let written = |s, h, e| Disposition::Sent {
            written: Some(WrittenStats {
                samples: s,
                histograms: h,
                exemplars: e,
            }),
        };
        let w_all = [
            ("X-Prometheus-Remote-Write-Samples-Written", "100"),
            ("X-Prometheus-Remote-Write-Histograms-Written", "5"),
            ("X-Prometheus-Remote-Write-Exemplars-Written", "2"),
        ];
        #[rustfmt::skip]
        let cases: Vec<(&str, Response, WireFormat, SentCounts, bool, Disposition)> = vec![
            ("204 rw1 no headers", resp(204, &[], ""), Rw1, SENT, false, Disposition::Sent { written: None }),
            ("200 rw1 headers parsed", resp(200, &w_all, ""), Rw1, SENT, false, written(100, 5, 2)),
            ("204 rw2 full stats", resp(204, &w_all, ""), Rw2, SENT, false, written(100, 5, 2)),
            ("204 rw2 partial, missing = 0", resp(204, &[("X-Prometheus-Remote-Write-Samples-Written", "40")], ""), Rw2, SENT, false, written(40, 0, 0)),
            ("204 rw2 garbage value counts 0", resp(204, &[("X-Prometheus-Remote-Write-Samples-Written", "lots")], ""), Rw2, SENT, false, written(0, 0, 0)),
            ("204 rw2 confirmed zero", resp(204, &[("X-Prometheus-Remote-Write-Samples-Written", "0")], ""), Rw2, SENT, false, written(0, 0, 0)),
            ("204 rw2 no headers -> rw1", resp(204, &[], ""), Rw2, SENT, false, Disposition::FallBackToRw1 { cause: FallbackCause::NoWrittenHeaders }),
            ("204 rw2 nothing sent, no headers", resp(204, &[], ""), Rw2, SentCounts::default(), false, Disposition::Sent { written: None }),
            ("415 rw2 -> rw1", resp(415, &[], "bad type"), Rw2, SENT, false, Disposition::FallBackToRw1 { cause: FallbackCause::UnsupportedMediaType }),
            ("415 rw1 drops", resp(415, &[], "bad type"), Rw1, SENT, false, drop(415, "bad type")),
            ("500 retries", resp(500, &[], "oops"), Rw1, SENT, false, retry(500, None)),
            ("503 retry-after secs", resp(503, &[("Retry-After", "7")], ""), Rw2, SENT, false, retry(503, Some(7))),
            ("502 retry-after date", resp(502, &[("Retry-After", "Wed, 21 Oct 2015 07:28:30 GMT")], ""), Rw1, SENT, false, retry(502, Some(30))),
            ("503 retry-after past date", resp(503, &[("Retry-After", "Wed, 21 Oct 2015 07:27:00 GMT")], ""), Rw1, SENT, false, retry(503, None)),
            ("503 retry-after negative", resp(503, &[("Retry-After", "-5")], ""), Rw1, SENT, false, retry(503, None)),
            ("503 retry-after garbage", resp(503, &[("Retry-After", "soon")], ""), Rw1, SENT, false, retry(503, None)),
            ("408 retries", resp(408, &[], ""), Rw1, SENT, false, retry(408, None)),
            ("429 with flag retries", resp(429, &[("Retry-After", "2")], ""), Rw1, SENT, true, retry(429, Some(2))),
            ("429 without flag drops", resp(429, &[("Retry-After", "2")], "slow down"), Rw1, SENT, false, drop(429, "slow down")),
            ("400 drops", resp(400, &[], "out of order"), Rw1, SENT, false, drop(400, "out of order")),
            ("401 drops", resp(401, &[], ""), Rw2, SENT, false, drop(401, "")),
            ("404 drops", resp(404, &[], "no route"), Rw1, SENT, false, drop(404, "no route")),
            ("413 drops", resp(413, &[], "too big"), Rw1, SENT, false, drop(413, "too big")),
            ("301 drops", resp(301, &[("Location", "/x")], ""), Rw1, SENT, false, drop(301, "")),
        ];
        for (label, response, format, sent, flag, want) in cases {
            let got = classify(&response, format, sent, flag, now());
            assert_eq!(got, want, "{label}");
        }
    }

    #[test]
    fn drop_keeps_written_stats_and_truncates_body() {
        let long = "é".repeat(2000);
        let r = resp(
            400,
            &[("X-Prometheus-Remote-Write-Samples-Written", "3")],
            &long,
        );
        let Disposition::Drop {
            reason: DropReason::HttpStatus { body, written, .. },
        } = classify(&r, WireFormat::Rw2, SENT, false, now())
        else {
            panic!("expected drop");
        };
        // 1024 bytes of 2-byte characters: 512 characters, no split character.
        assert_eq!(body.chars().count(), 512);
        assert_eq!(written.map(|w| w.samples), Some(3));
    }

    #[test]
    fn retry_after_table() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", None),
            ("1", Some(1)),
            (" 120 ", Some(120)),
            ("+3", Some(3)),
            ("-1", None),
            ("1.5", None),
            ("", None),
            ("99999999999999999999999", None),
            ("Wed, 21 Oct 2015 07:28:10 GMT", Some(10)),
            ("Wednesday, 21-Oct-15 07:29:00 GMT", Some(60)),
            ("Wed Oct 21 07:28:05 2015", Some(5)),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("Wed, 21 Oct 2015 07:00:00 GMT", None),
            ("tomorrow", None),
        ];
        for (text, want) in cases {
            let mut h = HeaderMap::new();
            h.insert(header::RETRY_AFTER, text.parse().unwrap());
            assert_eq!(
                retry_after(&h, now()),
                want.map(Duration::from_secs),
                "Retry-After: {text:?}"
            );
        }
        assert_eq!(retry_after(&HeaderMap::new(), now()), None);
    }

    #[test]
    fn missing_counts() {
        let w = WrittenStats {
            samples: 90,
            histograms: 9,
            exemplars: 0,
        };
        assert_eq!(
            w.missing(&SENT),
            SentCounts {
                samples: 10,
                histograms: 0,
                exemplars: 2
            }
        );
    }

    #[test]
    fn drop_labels() {
        for (status, label) in [(301, "http_3xx"), (400, "http_4xx"), (429, "http_4xx")] {
            let Disposition::Drop { reason } = drop(status, "") else {
                unreachable!()
            };
            assert_eq!(reason.label(), label);
        }
    }
}
