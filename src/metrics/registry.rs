//! [`Registry`]: the set of metric families and the text rendering of `/metrics`.
//!
//! Registration takes a mutex (it happens at start-up and on reload); updates go straight to
//! the handle's atomics and never touch the registry. A scrape copies the handle list under
//! the lock, then reads values and calls `gauge_fn` closures without it, so a closure may
//! itself use the registry.
//!
//! Identity: a series is its family name plus its label set (label order does not matter).
//! Registering it again returns the same handle, so two queues built for the same
//! endpoint, or a queue rebuilt on reload, keep counting where the old one stopped.
//!
//! Conflicts (same name registered as another type, a histogram with other buckets, a
//! `gauge` where a `gauge_fn` sits or the reverse (likewise `counter`/`counter_fn`), an
//! invalid name) are programming errors:
//! the `try_*` methods return [`MetricsError`]; the plain methods panic in debug builds and,
//! in release builds, log the error and return a detached handle that works but is never
//! rendered, so a metrics bug can never take down the sender. Later HELP texts for an
//! existing family are ignored.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use super::{
    histogram::{normalize_buckets, HistogramMetric},
    summary::Summary,
    text::{is_valid_label_name, is_valid_metric_name, write_float, write_help, write_label_value},
    value::{Counter, Gauge},
};

/// The four classic Prometheus metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl MetricType {
    /// The word in `# TYPE` lines.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a metric could not be registered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    #[error("metric name {name:?} is invalid (want [a-zA-Z_:][a-zA-Z0-9_:]*)")]
    InvalidMetricName { name: String },
    #[error("metric {metric}: label name {label:?} is invalid (want [a-zA-Z_][a-zA-Z0-9_]*, no leading __)")]
    InvalidLabelName { metric: String, label: String },
    #[error("metric {metric}: label {label:?} is given twice")]
    DuplicateLabel { metric: String, label: String },
    #[error("metric {metric}: label {label:?} is reserved for {kind} series")]
    ReservedLabel {
        metric: String,
        label: String,
        kind: MetricType,
    },
    #[error("metric {name} is already registered as a {registered}, not a {requested}")]
    TypeConflict {
        name: String,
        registered: MetricType,
        requested: MetricType,
    },
    #[error(
        "metric {name}{{{labels}}} is already registered as a {registered}, not a {requested}"
    )]
    FnKindConflict {
        name: String,
        labels: String,
        registered: &'static str,
        requested: &'static str,
    },
    #[error(
        "histogram {name} is already registered with buckets {registered:?}, not {requested:?}"
    )]
    BucketsConflict {
        name: String,
        registered: Vec<f64>,
        requested: Vec<f64>,
    },
    #[error("histogram {name}: {reason}")]
    InvalidBuckets { name: String, reason: &'static str },
}

type GaugeFn = Arc<dyn Fn() -> f64 + Send + Sync>;

/// A family copied out of the registry for rendering: name, help, type, (labels, value).
type FamilySnapshot = (String, String, MetricType, Vec<(String, Value)>);

#[derive(Clone)]
enum Value {
    Counter(Counter),
    Gauge(Gauge),
    CounterFn(GaugeFn),
    GaugeFn(GaugeFn),
    Histogram(HistogramMetric),
    Summary(Summary),
}

struct Series {
    /// `a="b",c="d"` (sorted by name, escaped), without braces; empty without labels.
    labels_text: String,
    value: Value,
}

struct Family {
    help: String,
    kind: MetricType,
    /// Histogram families only: the bounds every series in the family uses.
    buckets: Option<Box<[f64]>>,
    /// Keyed by the label pairs sorted by name, so output is sorted by label values.
    series: BTreeMap<Vec<(String, String)>, Series>,
}

/// The set of self-metrics. Cloning shares it.
#[derive(Clone, Default)]
pub struct Registry {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("families", &self.lock().len())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// A counter (see the module docs for what happens on a conflict).
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        or_detached(self.try_counter(name, help, labels), Counter::detached)
    }

    /// A gauge.
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        or_detached(self.try_gauge(name, help, labels), Gauge::detached)
    }

    /// A classic histogram with the given upper bounds (a trailing `+Inf` is optional).
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        buckets: &[f64],
    ) -> HistogramMetric {
        or_detached(
            self.try_histogram(name, help, labels, buckets),
            HistogramMetric::detached,
        )
    }

    /// A latency summary (hdrhistogram; quantiles 0.5, 0.9, 0.99, 0.999 over a sliding window).
    pub fn summary(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Summary {
        or_detached(self.try_summary(name, help, labels), Summary::detached)
    }

    /// A gauge whose value `f` computes at scrape time. Registering the same series again
    /// replaces the function (a reload can point it at new state).
    pub fn gauge_fn(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        f: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        or_detached(self.try_gauge_fn(name, help, labels, f), || ());
    }

    /// A counter whose value `f` computes at scrape time (for totals kept elsewhere, such as
    /// the kernel's CPU time); `f` must never decrease. Re-registering replaces `f`.
    pub fn counter_fn(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        f: impl Fn() -> f64 + Send + Sync + 'static,
    ) {
        or_detached(self.try_counter_fn(name, help, labels, f), || ());
    }

    /// [`Registry::counter_fn`], returning conflicts as errors.
    pub fn try_counter_fn(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        f: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Result<(), MetricsError> {
        let f: GaugeFn = Arc::new(f);
        self.register(
            name,
            help,
            labels,
            MetricType::Counter,
            None,
            |old| match old {
                None | Some(Value::CounterFn(_)) => Ok(Value::CounterFn(f.clone())),
                Some(_) => Err(("counter", "counter_fn")),
            },
        )
        .map(|_| ())
    }

    /// [`Registry::counter`], returning conflicts as errors.
    pub fn try_counter(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
    ) -> Result<Counter, MetricsError> {
        let v = self.register(
            name,
            help,
            labels,
            MetricType::Counter,
            None,
            |old| match old {
                None => Ok(Value::Counter(Counter::default())),
                Some(Value::CounterFn(_)) => Err(("counter_fn", "counter")),
                Some(v) => Ok(v.clone()),
            },
        )?;
        match v {
            Value::Counter(c) => Ok(c),
            // The family type check in `register` makes any other variant impossible.
            _ => Err(type_conflict(
                name,
                MetricType::Counter,
                MetricType::Counter,
            )),
        }
    }

    /// [`Registry::gauge`], returning conflicts as errors.
    pub fn try_gauge(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
    ) -> Result<Gauge, MetricsError> {
        let v = self.register(
            name,
            help,
            labels,
            MetricType::Gauge,
            None,
            |old| match old {
                None => Ok(Value::Gauge(Gauge::default())),
                Some(Value::GaugeFn(_)) => Err(("gauge_fn", "gauge")),
                Some(v) => Ok(v.clone()),
            },
        )?;
        match v {
            Value::Gauge(g) => Ok(g),
            _ => Err(type_conflict(name, MetricType::Gauge, MetricType::Gauge)),
        }
    }

    /// [`Registry::histogram`], returning conflicts as errors.
    pub fn try_histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        buckets: &[f64],
    ) -> Result<HistogramMetric, MetricsError> {
        let bounds = normalize_buckets(buckets).map_err(|reason| MetricsError::InvalidBuckets {
            name: name.to_owned(),
            reason,
        })?;
        let for_new = bounds.clone();
        let v = self.register(
            name,
            help,
            labels,
            MetricType::Histogram,
            Some(bounds),
            |old| match old {
                None => Ok(Value::Histogram(HistogramMetric::with_bounds(
                    for_new.clone(),
                ))),
                Some(v) => Ok(v.clone()),
            },
        )?;
        match v {
            Value::Histogram(h) => Ok(h),
            _ => Err(type_conflict(
                name,
                MetricType::Histogram,
                MetricType::Histogram,
            )),
        }
    }

    /// [`Registry::summary`], returning conflicts as errors.
    pub fn try_summary(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
    ) -> Result<Summary, MetricsError> {
        let v = self.register(
            name,
            help,
            labels,
            MetricType::Summary,
            None,
            |old| match old {
                None => Ok(Value::Summary(Summary::detached())),
                Some(v) => Ok(v.clone()),
            },
        )?;
        match v {
            Value::Summary(s) => Ok(s),
            _ => Err(type_conflict(
                name,
                MetricType::Summary,
                MetricType::Summary,
            )),
        }
    }

    /// [`Registry::gauge_fn`], returning conflicts as errors.
    pub fn try_gauge_fn(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        f: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Result<(), MetricsError> {
        let f: GaugeFn = Arc::new(f);
        self.register(
            name,
            help,
            labels,
            MetricType::Gauge,
            None,
            |old| match old {
                None | Some(Value::GaugeFn(_)) => Ok(Value::GaugeFn(f.clone())),
                Some(_) => Err(("gauge", "gauge_fn")),
            },
        )
        .map(|_| ())
    }

    /// Removes every series whose labels include all of `matchers` (e.g. a queue's
    /// `remote_name` and `url` when its endpoint leaves the config, as Prometheus deletes a
    /// stopped queue's series). Returns how many were removed. Handles keep working but are
    /// no longer rendered; registering the series again starts from zero.
    pub fn remove_matching(&self, matchers: &[(&str, &str)]) -> usize {
        let mut families = self.lock();
        let mut removed = 0;
        for family in families.values_mut() {
            let before = family.series.len();
            family.series.retain(|key, _| {
                !matchers
                    .iter()
                    .all(|(n, v)| key.iter().any(|(kn, kv)| kn == n && kv == v))
            });
            removed += before - family.series.len();
        }
        families.retain(|_, f| !f.series.is_empty());
        removed
    }

    /// The text exposition format 0.0.4: families sorted by name, each with one `# HELP`
    /// and `# TYPE`, series sorted by label values, label names sorted (`le`/`quantile` last).
    pub fn render(&self) -> String {
        let snapshot: Vec<FamilySnapshot> = {
            let families = self.lock();
            families
                .iter()
                .map(|(name, f)| {
                    let series = f
                        .series
                        .values()
                        .map(|s| (s.labels_text.clone(), s.value.clone()))
                        .collect();
                    (name.clone(), f.help.clone(), f.kind, series)
                })
                .collect()
        };
        let mut out = String::with_capacity(snapshot.len() * 256);
        for (name, help, kind, series) in &snapshot {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            write_help(&mut out, help);
            out.push_str("\n# TYPE ");
            out.push_str(name);
            out.push(' ');
            out.push_str(kind.as_str());
            out.push('\n');
            for (labels, value) in series {
                render_series(&mut out, name, labels, value);
            }
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Family>> {
        // Registration never leaves a family half-built, so a poisoned map is still valid.
        self.families.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Finds or creates the series; `make` sees the existing value (if any) and returns the
    /// value to keep, or the `(registered, requested)` kinds on a plain/`_fn` clash.
    fn register(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        kind: MetricType,
        buckets: Option<Box<[f64]>>,
        make: impl FnOnce(Option<&Value>) -> Result<Value, (&'static str, &'static str)>,
    ) -> Result<Value, MetricsError> {
        if !is_valid_metric_name(name) {
            return Err(MetricsError::InvalidMetricName {
                name: name.to_owned(),
            });
        }
        let key = label_key(name, labels, kind)?;
        let mut families = self.lock();
        let family = families.entry(name.to_owned()).or_insert_with(|| Family {
            help: help.to_owned(),
            kind,
            buckets: buckets.clone(),
            series: BTreeMap::new(),
        });
        if family.kind != kind {
            return Err(type_conflict(name, family.kind, kind));
        }
        if family.buckets != buckets {
            return Err(MetricsError::BucketsConflict {
                name: name.to_owned(),
                registered: family.buckets.as_deref().unwrap_or_default().to_vec(),
                requested: buckets.as_deref().unwrap_or_default().to_vec(),
            });
        }
        let existing = family.series.get(&key).map(|s| &s.value);
        let value =
            make(existing).map_err(|(registered, requested)| MetricsError::FnKindConflict {
                name: name.to_owned(),
                labels: labels_text(&key),
                registered,
                requested,
            })?;
        let labels_text = labels_text(&key);
        family.series.insert(
            key,
            Series {
                labels_text,
                value: value.clone(),
            },
        );
        Ok(value)
    }
}

/// Validates label names and sorts the pairs by name.
fn label_key(
    metric: &str,
    labels: &[(&str, &str)],
    kind: MetricType,
) -> Result<Vec<(String, String)>, MetricsError> {
    let reserved = match kind {
        MetricType::Histogram => Some("le"),
        MetricType::Summary => Some("quantile"),
        _ => None,
    };
    let mut key: Vec<(String, String)> = Vec::with_capacity(labels.len());
    for (n, v) in labels {
        if !is_valid_label_name(n) {
            return Err(MetricsError::InvalidLabelName {
                metric: metric.to_owned(),
                label: (*n).to_owned(),
            });
        }
        if Some(*n) == reserved {
            return Err(MetricsError::ReservedLabel {
                metric: metric.to_owned(),
                label: (*n).to_owned(),
                kind,
            });
        }
        key.push(((*n).to_owned(), (*v).to_owned()));
    }
    key.sort();
    if let Some(w) = key.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(MetricsError::DuplicateLabel {
            metric: metric.to_owned(),
            label: w[0].0.clone(),
        });
    }
    Ok(key)
}

fn labels_text(key: &[(String, String)]) -> String {
    let mut s = String::new();
    for (i, (n, v)) in key.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(n);
        s.push_str("=\"");
        write_label_value(&mut s, v);
        s.push('"');
    }
    s
}

fn type_conflict(name: &str, registered: MetricType, requested: MetricType) -> MetricsError {
    MetricsError::TypeConflict {
        name: name.to_owned(),
        registered,
        requested,
    }
}

/// The policy for a failed registration: loud in debug builds, harmless in release builds.
fn or_detached<T>(r: Result<T, MetricsError>, detached: impl FnOnce() -> T) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            if cfg!(debug_assertions) {
                panic!("metric registration failed: {e}");
            }
            tracing::error!(error = %e, "Metric registration failed; this metric will not be exported.");
            detached()
        }
    }
}

/// One sample line: `name{labels,extra} value`.
fn sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &str,
    extra: Option<(&str, f64)>,
    v: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some((n, x)) = extra {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str(n);
            out.push_str("=\"");
            write_float(out, x);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_float(out, v);
    out.push('\n');
}

fn render_series(out: &mut String, name: &str, labels: &str, value: &Value) {
    match value {
        Value::Counter(c) => sample(out, name, "", labels, None, c.get() as f64),
        Value::Gauge(g) => sample(out, name, "", labels, None, g.get()),
        Value::CounterFn(f) | Value::GaugeFn(f) => sample(out, name, "", labels, None, f()),
        Value::Histogram(h) => {
            let s = h.snapshot();
            for (le, n) in &s.buckets {
                sample(out, name, "_bucket", labels, Some(("le", *le)), *n as f64);
            }
            sample(out, name, "_sum", labels, None, s.sum);
            sample(out, name, "_count", labels, None, s.count as f64);
        }
        Value::Summary(sm) => {
            let s = sm.snapshot();
            for (q, v) in &s.quantiles {
                sample(out, name, "", labels, Some(("quantile", *q)), *v);
            }
            sample(out, name, "_sum", labels, None, s.sum);
            sample(out, name, "_count", labels, None, s.count as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_exact_text_for_a_small_registry() {
        let r = Registry::new();
        r.counter("b_total", "B things.", &[("z", "1"), ("a", "x")])
            .add(3);
        r.counter("b_total", "B things.", &[("a", "w"), ("z", "2")])
            .inc();
        r.gauge("a_gauge", "An A.", &[]).set(1.5e6);
        r.gauge_fn("c_fn", "Computed.", &[("k", "v")], || f64::NEG_INFINITY);
        let h = r.histogram("d_seconds", "D.", &[("q", "1")], &[0.1, 1.0]);
        h.observe(0.05);
        h.observe(2.0);
        let want = "\
# HELP a_gauge An A.
# TYPE a_gauge gauge
a_gauge 1.5e+06
# HELP b_total B things.
# TYPE b_total counter
b_total{a=\"w\",z=\"2\"} 1
b_total{a=\"x\",z=\"1\"} 3
# HELP c_fn Computed.
# TYPE c_fn gauge
c_fn{k=\"v\"} -Inf
# HELP d_seconds D.
# TYPE d_seconds histogram
d_seconds_bucket{q=\"1\",le=\"0.1\"} 1
d_seconds_bucket{q=\"1\",le=\"1\"} 1
d_seconds_bucket{q=\"1\",le=\"+Inf\"} 2
d_seconds_sum{q=\"1\"} 2.05
d_seconds_count{q=\"1\"} 2
";
        assert_eq!(r.render(), want);
    }

    #[test]
    fn summary_renders_quantiles_sum_count() {
        let r = Registry::new();
        let s = r.summary("lat_seconds", "Latency.", &[]);
        s.observe(std::time::Duration::from_millis(20));
        let text = r.render();
        assert!(text.contains("# TYPE lat_seconds summary\n"), "{text}");
        for q in ["0.5", "0.9", "0.99", "0.999"] {
            assert!(
                text.contains(&format!("lat_seconds{{quantile=\"{q}\"}} 0.02")),
                "{text}"
            );
        }
        assert!(
            text.contains("lat_seconds_sum 0.02\nlat_seconds_count 1\n"),
            "{text}"
        );
    }

    #[test]
    fn registration_is_idempotent_and_label_order_free() {
        let r = Registry::new();
        let a = r.counter("x_total", "X.", &[("a", "1"), ("b", "2")]);
        let b = r.counter("x_total", "other help", &[("b", "2"), ("a", "1")]);
        assert!(a.same_as(&b));
        let c = r.counter("x_total", "X.", &[("a", "1"), ("b", "3")]);
        assert!(!a.same_as(&c));
        let h1 = r.histogram("h", "H.", &[], &[1.0]);
        let h2 = r.histogram("h", "H.", &[], &[1.0, f64::INFINITY]);
        assert!(h1.same_as(&h2));
        assert!(r
            .summary("s", "S.", &[])
            .same_as(&r.summary("s", "S.", &[])));
        assert!(r.gauge("g", "G.", &[]).same_as(&r.gauge("g", "G.", &[])));
        assert!(
            r.render().contains("# HELP x_total X.\n"),
            "first help wins"
        );
    }

    #[test]
    fn gauge_fn_is_replaced_on_reregistration() {
        let r = Registry::new();
        r.gauge_fn("f", "F.", &[], || 1.0);
        r.gauge_fn("f", "F.", &[], || 2.0);
        assert!(r.render().ends_with("f 2\n"), "{}", r.render());
    }

    #[test]
    fn conflicts_are_errors() {
        let r = Registry::new();
        r.counter("m", "M.", &[]);
        r.gauge("g", "G.", &[]);
        r.histogram("h", "H.", &[], &[1.0]);
        let table: Vec<(Result<(), MetricsError>, &str)> = vec![
            (
                r.try_gauge("m", "M.", &[]).map(drop),
                "registered as a counter, not a gauge",
            ),
            (
                r.try_counter_fn("m", "M.", &[], || 0.0),
                "as a counter, not a counter_fn",
            ),
            (
                r.try_gauge_fn("g", "G.", &[], || 0.0),
                "as a gauge, not a gauge_fn",
            ),
            (r.try_histogram("h", "H.", &[], &[2.0]).map(drop), "buckets"),
            (r.try_counter("bad-name", "", &[]).map(drop), "metric name"),
            (
                r.try_counter("c", "", &[("__x", "")]).map(drop),
                "label name",
            ),
            (
                r.try_counter("c", "", &[("a", "1"), ("a", "2")]).map(drop),
                "twice",
            ),
            (
                r.try_histogram("h2", "", &[("le", "1")], &[1.0]).map(drop),
                "reserved",
            ),
            (
                r.try_summary("s2", "", &[("quantile", "1")]).map(drop),
                "reserved",
            ),
            (
                r.try_histogram("h3", "", &[], &[2.0, 1.0]).map(drop),
                "strictly increasing",
            ),
        ];
        for (got, want) in table {
            let err = got.expect_err(want).to_string();
            assert!(err.contains(want), "{err:?} should mention {want:?}");
        }
        // Failed registrations leave nothing behind.
        let text = r.render();
        for absent in ["bad-name", "\nc ", "h2", "h3", "s2"] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "metric registration failed")]
    fn plain_registration_panics_on_conflict_in_debug() {
        let r = Registry::new();
        r.counter("m", "M.", &[]);
        r.gauge("m", "M.", &[]);
    }

    #[test]
    fn remove_matching_drops_only_matching_series() {
        let r = Registry::new();
        let keep = r.counter("q_total", "Q.", &[("remote_name", "a"), ("url", "u1")]);
        r.counter("q_total", "Q.", &[("remote_name", "b"), ("url", "u2")])
            .inc();
        r.gauge("only_b", "B.", &[("remote_name", "b"), ("url", "u2")]);
        assert_eq!(r.remove_matching(&[("remote_name", "b"), ("url", "u2")]), 2);
        keep.inc();
        let text = r.render();
        assert!(!text.contains("\"b\""), "{text}");
        assert!(!text.contains("only_b"), "empty family gone: {text}");
        assert!(
            text.contains("q_total{remote_name=\"a\",url=\"u1\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn handles_are_clone_send_sync() {
        fn check<T: Clone + Send + Sync + 'static>() {}
        check::<Registry>();
        check::<Counter>();
        check::<Gauge>();
        check::<HistogramMetric>();
        check::<Summary>();
        check::<crate::metrics::QueueMetrics>();
        check::<crate::metrics::WatcherMetrics>();
        check::<crate::metrics::CoreMetrics>();
    }

    #[test]
    fn gauge_fn_may_use_the_registry_during_render() {
        let r = Registry::new();
        let inner = r.clone();
        r.gauge_fn("families", "F.", &[], move || inner.lock().len() as f64);
        assert!(r.render().contains("families 1\n"));
    }
}
