//! The per-batch send loop: send, classify, sleep, resend (FORMATS.md §3.4).
//!
//! Retries are unbounded by default, like Prometheus: a batch ends only when it is sent,
//! dropped (non-retryable status), handed back for RW 1.0 re-encoding, or when the caller
//! drops the future (shutdown, reshard). `max_attempts` exists for tools and tests.

use std::time::{Instant, SystemTime};

use bytes::Bytes;

use super::{
    backoff::Backoff,
    headers::WireFormat,
    pool::{Pool, WriteRequest},
    response::{classify, Disposition, DropReason, FallbackCause, SentCounts, WrittenStats},
};

/// Retry settings (Prometheus `queue_config` names).
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// First retry delay (`min_backoff`, default 30 ms).
    pub min_backoff: std::time::Duration,
    /// Largest backoff delay (`max_backoff`, default 5 s); `Retry-After` may exceed it.
    pub max_backoff: std::time::Duration,
    /// Retry 429 instead of dropping (`retry_on_http_429`, default false).
    pub retry_on_http_429: bool,
    /// Give up after this many attempts; `None` retries forever (Prometheus behaviour).
    pub max_attempts: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_backoff: std::time::Duration::from_millis(30),
            max_backoff: std::time::Duration::from_secs(5),
            retry_on_http_429: false,
            max_attempts: None,
        }
    }
}

/// How a batch ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Dropped after a non-retryable status (already logged, rate-limited).
    Dropped {
        /// Why.
        reason: DropReason,
        /// Attempts made.
        attempts: u32,
    },
    /// Re-encode as RW 1.0 and send again; the endpoint already remembers the fallback.
    FallBackToRw1 {
        /// What showed it.
        cause: FallbackCause,
        /// Attempts made.
        attempts: u32,
    },
    /// `max_attempts` reached, or the pool was closed.
    GaveUp {
        /// The last error or status.
        last_error: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Accepted by the receiver.
    Sent {
        /// Written counts if the receiver reported them.
        written: Option<WrittenStats>,
        /// Attempts made (1 = first try).
        attempts: u32,
    },
}

/// Sends one batch until it is accepted, dropped, or needs RW 1.0.
pub async fn send_with_retry(
    pool: &Pool,
    body: Bytes,
    format: WireFormat,
    counts: SentCounts,
    policy: &RetryPolicy,
) -> BatchOutcome {
    send_with_retry_observed(pool, body, format, counts, policy, &mut |_| true).await
}

/// [`send_with_retry`], calling `on_retry(sleep)` before each backoff sleep (the queue
/// uses it to count retries and to pause resharding, FORMATS.md §3.4). If `on_retry`
/// answers `false`, the loop ends with [`BatchOutcome::GaveUp`] without sleeping (the
/// caller rebuilds the batch, e.g. without samples past `sample_age_limit`).
pub async fn send_with_retry_observed(
    pool: &Pool,
    body: Bytes,
    format: WireFormat,
    counts: SentCounts,
    policy: &RetryPolicy,
    on_retry: &mut dyn FnMut(std::time::Duration) -> bool,
) -> BatchOutcome {
    send_with_retry_as(pool, body, format, counts, None, policy, on_retry).await
}

/// [`send_with_retry_observed`] with a tenant header (`tenant_label`) on every attempt.
pub async fn send_with_retry_as(
    pool: &Pool,
    body: Bytes,
    format: WireFormat,
    counts: SentCounts,
    tenant: Option<(http::HeaderName, http::HeaderValue)>,
    policy: &RetryPolicy,
    on_retry: &mut dyn FnMut(std::time::Duration) -> bool,
) -> BatchOutcome {
    let endpoint = pool.endpoint().clone();
    let name = endpoint.name();
    let mut backoff = Backoff::new(policy.min_backoff, policy.max_backoff);
    let mut request = WriteRequest {
        body,
        format,
        attempt: 0,
        counts,
        tenant,
    };
    loop {
        let attempts = request.attempt + 1;
        let (after, last_error) = match pool.send(&request).await {
            Ok(response) => {
                match classify(
                    &response,
                    format,
                    counts,
                    policy.retry_on_http_429,
                    SystemTime::now(),
                ) {
                    Disposition::Sent { written } => {
                        if let Some(w) = written.filter(|w| w.total() < counts.total()) {
                            if let Some(suppressed) = pool.limiter_drop().allow(Instant::now()) {
                                let missing = w.missing(&counts);
                                tracing::warn!(
                                    endpoint = name,
                                    status = response.status.as_u16(),
                                    missing_samples = missing.samples,
                                    missing_histograms = missing.histograms,
                                    missing_exemplars = missing.exemplars,
                                    suppressed,
                                    "Receiver answered 2xx but wrote only part of the batch."
                                );
                            }
                        }
                        return BatchOutcome::Sent { written, attempts };
                    }
                    Disposition::Drop { reason } => {
                        if let Some(suppressed) = pool.limiter_drop().allow(Instant::now()) {
                            let DropReason::HttpStatus { status, body, .. } = &reason;
                            tracing::error!(
                                endpoint = name,
                                status = status.as_u16(),
                                reason = reason.label(),
                                body = %body,
                                attempts,
                                suppressed,
                                "Non-recoverable error; dropping the batch."
                            );
                        }
                        return BatchOutcome::Dropped { reason, attempts };
                    }
                    Disposition::FallBackToRw1 { cause } => {
                        endpoint.fall_back_to_rw1(cause);
                        return BatchOutcome::FallBackToRw1 { cause, attempts };
                    }
                    Disposition::Retry { after, status } => {
                        (after, format!("HTTP status {status}"))
                    }
                }
            }
            Err(error) if error.is_retryable() => (None, error.to_string()),
            Err(error) => {
                return BatchOutcome::GaveUp {
                    last_error: error.to_string(),
                    attempts,
                }
            }
        };
        if policy.max_attempts.is_some_and(|max| attempts >= max) {
            return BatchOutcome::GaveUp {
                last_error,
                attempts,
            };
        }
        let sleep = backoff.next_delay(after);
        if !on_retry(sleep) {
            return BatchOutcome::GaveUp {
                last_error,
                attempts,
            };
        }
        if let Some(suppressed) = pool.limiter_retry().allow(Instant::now()) {
            tracing::warn!(
                endpoint = name,
                error = %last_error,
                attempt = request.attempt,
                retry_after = ?after,
                sleep = ?sleep,
                suppressed,
                "Failed to send batch; retrying."
            );
        }
        monoio::time::sleep(sleep).await;
        request.attempt += 1;
    }
}
