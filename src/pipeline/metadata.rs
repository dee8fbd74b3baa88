//! RW 1.0 metric metadata (`metadata_config`): like Prometheus's metadata watcher, every
//! `send_interval` the endpoint sends each metric family's type, help and unit in
//! `WriteRequest.metadata`, at most `max_samples_per_send` entries per request, with the
//! same retry rules as samples. Prometheus takes them from its scrape targets; ringwrite
//! takes them from the WAL's metadata records (the latest per metric name). RW 2.0 carries
//! metadata with every series instead, so nothing is sent separately there.

use crate::encode::{Compression, Compressor, Rw1Encoder};
use crate::http::{
    send_with_retry_observed, BatchOutcome, Pool, RetryPolicy, SentCounts, WireFormat,
};
use crate::metrics::QueueMetrics;
use crate::record::MetricType;
use bytes::{Bytes, BytesMut};
use std::collections::BTreeMap;

/// Type, help and unit of one metric name.
type Entry = (MetricType, Box<[u8]>, Box<[u8]>);

/// The newest metadata of every metric name seen in the WAL.
#[derive(Debug, Default)]
pub struct MetadataBook {
    families: BTreeMap<Box<[u8]>, Entry>,
}

impl MetadataBook {
    pub fn note(&mut self, name: &[u8], mtype: MetricType, help: &[u8], unit: &[u8]) {
        let v = (mtype, Box::from(help), Box::from(unit));
        match self.families.get_mut(name) {
            Some(old) => *old = v,
            None => {
                self.families.insert(Box::from(name), v);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.families.len()
    }

    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// Compressed RW 1.0 bodies of at most `per_request` entries each, with their entry
    /// counts.
    pub fn requests(&self, per_request: usize) -> Vec<(Bytes, usize)> {
        let mut enc = Rw1Encoder::new();
        let mut comp = Compressor::new(Compression::Snappy);
        let mut arena = BytesMut::new();
        let entries: Vec<_> = self.families.iter().collect();
        let mut out = Vec::new();
        for chunk in entries.chunks(per_request.max(1)) {
            let mut req = enc.begin();
            for (name, (mtype, help, unit)) in chunk {
                req.push_metadata(name, *mtype, help, unit);
            }
            let body = req
                .finish()
                .and_then(|raw| comp.compress_into(raw.bytes, &mut arena));
            match body {
                Ok(b) => out.push((b, chunk.len())),
                Err(e) => tracing::error!(error = %e, "Cannot encode a metadata request."),
            }
        }
        out
    }
}

/// Sends `bodies` one after the other (on a core loop), counting under Prometheus's
/// metadata metric names.
pub async fn send_all(
    pool: &Pool,
    bodies: Vec<(Bytes, usize)>,
    policy: RetryPolicy,
    metrics: Option<std::sync::Arc<super::observe::BatchMetrics>>,
) {
    for (body, n) in bodies {
        let bytes = body.len() as u64;
        let m: Option<&QueueMetrics> = metrics.as_deref().map(|b| &b.0);
        let mut on_retry = |_| {
            if let Some(m) = m {
                m.metadata_retried_total.add(n as u64);
            }
            true
        };
        let outcome = send_with_retry_observed(
            pool,
            body,
            WireFormat::Rw1,
            SentCounts::default(),
            &policy,
            &mut on_retry,
        )
        .await;
        if let Some(m) = m {
            match outcome {
                BatchOutcome::Sent { .. } => {
                    m.metadata_total.add(n as u64);
                    m.metadata_bytes_total.add(bytes);
                }
                _ => m.metadata_failed_total.add(n as u64),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::proto::v1;
    use prost::Message;

    #[test]
    fn newest_metadata_per_name_split_into_requests() {
        let mut book = MetadataBook::default();
        book.note(b"a_total", MetricType::Counter, b"old", b"");
        book.note(b"a_total", MetricType::Counter, b"Requests.", b"");
        book.note(b"b_seconds", MetricType::Histogram, b"Latency.", b"seconds");
        book.note(b"c", MetricType::Gauge, b"", b"");
        assert_eq!(book.len(), 3);
        let reqs = book.requests(2);
        assert_eq!(reqs.iter().map(|r| r.1).collect::<Vec<_>>(), vec![2, 1]);
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&reqs[0].0)
            .unwrap();
        let w = v1::WriteRequest::decode(&raw[..]).unwrap();
        assert!(w.timeseries.is_empty());
        assert_eq!(w.metadata[0].metric_family_name, "a_total");
        assert_eq!(w.metadata[0].help, "Requests.");
        assert_eq!(w.metadata[1].unit, "seconds");
        assert_eq!(w.metadata[1].r#type, MetricType::Histogram as i32);
    }
}
