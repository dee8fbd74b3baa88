#!/usr/bin/env python3
"""Static scrape targets for ringwrite's WAL fixtures and Prometheus integration tests.

Stdlib only (Python >= 3.9), listens on 127.0.0.1 only. Prometheus scrapes these endpoints;
what it writes to its WAL then becomes a test fixture (scripts/make-fixtures.sh) or is tailed
live (tests/live_tail_prometheus.rs).

Listeners (each bound to a free port chosen by the kernel):
  main     GET /metrics/basic        Prometheus text format 0.0.4: counters, gauges, special
                                     float values, classic histograms, summaries, hostile label
                                     values (quotes, backslashes, newline, tab, unicode, Go
                                     non-printables) and "rotating" series that come and go every
                                     10 s so Prometheus writes staleness markers for them.
           GET /metrics/openmetrics  OpenMetrics 1.0.0: counter and histogram with exemplars (with
                                     and without exemplar timestamps), _created series, info,
                                     stateset, gauge with unit.
           GET /metrics/native       protobuf exposition (delimited io.prometheus.client.MetricFamily,
                                     hand-encoded): native histograms with integer counts
                                     (`fixture_native_seconds`) and float counts
                                     (`fixture_native_float_seconds`), plus a gauge. Needs
                                     Prometheus --enable-feature=native-histograms.
           GET /metrics/big?shard=S&series=N
                                     N gauges `ringwrite_live_gauge{shard="S",idx="i"}` whose values
                                     change on every scrape (load for the live-tail test).
           GET /-/vanish             shuts the `vanish` listener down: its next scrapes fail
                                     (connection refused), so Prometheus marks its series stale.
           GET /-/healthy            200 "ok".
  vanish   GET /metrics              a few gauges and a counter, until /-/vanish is called.

On start it prints one JSON line `{"main": <port>, "vanish": <port>}` to stdout (and writes
the same to --ports-file if given), then serves until SIGTERM/SIGINT.

Values are deterministic functions of the per-path scrape count, so fixtures regenerate with
the same shape (timestamps differ, of course).
"""

import argparse
import json
import math
import os
import signal
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TEXT_CT = "text/plain; version=0.0.4; charset=utf-8"
PROTOBUF_CT = (
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
)
OPENMETRICS_CT = "application/openmetrics-text; version=1.0.0; charset=utf-8"

# Label values that stress escaping: in the exposition format only \\, \" and \n are escaped;
# Go's strconv.Quote (used by promtool and ringwrite's dump) additionally escapes \t and every
# rune that unicode.IsPrint rejects (U+00A0 NBSP, U+200B ZWSP, U+E0001 LANGUAGE TAG).
HOSTILE_VALUES = [
    ("quote", 'say "hi"'),
    ("backslash", "C:\\path\\to\\file"),
    ("newline", "line1\nline2"),
    ("tab", "a\tb"),
    ("latin1", "héllo wörld"),
    ("cjk", "日本語のラベル"),
    ("emoji", "crab 🦀 snowman ☃"),
    ("nbsp", "non\u00a0breaking"),
    ("zwsp", "zero\u200bwidth"),
    ("tag", "lang\U000e0001tag"),
    ("mixed", 'all "of" \\ the\nabove\t✓'),
    ("long", "x" * 1000),
]

# Special gauge values, written exactly as they appear in the exposition.
SPECIAL_VALUES = [
    ("zero", "0"),
    ("neg_zero", "-0"),
    ("one", "1"),
    ("neg", "-42.5"),
    ("subnormal", "5e-324"),
    ("tiny", "1e-300"),
    ("huge", "1.7976931348623157e+308"),
    ("e21", "1e+21"),
    ("e_minus7", "1e-07"),
    ("pi", "3.141592653589793"),
    ("third", "0.3333333333333333"),
    ("two53p1", "9007199254740993"),
    ("nan", "NaN"),
    ("pos_inf", "+Inf"),
    ("neg_inf", "-Inf"),
]

HIST_BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"]


def escape_label(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def fmt(v):
    """Shortest round-trip text for a float, as the exposition format expects."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


class Counters:
    """Per-path scrape counters; thread-safe because ThreadingHTTPServer serves concurrently."""

    def __init__(self):
        self._lock = threading.Lock()
        self._n = {}

    def next(self, key):
        with self._lock:
            n = self._n.get(key, 0) + 1
            self._n[key] = n
            return n


COUNTERS = Counters()
START = time.time()


def basic_body(n):
    """Text-format exposition for scrape number n (1-based)."""
    out = []
    w = out.append
    w("# HELP fixture_requests_total Requests by method and code.\n")
    w("# TYPE fixture_requests_total counter\n")
    for mi, method in enumerate(["GET", "POST", "PUT"]):
        for ci, code in enumerate(["200", "404", "500", "503"]):
            w(f'fixture_requests_total{{code="{code}",method="{method}"}} {n * (mi + 1) * (ci + 1)}\n')
    w("# HELP fixture_bytes_total Fractional counter.\n")
    w("# TYPE fixture_bytes_total counter\n")
    for di, d in enumerate(["in", "out"]):
        # Repeated 0.1 additions give values such as 0.30000000000000004.
        v = 0.0
        for _ in range(n):
            v += 0.1 * (di + 1)
        w(f'fixture_bytes_total{{direction="{d}"}} {fmt(v)}\n')
    w("# HELP fixture_gauge One hundred gauges with full-precision values.\n")
    w("# TYPE fixture_gauge gauge\n")
    for i in range(100):
        w(f'fixture_gauge{{idx="{i}"}} {fmt(math.sin(n * 0.1 + i) * (10 ** (i % 7 - 3)))}\n')
    w("# HELP fixture_special Gauges with special float values.\n")
    w("# TYPE fixture_special gauge\n")
    for kind, text in SPECIAL_VALUES:
        w(f'fixture_special{{kind="{kind}"}} {text}\n')
    w("# HELP fixture_hostile_labels Label values that need escaping.\n")
    w("# TYPE fixture_hostile_labels gauge\n")
    for name, value in HOSTILE_VALUES:
        w(f'fixture_hostile_labels{{case="{name}",value="{escape_label(value)}"}} {n}\n')
    # An empty label value is the same as no label: Prometheus drops it.
    w('fixture_empty_label{empty="",kept="yes"} 1\n')
    w("# Untyped sample without TYPE line and a metric name with colons.\n")
    w(f"fixture_untyped {n % 7}\n")
    w(f"fixture:recorded:ratio {fmt(n / 3)}\n")
    # Rotating series: slot k exists during 10-second windows where (window % 3) != k, so every
    # 10 s one slot disappears (StaleNaN written) and another reappears.
    window = int((time.time() - START) // 10)
    w("# TYPE fixture_rotating gauge\n")
    for k in range(3):
        if window % 3 != k:
            w(f'fixture_rotating{{slot="{k}"}} {window}\n')
    # Classic histograms: 3 routes x (11 buckets + +Inf + _sum + _count).
    w("# HELP fixture_latency_seconds Request latency.\n")
    w("# TYPE fixture_latency_seconds histogram\n")
    for ri, route in enumerate(["/", "/api", "/api/v1/write"]):
        cum = 0
        for bi, le in enumerate(HIST_BUCKETS):
            cum += n * (bi % 3 + ri)
            w(f'fixture_latency_seconds_bucket{{le="{le}",route="{route}"}} {cum}\n')
        cum += n
        w(f'fixture_latency_seconds_bucket{{le="+Inf",route="{route}"}} {cum}\n')
        w(f'fixture_latency_seconds_sum{{route="{route}"}} {fmt(cum * 0.137)}\n')
        w(f'fixture_latency_seconds_count{{route="{route}"}} {cum}\n')
    # Summaries: 2 services x (3 quantiles + _sum + _count).
    w("# HELP fixture_rpc_duration_seconds RPC latency summary.\n")
    w("# TYPE fixture_rpc_duration_seconds summary\n")
    for si, svc in enumerate(["alpha", "beta"]):
        for q in ["0.5", "0.9", "0.99"]:
            w(f'fixture_rpc_duration_seconds{{quantile="{q}",service="{svc}"}} '
              f"{fmt(float(q) * (si + 1) + math.cos(n) / 100)}\n")
        w(f'fixture_rpc_duration_seconds_sum{{service="{svc}"}} {fmt(n * 1.5 * (si + 1))}\n')
        w(f'fixture_rpc_duration_seconds_count{{service="{svc}"}} {n * 3}\n')
    return "".join(out)


def openmetrics_body(n):
    """OpenMetrics exposition with exemplars for scrape number n."""
    now = time.time()
    out = []
    w = out.append
    w("# TYPE om_requests counter\n")
    w("# HELP om_requests Requests with exemplars.\n")
    for pi, path in enumerate(["/a", "/b"]):
        # /a: exemplar with its own timestamp that changes every 5 scrapes (so Prometheus
        # stores a new exemplar only then); /b: no timestamp (Prometheus uses the scrape time).
        if pi == 0:
            ex_ts = f" {START + (n // 5) * 5:.3f}"
            ex = f' # {{trace_id="a{n // 5:08x}"}} {n // 5}{ex_ts}'
        else:
            ex = f' # {{trace_id="b{n:08x}",span_id="s{n}"}} {fmt(n * 0.5)}'
        w(f'om_requests_total{{path="{path}"}} {n * (pi + 2)}{ex}\n')
        w(f'om_requests_created{{path="{path}"}} {START:.3f}\n')
    w("# TYPE om_latency_seconds histogram\n")
    w("# HELP om_latency_seconds Latency with bucket exemplars.\n")
    w("# UNIT om_latency_seconds seconds\n")
    cum = 0
    for bi, le in enumerate(["0.1", "0.5", "1.0"]):
        cum += n * (bi + 1)
        ex = f' # {{trace_id="h{bi}-{n:06d}"}} {fmt(float(le) / 2)} {now:.3f}' if bi != 1 else ""
        w(f'om_latency_seconds_bucket{{le="{le}"}} {cum}{ex}\n')
    cum += n
    w(f'om_latency_seconds_bucket{{le="+Inf"}} {cum} # {{trace_id="inf-{n}"}} 7.5\n')
    w(f"om_latency_seconds_sum {fmt(cum * 0.21)}\n")
    w(f"om_latency_seconds_count {cum}\n")
    w(f"om_latency_seconds_created {START:.3f}\n")
    w("# TYPE om_temperature_celsius gauge\n")
    w("# UNIT om_temperature_celsius celsius\n")
    w(f'om_temperature_celsius{{room="lab"}} {fmt(20 + math.sin(n / 10))}\n')
    w("# TYPE om_build info\n")
    w('om_build_info{revision="abc\\"def",version="1.2.3"} 1\n')
    w("# TYPE om_feature stateset\n")
    for fi, feat in enumerate(["a", "b", "c"]):
        w(f'om_feature{{om_feature="{feat}"}} {1 if (n + fi) % 3 == 0 else 0}\n')
    w("# EOF\n")
    return "".join(out)


# --- Protobuf exposition, encoded by hand (client_model metrics.proto field numbers) ---------


def pb_varint(n):
    out = bytearray()
    n &= (1 << 64) - 1  # negative int64 -> two's complement, as protobuf does
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_zigzag(n):
    return (n << 1) ^ (n >> 63)


def pb_key(field, wire):
    return pb_varint(field << 3 | wire)


def pb_uint(field, n):
    return pb_key(field, 0) + pb_varint(n)


def pb_sint(field, n):
    return pb_key(field, 0) + pb_varint(pb_zigzag(n))


def pb_double(field, v):
    return pb_key(field, 1) + struct.pack("<d", v)


def pb_bytes(field, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return pb_key(field, 2) + pb_varint(len(data)) + data


def pb_label(name, value):
    return pb_bytes(1, pb_bytes(1, name) + pb_bytes(2, value))  # Metric.label = 1


def pb_spans(field, spans):
    return b"".join(pb_bytes(field, pb_sint(1, off) + pb_uint(2, ln)) for off, ln in spans)


# Histogram layout shared by both native histograms: schema 3 (bucket growth 2^(1/8)),
# positive buckets at indexes -2..0 and 3..4, negative buckets at 0..1.
NATIVE_POS_SPANS = [(-2, 3), (2, 2)]
NATIVE_NEG_SPANS = [(0, 2)]


def native_counts(n):
    pos = [n, 2 * n, n + 1, 3, n % 5]
    neg = [1, n]
    return pos, neg


def native_histogram_int(n):
    """Histogram message (Metric.histogram = 7) with integer (delta-encoded) counts."""
    pos, neg = native_counts(n)
    zero = n // 2
    count = zero + sum(pos) + sum(neg)
    body = pb_uint(1, count) + pb_double(2, n * 1.25 - 0.5) + pb_sint(5, 3)
    body += pb_double(6, 0.001) + pb_uint(7, zero)
    body += pb_spans(9, NATIVE_NEG_SPANS)
    prev = 0
    for c in neg:
        body += pb_sint(10, c - prev)
        prev = c
    body += pb_spans(12, NATIVE_POS_SPANS)
    prev = 0
    for c in pos:
        body += pb_sint(13, c - prev)
        prev = c
    return body


def native_histogram_float(n):
    """Histogram message with float counts (Prometheus ingests it as a FloatHistogram)."""
    pos, neg = native_counts(n)
    pos = [c * 0.5 for c in pos]
    neg = [c * 0.25 for c in neg]
    zero = n / 4
    count = zero + sum(pos) + sum(neg)
    body = pb_double(4, count) + pb_double(2, n * 0.75) + pb_sint(5, 3)
    body += pb_double(6, 0.001) + pb_double(8, zero)
    body += pb_spans(9, NATIVE_NEG_SPANS)
    body += b"".join(pb_double(11, c) for c in neg)
    body += pb_spans(12, NATIVE_POS_SPANS)
    body += b"".join(pb_double(14, c) for c in pos)
    return body


def metric_family(name, help_text, mtype, metrics):
    """MetricFamily: name=1, help=2, type=3, metric=4; length-delimited for the stream."""
    mf = pb_bytes(1, name) + pb_bytes(2, help_text) + pb_uint(3, mtype)
    mf += b"".join(pb_bytes(4, m) for m in metrics)
    return pb_varint(len(mf)) + mf


def native_body(n):
    """Protobuf exposition for scrape number n."""
    gauge, histogram = 1, 4  # MetricType enum
    # path="/c" exists only in even 10-second windows, so Prometheus writes staleness markers
    # for a native histogram series too.
    paths = ["/a", "/b"] + (["/c"] if int((time.time() - START) // 10) % 2 == 0 else [])
    out = metric_family(
        "fixture_native_seconds", "Native histogram, integer counts.", histogram,
        [pb_label("path", p) + pb_bytes(7, native_histogram_int(n + i))
         for i, p in enumerate(paths)],
    )
    out += metric_family(
        "fixture_native_float_seconds", "Native histogram, float counts.", histogram,
        [pb_label("path", "/a") + pb_bytes(7, native_histogram_float(n))],
    )
    out += metric_family(
        "fixture_native_gauge", "A float next to the histograms.", gauge,
        [pb_bytes(2, pb_double(1, n * 0.5))],  # Metric.gauge = 2, Gauge.value = 1
    )
    return out


class BigBody:
    """`series` gauges for one shard; label text precomputed so a scrape is one join."""

    def __init__(self):
        self._lock = threading.Lock()
        self._prefixes = {}

    def body(self, shard, series, n):
        key = (shard, series)
        with self._lock:
            prefixes = self._prefixes.get(key)
            if prefixes is None:
                prefixes = [
                    f'ringwrite_live_gauge{{idx="{i}",shard="{shard}"}} ' for i in range(series)
                ]
                self._prefixes[key] = prefixes
        # Integer part plus a pseudo-random 6-digit fraction: full-mantissa floats that snappy
        # cannot squeeze much, so the WAL grows fast enough to rotate 10 MB segments.
        base = n * 1000
        mix = n * 104729
        return "# TYPE ringwrite_live_gauge gauge\n" + "".join(
            [f"{p}{base + i}.{(i * 7919 + mix) % 999983:06d}\n" for i, p in enumerate(prefixes)]
        )


BIG = BigBody()


def vanish_body(n):
    out = ["# TYPE fixture_vanish_gauge gauge\n"]
    for i in range(5):
        out.append(f'fixture_vanish_gauge{{i="{i}"}} {fmt(n + i / 4)}\n')
    out.append("# TYPE fixture_vanish_total counter\n")
    out.append(f"fixture_vanish_total {n}\n")
    return "".join(out)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fixture-targets/1"

    def log_message(self, *args):  # keep stderr quiet; Prometheus scrapes every second
        pass

    def reply(self, status, body, content_type=TEXT_CT):
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        role = self.server.role
        if role == "vanish":
            if self.server.gone:
                # Keep-alive connections outlive the listener: drop them without a response so
                # the next scrape fails like one against a dead process.
                self.close_connection = True
                return None
            if url.path == "/metrics":
                return self.reply(200, vanish_body(COUNTERS.next("vanish")))
            return self.reply(404, "not found\n")
        if url.path == "/metrics/basic":
            return self.reply(200, basic_body(COUNTERS.next("basic")))
        if url.path == "/metrics/openmetrics":
            return self.reply(200, openmetrics_body(COUNTERS.next("om")), OPENMETRICS_CT)
        if url.path == "/metrics/native":
            return self.reply(200, native_body(COUNTERS.next("native")), PROTOBUF_CT)
        if url.path == "/metrics/big":
            q = parse_qs(url.query)
            shard = q.get("shard", ["0"])[0]
            series = int(q.get("series", ["25000"])[0])
            n = COUNTERS.next(("big", shard))
            return self.reply(200, BIG.body(shard, series, n))
        if url.path == "/-/vanish":
            threading.Thread(target=self.server.peers["vanish"].shutdown_and_close).start()
            return self.reply(200, "vanishing\n")
        if url.path == "/-/healthy":
            return self.reply(200, "ok\n")
        return self.reply(404, "not found\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, role, peers):
        super().__init__(("127.0.0.1", 0), Handler)
        self.role = role
        self.peers = peers
        self.gone = False

    def handle_error(self, request, client_address):
        # A scraper that hangs up mid-response (Prometheus shutting down, a scrape timeout) is
        # normal here; anything else still gets the default traceback.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    def shutdown_and_close(self):
        self.gone = True
        self.shutdown()
        self.server_close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ports-file", help="also write the JSON port map to this file")
    args = ap.parse_args()

    peers = {}
    for role in ("main", "vanish"):
        peers[role] = Server(role, peers)
    threads = [
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        for s in peers.values()
    ]
    for t in threads:
        t.start()
    ports = {role: s.server_address[1] for role, s in peers.items()}
    line = json.dumps(ports)
    if args.ports_file:
        tmp = args.ports_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.replace(tmp, args.ports_file)
    print(line, flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
