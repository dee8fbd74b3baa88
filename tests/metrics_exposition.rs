//! The rendered `/metrics` text: exact output, escaping, ordering, idempotent registration,
//! concurrent updates, every FORMATS.md §5.9 name, and validity checked two ways: by the
//! strict exposition-format parser below and by `promtool check metrics` (Debian's promtool,
//! `/usr/bin/promtool`, or `$PROMTOOL`).

use std::{
    collections::{BTreeMap, HashSet},
    io::Write,
    process::{Command, Stdio},
    sync::Arc,
    thread,
    time::Duration,
};

use ringwrite::metrics::{
    register_build_info, register_process_metrics, CoreMetrics, Kind, QueueMetrics, Registry,
    ReloadMetrics, WatcherMetrics,
};

// ---------------------------------------------------------------------------------------
// A strict parser of the text format 0.0.4, as ringwrite writes it.

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

#[derive(Debug, Clone)]
struct Family {
    name: String,
    help: String,
    kind: String,
    samples: Vec<Sample>,
}

/// Parses `text`, failing on anything the format forbids and on things ringwrite promises
/// not to do (unsorted families or series, comments other than HELP/TYPE, timestamps).
fn parse_exposition(text: &str) -> Result<Vec<Family>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("text does not end with a newline".into());
    }
    let mut families: Vec<Family> = Vec::new();
    let mut seen_series = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let ctx = |e: String| format!("line {}: {e}: {line:?}", i + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .ok_or_else(|| ctx("HELP without text".into()))?;
            check_metric_name(name).map_err(ctx)?;
            if families.iter().any(|f| f.name == name) {
                return Err(ctx("second HELP for a family".into()));
            }
            if let Some(prev) = families.last() {
                if prev.name.as_str() >= name {
                    return Err(ctx(format!("family {name} not after {}", prev.name)));
                }
            }
            families.push(Family {
                name: name.into(),
                help: unescape(help, false).map_err(ctx)?,
                kind: String::new(),
                samples: Vec::new(),
            });
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| ctx("TYPE without type".into()))?;
            let fam = families
                .last_mut()
                .ok_or_else(|| ctx("TYPE before HELP".into()))?;
            if fam.name != name || !fam.kind.is_empty() || !fam.samples.is_empty() {
                return Err(ctx("TYPE must directly follow its HELP".into()));
            }
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(ctx(format!("unknown type {kind}")));
            }
            fam.kind = kind.into();
        } else if line.starts_with('#') || line.is_empty() {
            return Err(ctx("unexpected comment or blank line".into()));
        } else {
            let sample = parse_sample(line).map_err(ctx)?;
            let fam = families
                .last_mut()
                .ok_or_else(|| ctx("sample before HELP".into()))?;
            if fam.kind.is_empty() {
                return Err(ctx("sample before TYPE".into()));
            }
            let allowed: &[&str] = match fam.kind.as_str() {
                "histogram" => &["_bucket", "_sum", "_count"],
                "summary" => &["", "_sum", "_count"],
                _ => &[""],
            };
            let suffix = sample
                .name
                .strip_prefix(fam.name.as_str())
                .ok_or_else(|| ctx(format!("sample of another family than {}", fam.name)))?;
            if !allowed.contains(&suffix) {
                return Err(ctx(format!(
                    "suffix {suffix:?} not allowed in a {}",
                    fam.kind
                )));
            }
            if !seen_series.insert((sample.name.clone(), sample.labels.clone())) {
                return Err(ctx("duplicate series".into()));
            }
            fam.samples.push(sample);
        }
    }
    for f in &families {
        check_family(f)?;
    }
    Ok(families)
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut c = name.chars();
    let ok = matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_' || x == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':');
    if ok {
        Ok(())
    } else {
        Err(format!("bad metric name {name:?}"))
    }
}

/// `name{l="v",...} value` with no timestamp.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| "no value".to_string())?;
    let name = &line[..name_end];
    check_metric_name(name)?;
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            let eq = rest.find("=\"").ok_or("label without =\"")?;
            let lname = &rest[..eq];
            let mut c = lname.chars();
            let valid = matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_')
                && c.all(|x| x.is_ascii_alphanumeric() || x == '_');
            if !valid {
                return Err(format!("bad label name {lname:?}"));
            }
            rest = &rest[eq + 2..];
            // Find the closing quote, skipping escapes.
            let mut end = None;
            let mut escaped = false;
            for (i, ch) in rest.char_indices() {
                match (escaped, ch) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or("unterminated label value")?;
            labels.push((lname.to_string(), unescape(&rest[..end], true)?));
            rest = &rest[end + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            } else {
                return Err("expected , or } after a label".into());
            }
        }
        if labels.is_empty() {
            return Err("empty label set braces".into());
        }
    }
    let value = rest
        .strip_prefix(' ')
        .ok_or("expected one space before the value")?;
    if value.contains(' ') {
        return Err("timestamps or extra fields are not expected".into());
    }
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v if v.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
            v.parse::<f64>().map_err(|e| format!("value {v:?}: {e}"))?
        }
        v => return Err(format!("value {v:?} is not a Go float")),
    };
    // Label names: unique, sorted, with le/quantile last.
    let (special, plain): (Vec<_>, Vec<_>) = labels
        .iter()
        .partition(|(n, _)| n == "le" || n == "quantile");
    if special.len() > 1 || (special.len() == 1 && labels.last() != special.first().copied()) {
        return Err("le/quantile must be the last label".into());
    }
    if plain.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err("label names not sorted or repeated".into());
    }
    Ok(Sample {
        name: name.into(),
        labels,
        value,
    })
}

fn unescape(s: &str, label_value: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('"') if label_value => out.push('"'),
                other => return Err(format!("bad escape \\{other:?}")),
            },
            '\n' => return Err("raw newline".into()),
            '"' if label_value => return Err("unescaped quote".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Series sorted by labels; histograms cumulative and consistent.
fn check_family(f: &Family) -> Result<(), String> {
    let base = |s: &Sample| -> Vec<(String, String)> {
        s.labels
            .iter()
            .filter(|(n, _)| n != "le" && n != "quantile")
            .cloned()
            .collect()
    };
    let mut order: Vec<Vec<(String, String)>> = Vec::new();
    for s in &f.samples {
        let b = base(s);
        if order.last() != Some(&b) {
            if order.contains(&b) {
                return Err(format!(
                    "{}: samples of one series are not contiguous",
                    f.name
                ));
            }
            if order.last().is_some_and(|prev| prev > &b) {
                return Err(format!("{}: series not sorted: {b:?}", f.name));
            }
            order.push(b);
        }
    }
    if f.kind == "histogram" {
        for series in &order {
            let of = |suffix: &str| {
                f.samples
                    .iter()
                    .filter(|s| s.name == format!("{}{suffix}", f.name) && &base(s) == series)
                    .collect::<Vec<_>>()
            };
            let buckets = of("_bucket");
            let last = buckets.last().ok_or(format!("{}: no buckets", f.name))?;
            if last.labels.last().map(|(_, v)| v.as_str()) != Some("+Inf") {
                return Err(format!("{}: last bucket is not +Inf", f.name));
            }
            if buckets.windows(2).any(|w| w[0].value > w[1].value) {
                return Err(format!("{}: buckets not cumulative", f.name));
            }
            let count = of("_count");
            if count.len() != 1 || count[0].value != last.value || of("_sum").len() != 1 {
                return Err(format!("{}: _count/_sum missing or inconsistent", f.name));
            }
        }
    }
    Ok(())
}

fn find<'a>(families: &'a [Family], name: &str) -> Option<&'a Family> {
    families.iter().find(|f| f.name == name)
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// A registry with one of everything ringwrite exports.

fn full_registry() -> Registry {
    let reg = Registry::new();
    let q = QueueMetrics::new(&reg, "mimir", "https://mimir.example/api/v1/push");
    let q2 = QueueMetrics::new(&reg, "vm \"eu\"", "http://vm\\1/api/v1/write\n");
    q.samples_total.add(12_345_678);
    q.samples_dropped_total.too_old.add(3);
    q.sent_batch_duration_seconds.observe(0.042);
    q.sent_batch_duration_seconds.observe(400.0);
    q.queue_highest_timestamp_seconds.set_max(1.7e9);
    q.send_latency_seconds.observe(Duration::from_millis(7));
    q.end_to_end_lag_seconds.observe_secs(1.25);
    q2.dropped(Kind::Histograms, "nhcb_in_rw1_not_supported")
        .inc();
    let w = WatcherMetrics::new(&reg, "mimir");
    w.records_read("samples").add(10);
    w.records_read("series").add(2);
    w.current_segment.set(42.0);
    w.corruption_errors("record_span_page").inc();
    WatcherMetrics::new(&reg, "vm \"eu\"");
    let c = CoreMetrics::new(&reg, 2);
    c.busy_ratio.set(0.5);
    c.set_driver("uring");
    ReloadMetrics::new(&reg).record(true);
    register_build_info(&reg);
    register_process_metrics(&reg);
    reg.gauge_fn(
        "ringwrite_test_special_values",
        "Special floats.",
        &[("v", "nan")],
        || f64::NAN,
    );
    reg.gauge_fn(
        "ringwrite_test_special_values",
        "Special floats.",
        &[("v", "inf")],
        || f64::INFINITY,
    );
    reg
}

// ---------------------------------------------------------------------------------------

#[test]
fn exact_text_with_escaping_and_sorting() {
    let reg = Registry::new();
    // Registered out of order; label pairs given out of order.
    reg.gauge("zeta", "Last family.", &[]).set(-1.0);
    reg.counter(
        "alpha_total",
        "Help with \\ and\nnewline \"quoted\".",
        &[("url", "a\"b"), ("name", "x")],
    )
    .add(2);
    reg.counter(
        "alpha_total",
        "ignored help",
        &[("name", "w"), ("url", "c\\d\ne")],
    )
    .inc();
    let want = concat!(
        "# HELP alpha_total Help with \\\\ and\\nnewline \"quoted\".\n",
        "# TYPE alpha_total counter\n",
        "alpha_total{name=\"w\",url=\"c\\\\d\\ne\"} 1\n",
        "alpha_total{name=\"x\",url=\"a\\\"b\"} 2\n",
        "# HELP zeta Last family.\n",
        "# TYPE zeta gauge\n",
        "zeta -1\n",
    );
    assert_eq!(reg.render(), want);
    // And the parser gets the original strings back.
    let fams = parse_exposition(&reg.render()).expect("valid");
    assert_eq!(fams[0].help, "Help with \\ and\nnewline \"quoted\".");
    assert_eq!(
        fams[0].samples[0].labels,
        labels(&[("name", "w"), ("url", "c\\d\ne")])
    );
    assert_eq!(
        fams[0].samples[1].labels,
        labels(&[("name", "x"), ("url", "a\"b")])
    );
}

#[test]
fn idempotent_registration_shares_one_value() {
    let reg = Registry::new();
    let a = reg.counter("c_total", "C.", &[("k", "v")]);
    let b = reg.counter("c_total", "C.", &[("k", "v")]);
    a.add(5);
    b.add(6);
    assert_eq!(a.get(), 11);
    let fams = parse_exposition(&reg.render()).expect("valid");
    assert_eq!(fams.len(), 1);
    assert_eq!(fams[0].samples.len(), 1, "one series, not two");
    assert_eq!(fams[0].samples[0].value, 11.0);
}

#[test]
fn concurrent_updates_sum_correctly() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 50_000;
    let reg = Registry::new();
    let start = Arc::new(std::sync::Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let reg = reg.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                // Each thread registers its own handle: registration is shared too.
                let c = reg.counter("hits_total", "Hits.", &[]);
                let g = reg.gauge("level", "Level.", &[]);
                let h = reg.histogram("obs_seconds", "Obs.", &[], &[0.5]);
                let s = reg.summary("lat_seconds", "Lat.", &[]);
                start.wait();
                for i in 0..PER_THREAD {
                    c.inc();
                    g.add(1.0);
                    h.observe(if (i + t) % 2 == 0 { 0.25 } else { 1.0 });
                    if i % 100 == 0 {
                        s.observe(Duration::from_micros(i));
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker");
    }
    let total = THREADS * PER_THREAD;
    let fams = parse_exposition(&reg.render()).expect("valid");
    let value = |fam: &str, name: &str, le: Option<&str>| {
        find(&fams, fam)
            .and_then(|f| {
                f.samples.iter().find(|s| {
                    s.name == name && s.labels.iter().map(|(_, v)| v.as_str()).next() == le
                })
            })
            .map(|s| s.value)
    };
    assert_eq!(value("hits_total", "hits_total", None), Some(total as f64));
    assert_eq!(value("level", "level", None), Some(total as f64));
    assert_eq!(
        value("obs_seconds", "obs_seconds_count", None),
        Some(total as f64)
    );
    assert_eq!(
        value("obs_seconds", "obs_seconds_bucket", Some("0.5")),
        Some((total / 2) as f64)
    );
    assert_eq!(
        value("obs_seconds", "obs_seconds_sum", None),
        Some(total as f64 * 0.625)
    );
    assert_eq!(
        value("lat_seconds", "lat_seconds_count", None),
        Some((THREADS * PER_THREAD / 100) as f64)
    );
}

/// Every FORMATS.md §5.9 per-queue name, with its type, written out here independently of
/// the implementation's own list.
const PER_QUEUE: &[(&str, &str)] = &[
    ("samples_total", "counter"),
    ("exemplars_total", "counter"),
    ("histograms_total", "counter"),
    ("metadata_total", "counter"),
    ("samples_failed_total", "counter"),
    ("exemplars_failed_total", "counter"),
    ("histograms_failed_total", "counter"),
    ("metadata_failed_total", "counter"),
    ("samples_retried_total", "counter"),
    ("exemplars_retried_total", "counter"),
    ("histograms_retried_total", "counter"),
    ("metadata_retried_total", "counter"),
    ("samples_dropped_total", "counter"),
    ("exemplars_dropped_total", "counter"),
    ("histograms_dropped_total", "counter"),
    ("enqueue_retries_total", "counter"),
    ("bytes_total", "counter"),
    ("metadata_bytes_total", "counter"),
    ("sent_batch_duration_seconds", "histogram"),
    ("queue_highest_timestamp_seconds", "gauge"),
    ("queue_highest_sent_timestamp_seconds", "gauge"),
    ("samples_pending", "gauge"),
    ("exemplars_pending", "gauge"),
    ("histograms_pending", "gauge"),
    ("shard_capacity", "gauge"),
    ("shards", "gauge"),
    ("shards_max", "gauge"),
    ("shards_min", "gauge"),
    ("shards_desired", "gauge"),
    ("max_samples_per_send", "gauge"),
];

#[test]
fn queue_metrics_expose_every_per_queue_name_with_remote_name_and_url() {
    let reg = Registry::new();
    let url = "https://mimir.example/api/v1/push?tenant=\"a\"";
    let _q = QueueMetrics::new(&reg, "mimir", url);
    let text = reg.render();
    let fams = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for (name, kind) in PER_QUEUE {
        let full = format!("prometheus_remote_storage_{name}");
        let fam = find(&fams, &full).unwrap_or_else(|| panic!("{full} missing"));
        assert_eq!(&fam.kind, kind, "{full}");
        assert!(!fam.help.is_empty(), "{full} has help");
        assert!(!fam.samples.is_empty(), "{full} has samples");
        for s in &fam.samples {
            let get = |l: &str| {
                s.labels
                    .iter()
                    .find(|(n, _)| n == l)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(get("remote_name"), Some("mimir"), "{full}");
            assert_eq!(get("url"), Some(url), "{full}");
        }
    }
    for kind in ["samples", "exemplars", "histograms"] {
        let fam = find(
            &fams,
            &format!("prometheus_remote_storage_{kind}_dropped_total"),
        )
        .expect("dropped");
        let reasons: Vec<&str> = fam
            .samples
            .iter()
            .filter_map(|s| {
                s.labels
                    .iter()
                    .find(|(n, _)| n == "reason")
                    .map(|(_, v)| v.as_str())
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "dropped_series",
                "nhcb_in_rw1_not_supported",
                "too_old",
                "unintentionally_dropped_series"
            ],
            "{kind}: sorted reasons"
        );
    }
    // Prometheus's buckets for sent_batch_duration_seconds.
    let fam = find(
        &fams,
        "prometheus_remote_storage_sent_batch_duration_seconds",
    )
    .expect("hist");
    let les: Vec<&str> = fam
        .samples
        .iter()
        .filter_map(|s| {
            s.labels
                .iter()
                .find(|(n, _)| n == "le")
                .map(|(_, v)| v.as_str())
        })
        .collect();
    assert_eq!(
        les,
        [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "25",
            "60", "120", "300", "+Inf"
        ]
    );
    // ringwrite's own per-endpoint summaries.
    for name in [
        "ringwrite_send_latency_seconds",
        "ringwrite_end_to_end_lag_seconds",
    ] {
        let fam = find(&fams, name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(fam.kind, "summary");
        let qs: Vec<&str> = fam
            .samples
            .iter()
            .filter_map(|s| {
                s.labels
                    .iter()
                    .find(|(n, _)| n == "quantile")
                    .map(|(_, v)| v.as_str())
            })
            .collect();
        assert_eq!(qs, ["0.5", "0.9", "0.99", "0.999"], "{name}");
    }
    // Nothing else sneaks in under the Prometheus prefix (names must match Prometheus's).
    let known: HashSet<String> = PER_QUEUE
        .iter()
        .map(|(n, _)| format!("prometheus_remote_storage_{n}"))
        .collect();
    for f in &fams {
        if f.name.starts_with("prometheus_") {
            assert!(known.contains(&f.name), "unexpected {}", f.name);
        }
    }
}

#[test]
fn mixin_alert_inputs_move() {
    // PrometheusRemoteWriteBehind compares these two gauges; both must be settable by max.
    let reg = Registry::new();
    let q = QueueMetrics::new(&reg, "r", "u");
    q.queue_highest_timestamp_seconds.set_max(200.0);
    q.queue_highest_timestamp_seconds.set_max(100.0);
    q.queue_highest_sent_timestamp_seconds.set_max(50.0);
    let fams = parse_exposition(&reg.render()).expect("valid");
    let v = |n: &str| find(&fams, n).map(|f| f.samples[0].value);
    assert_eq!(
        v("prometheus_remote_storage_queue_highest_timestamp_seconds"),
        Some(200.0)
    );
    assert_eq!(
        v("prometheus_remote_storage_queue_highest_sent_timestamp_seconds"),
        Some(50.0)
    );
}

#[test]
fn full_registry_parses_strictly() {
    let text = full_registry().render();
    let fams = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let by_name: BTreeMap<&str, &Family> = fams.iter().map(|f| (f.name.as_str(), f)).collect();
    let hist = by_name["prometheus_remote_storage_sent_batch_duration_seconds"];
    let count = hist
        .samples
        .iter()
        .find(|s| s.name.ends_with("_count") && s.labels.iter().any(|(_, v)| v == "mimir"))
        .map(|s| s.value);
    assert_eq!(count, Some(2.0));
    assert_eq!(
        by_name["prometheus_remote_storage_samples_total"].samples[0].value, 12_345_678.0,
        "1.2345678e+07 parses back"
    );
    let special = by_name["ringwrite_test_special_values"];
    assert!(special.samples[0].value.is_infinite());
    assert!(special.samples[1].value.is_nan());
}

#[test]
fn strict_parser_rejects_broken_text() {
    // The parser must be able to fail, or the tests above prove nothing.
    let ok = "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\n";
    assert!(parse_exposition(ok).is_ok());
    let bad = [
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1",                       // no final newline
        "# HELP a A.\na 1\n",                                               // no TYPE
        "# HELP b B.\n# TYPE b gauge\nb 1\n# HELP a A.\n# TYPE a gauge\na 1\n", // unsorted families
        "# HELP a A.\n# TYPE a gauge\na{x=\"2\"} 1\na{x=\"1\"} 1\n",        // unsorted series
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",        // duplicate
        "# HELP a A.\n# TYPE a gauge\na{x=\"a\"b\"} 1\n",                   // unescaped quote
        "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n",                    // bad escape
        "# HELP a A.\n# TYPE a gauge\na{y=\"1\",x=\"1\"} 1\n",              // label order
        "# HELP a A.\n# TYPE a gauge\na inf\n",                             // not Go's +Inf
        "# HELP a A.\n# TYPE a gauge\na 1 1000\n",                          // timestamp
        "# HELP a A.\n# TYPE a counter\na_total 1\n",                       // other family
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
    ];
    for b in bad {
        assert!(parse_exposition(b).is_err(), "accepted {b:?}");
    }
}

fn promtool() -> String {
    std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into())
}

/// Runs `promtool check metrics` on `text`: (exit status success, combined output).
fn promtool_check(text: &str) -> (bool, String) {
    let mut child = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "promtool is required (install Debian's prometheus package or set PROMTOOL): {e}"
            )
        });
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).expect("write to promtool");
    drop(stdin);
    let out = child.wait_with_output().expect("promtool ran");
    let combined = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), combined)
}

#[test]
fn promtool_check_metrics_finds_no_problems() {
    let text = full_registry().render();
    let (ok, output) = promtool_check(&text);
    assert!(
        ok && output.trim().is_empty(),
        "promtool check metrics:\n{output}\n--- input ---\n{text}"
    );
    // And promtool does flag problems, so the pass above means something.
    let (ok, output) = promtool_check("# HELP x_count X.\n# TYPE x_count gauge\nx_count 1\n");
    assert!(!ok, "promtool accepted a linted name: {output}");
}

#[test]
#[ignore = "prints the full exposition for eyeballing"]
fn print_full_registry() {
    print!("{}", full_registry().render());
}

/// Rough per-operation costs; run with
/// `cargo test --release --test metrics_exposition -- --ignored --nocapture cost`.
#[test]
#[ignore = "timing report, not a check"]
fn cost_report() {
    let reg = Registry::new();
    let qs: Vec<QueueMetrics> = (0..10)
        .map(|i| QueueMetrics::new(&reg, &format!("endpoint{i}"), &format!("https://r{i}/push")))
        .collect();
    let q = &qs[0];
    let n = 10_000_000u64;
    let time = |what: &str, iters: u64, f: &mut dyn FnMut(u64)| {
        let t = std::time::Instant::now();
        for i in 0..iters {
            f(i);
        }
        let ns = t.elapsed().as_nanos() as f64 / iters as f64;
        println!("{what:<40} {ns:>8.1} ns/op");
    };
    time("Counter::add", n, &mut |i| {
        q.samples_total.add(std::hint::black_box(i & 7))
    });
    time("Gauge::set_max", n, &mut |i| {
        q.queue_highest_timestamp_seconds.set_max(i as f64)
    });
    time("HistogramMetric::observe", n, &mut |i| {
        q.sent_batch_duration_seconds
            .observe((i % 1000) as f64 * 1e-3)
    });
    time("Summary::observe", n / 10, &mut |i| {
        q.send_latency_seconds
            .observe(Duration::from_micros(i % 100_000))
    });
    let mut len = 0;
    time("Registry::render (10 endpoints)", 200, &mut |_| {
        len = reg.render().len()
    });
    println!(
        "render size: {len} bytes, {} lines",
        reg.render().lines().count()
    );
}
