#!/usr/bin/env python3
"""Side-by-side cost of remote-write senders at the same scrape load, into the same sink.

Senders (each measured in its own run, one after the other):

  ringwrite       `ringwrite run` tailing the WAL of a Prometheus (without remote write)
                  that scrapes the targets; ringwrite's process only. Runs first: its
                  Prometheus gives the baseline for prometheus-rw.
  prometheus-rw   Prometheus 2.42 with remote write. Cost = that process minus what the
                  Prometheus without remote write spent per scraped sample (same load,
                  previous run), times the samples scraped. (Running both Prometheus at once
                  would share a window but double the CPU contention on a small machine.)
  agent           Prometheus 2.42 in agent mode (--enable-feature=agent); whole process.
  vmagent-scrape  vmagent scraping the same targets and forwarding; whole process.
  vmagent-relay   Prometheus remote-writes into vmagent, vmagent forwards; vmagent only.
  ringwrite-epoll the same with MONOIO_FORCE_LEGACY_DRIVER=1 (epoll instead of io_uring:
                  what a container without io_uring gets). Not in the default list.

Load: nginx serves N targets (127.0.0.10, .11, ... on one port) of S gauges each, rotating
between a few pre-rendered value sets every second; every scraper uses a 1 s interval.
Sink: `ringwrite sink --count-samples` (HTTP/1.1, acks with 204, counts samples and keeps
the newest timestamp, so throughput and lag are measured the same way for every sender).

CPU is utime+stime from /proc/PID/stat over the window after the warm-up; RSS is VmRSS at
the end of the window (VmHWM too). Other jobs on the machine change wall-clock rates but
much less the CPU seconds a process spends per sample.

Usage: bench/peers/run.py [--rates 100000,200000] [--window 60] [--warmup 40]
       bench/peers/run.py --chart-only bench/results/<date>-peers.json
Needs: prometheus, vmagent, nginx on PATH (Debian: prometheus victoria-metrics nginx-light),
and a release build of ringwrite (cargo build --release). Python 3 stdlib only.
"""

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
NICE = 0  # --nice: scheduling priority of every process this script starts
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPORT_SERIES = 5  # up, scrape_duration_seconds, scrape_samples_scraped, ..._post_metric_relabeling, scrape_series_added
# ringwrite runs first: its Prometheus (no remote write) is prometheus-rw's baseline.
SCENARIOS = ["ringwrite", "prometheus-rw", "agent", "vmagent-scrape", "vmagent-relay"]
EXTRA_SCENARIOS = ["ringwrite-epoll"]
# The same queue_config for every Prometheus-style sender (Prometheus 2.44+ defaults, which
# ringwrite also uses); vmagent keeps its own defaults (it batches by size, not by count).
QUEUE_CONFIG = {
    "capacity": 10000,
    "max_shards": 50,
    "max_samples_per_send": 2000,
    "batch_send_deadline": "5s",
}


# ---------------------------------------------------------------- processes and /proc


def free_port(hosts=("127.0.0.1",)):
    """A TCP port that is free on every address in hosts (checked by binding each)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        ok = True
        for h in hosts[1:]:
            try:
                with socket.socket() as s:
                    s.bind((h, port))
            except OSError:
                ok = False
                break
        if ok:
            return port
    raise RuntimeError("no free port on all target addresses")


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def mem_kib(pid):
    """(VmRSS, VmHWM) in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


class Proc:
    """A child process with its log file; stop() sends SIGTERM, then SIGKILL."""

    def __init__(self, name, argv, logdir, env=None):
        self.name = name
        self.log_path = os.path.join(logdir, name + ".log")
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  env=dict(os.environ, **(env or {})), preexec_fn=set_nice)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()

    def tail(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


def set_nice():
    """Runs in each child before exec: the same priority for every measured process."""
    if NICE:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def scrape(url):
    """Text exposition -> {name: summed value over all label sets}; missing pages -> {}."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode(errors="replace")
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        head, _, value = line.rpartition(" ")
        if head.endswith("}") or " " not in head:
            pass
        else:  # "name value timestamp"
            head, _, value = head.rpartition(" ")
        name = head.split("{", 1)[0]
        try:
            out[name] = out.get(name, 0.0) + float(value)
        except ValueError:
            pass
    return out


# ---------------------------------------------------------------- load: targets on nginx


def target_addr(i):
    return f"127.0.0.{10 + i}"


def render_targets(root, n_targets, series, variants=4):
    """variants x n_targets exposition files; root/cur -> the variant served now."""
    for v in range(variants):
        d = os.path.join(root, f"v{v}")
        os.makedirs(d)
        rnd = random.Random(v)
        for t in range(n_targets):
            lines = [
                f'bench_metric_{j % 20}{{path="/api/v{j % 7}/items",code="{200 + j % 5}",idx="{j}"}} '
                f"{round(rnd.uniform(0, 1000), 2)}\n"
                for j in range(series)
            ]
            with open(os.path.join(d, target_addr(t) + ".prom"), "w") as f:
                f.writelines(lines)
    os.symlink("v0", os.path.join(root, "cur"))


class Rotator(threading.Thread):
    """Points root/cur at the next value set every second (atomic symlink swap)."""

    def __init__(self, root, variants=4):
        super().__init__(daemon=True)
        self.root, self.variants, self.stop_flag = root, variants, threading.Event()

    def run(self):
        k = 0
        while not self.stop_flag.wait(1.0):
            k = (k + 1) % self.variants
            tmp = os.path.join(self.root, "cur.tmp")
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(f"v{k}", tmp)
            os.replace(tmp, os.path.join(self.root, "cur"))


def start_nginx(work, n_targets, series):
    root = os.path.join(work, "targets")
    os.makedirs(root)
    render_targets(root, n_targets, series)
    addrs = [target_addr(i) for i in range(n_targets)]
    port = free_port(tuple(addrs))
    listens = "".join(f"    listen {a}:{port};\n" for a in addrs)
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(
            f"""worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  default_type text/plain;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path {work}/nginx-body;
  server {{
{listens}    root {root}/cur;
    location / {{ try_files /$server_addr.prom =404; }}
  }}
}}
"""
        )
    proc = Proc("nginx", ["nginx", "-c", conf, "-p", work, "-g", "daemon off;"], work)
    wait_http(f"http://{addrs[0]}:{port}/metrics", 20)
    rot = Rotator(root)
    rot.start()
    return proc, rot, [f"{a}:{port}" for a in addrs]


# ---------------------------------------------------------------- configs


def yaml_list(items, indent):
    return "".join(f"{' ' * indent}- {i}\n" for i in items)


def scrape_yaml(targets):
    return (
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: bench\n    static_configs:\n      - targets:\n"
        + yaml_list(targets, 10)
    )


def remote_write_yaml(url, ringwrite=False):
    q = "".join(f"      {k}: {v}\n" for k, v in QUEUE_CONFIG.items())
    proto = "    protocol: http1\n" if ringwrite else ""
    return (
        f"remote_write:\n  - url: {url}\n{proto}    queue_config:\n{q}"
        "    metadata_config:\n      send: false\n"
    )


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


# ---------------------------------------------------------------- one run


class Sink:
    """`ringwrite sink --count-samples`; keeps the latest stats line."""

    def __init__(self, ringwrite, work):
        self.proc = subprocess.Popen(
            [ringwrite, "sink", "--listen", "127.0.0.1:0", "--count-samples"],
            stdout=subprocess.PIPE,
            stderr=open(os.path.join(work, "sink.err"), "wb"),
            text=True,
            preexec_fn=set_nice,
        )
        first = json.loads(self.proc.stdout.readline())
        self.url = first["url"]
        self.last = None
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.last = d

    def stats(self):
        with self.lock:
            return dict(self.last) if self.last else None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def prometheus(name, work, targets, rw_url=None, agent=False):
    d = os.path.join(work, name)
    os.makedirs(d)
    text = scrape_yaml(targets) + (remote_write_yaml(rw_url) if rw_url else "")
    cfg = write(os.path.join(d, "prometheus.yml"), text)
    port = free_port()
    argv = ["prometheus", f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}"]
    if agent:
        argv += ["--enable-feature=agent", f"--storage.agent.path={d}/data"]
    else:
        argv += [f"--storage.tsdb.path={d}/data"]
    p = Proc(name, argv, work)
    p.metrics = f"http://127.0.0.1:{port}/metrics"
    p.data = os.path.join(d, "data")
    wait_http(p.metrics)
    return p


def vmagent(name, work, remote_url, targets=None):
    d = os.path.join(work, name)
    os.makedirs(d)
    port = free_port()
    argv = [
        "vmagent",
        f"-httpListenAddr=127.0.0.1:{port}",
        f"-remoteWrite.url={remote_url}",
        f"-remoteWrite.tmpDataPath={d}/queue",
        "-loggerLevel=ERROR",
    ]
    if targets:
        argv.append("-promscrape.config=" + write(os.path.join(d, "scrape.yml"), scrape_yaml(targets)))
    p = Proc(name, argv, work)
    p.metrics = f"http://127.0.0.1:{port}/metrics"
    p.write_url = f"http://127.0.0.1:{port}/api/v1/write"
    wait_http(p.metrics)
    return p


def ringwrite_run(name, work, ringwrite, wal_dir, sink_url, cores, env=None):
    d = os.path.join(work, name)
    os.makedirs(d)
    cfg = write(os.path.join(d, "ringwrite.yml"), remote_write_yaml(sink_url, ringwrite=True))
    deadline = time.time() + 60
    while not os.path.isdir(wal_dir) and time.time() < deadline:
        time.sleep(0.2)
    port = free_port()
    argv = [
        ringwrite, "run", "--config.file", cfg, "--wal.dir", wal_dir,
        "--storage.path", os.path.join(d, "state"), "--web.listen-address", f"127.0.0.1:{port}",
        "--cores", cores,
    ]
    p = Proc(name, argv, work, env)
    p.metrics = f"http://127.0.0.1:{port}/metrics"
    wait_http(p.metrics)
    return p


# Samples sent, by the sender's own count (Prometheus and ringwrite use the same name).
SENT_METRIC = "prometheus_remote_storage_samples_total"
# vmagent 1.79 has no samples-sent counter; rows pushed into its queue stand in for it.
VM_ROWS = ("vmagent_rows_inserted_total", "vm_promscrape_scraped_samples_sum")


# Samples the scraping process took in: Prometheus server, agent, vmagent.
INGESTED = ("prometheus_tsdb_head_samples_appended_total", "prometheus_agent_samples_appended_total",
            "vm_promscrape_scraped_samples_sum")


def sender_lag(m):
    """Prometheus-style 'behind': newest timestamp read minus newest sent, seconds."""
    hi = m.get("prometheus_remote_storage_highest_timestamp_in_seconds")
    sent = m.get("prometheus_remote_storage_queue_highest_sent_timestamp_seconds")
    if hi is None or sent is None or sent == 0:
        return None
    return max(0.0, hi - sent)


def run_scenario(sc, args, work, targets, series_total, base):
    """Starts what scenario sc needs, measures the window, stops everything.

    base: the Prometheus-without-remote-write figures at this load ({"cpu_per_sample",
    "rss_bytes"}), needed by prometheus-rw, which is charged only what it spends beyond them.
    """
    procs, out = [], {"scenario": sc}
    sink = Sink(args.ringwrite, work)
    scrape_only = None  # a Prometheus without remote write in this run, if any
    try:
        if sc == "prometheus-rw":
            sender = prometheus("prom-rw", work, targets, rw_url=sink.url)
            procs.append(sender)
            scraper = sender
        elif sc == "prometheus-baseline":
            sender = prometheus("prom-baseline", work, targets)
            procs.append(sender)
            scraper = scrape_only = sender
        elif sc == "agent":
            sender = prometheus("prom-agent", work, targets, rw_url=sink.url, agent=True)
            procs.append(sender)
            scraper = sender
        elif sc == "vmagent-scrape":
            sender = vmagent("vmagent-scrape", work, sink.url, targets)
            procs.append(sender)
            scraper = sender
        elif sc == "vmagent-relay":
            sender = vmagent("vmagent-relay", work, sink.url)
            scraper = prometheus("prom-feeder", work, targets, rw_url=sender.write_url)
            procs += [sender, scraper]
        elif sc in ("ringwrite", "ringwrite-epoll"):
            scraper = scrape_only = prometheus("prom-wal", work, targets)
            procs.append(scraper)
            env = {"MONOIO_FORCE_LEGACY_DRIVER": "1"} if sc == "ringwrite-epoll" else None
            sender = ringwrite_run("ringwrite", work, args.ringwrite, os.path.join(scraper.data, "wal"),
                                   sink.url, args.ringwrite_cores, env)
            procs.append(sender)
        else:
            raise ValueError(sc)

        time.sleep(args.warmup)
        for p in procs:
            if not p.alive():
                raise RuntimeError(f"{p.name} exited during warm-up:\n{p.tail()}")
        t0 = time.time()
        cpu0 = {p.name: cpu_seconds(p.pid) for p in procs}
        s0 = sink.stats()
        m0, i0 = scrape(sender.metrics), scrape(scraper.metrics)
        lags, sender_lags, rss_max = [], [], {p.name: 0 for p in procs}
        load0 = os.getloadavg()
        while time.time() - t0 < args.window:
            time.sleep(2)
            st = sink.stats()
            if st and st["newest_ms"]:
                lags.append((st["unix_ms"] - st["newest_ms"]) / 1000)
            sl = sender_lag(scrape(sender.metrics))
            if sl is not None:
                sender_lags.append(sl)
            for p in procs:
                rss_max[p.name] = max(rss_max[p.name], mem_kib(p.pid)[0])
        wall = time.time() - t0
        cpu1 = {p.name: cpu_seconds(p.pid) for p in procs}
        s1 = sink.stats()
        m1, i1 = scrape(sender.metrics), scrape(scraper.metrics)
        mem = {p.name: mem_kib(p.pid) for p in procs}
        load1 = os.getloadavg()
    finally:
        for p in reversed(procs):
            p.stop()
        sink.stop()

    cpu = {n: cpu1[n] - cpu0[n] for n in cpu1}
    sink_wall = s1["elapsed_s"] - s0["elapsed_s"]
    received = s1["samples"] - s0["samples"]
    ingest_rate = sum(i1.get(n, 0) - i0.get(n, 0) for n in INGESTED) / wall
    # Cost is per sample delivered; a baseline (no sink traffic) is per sample scraped.
    rate = received / sink_wall if received and sink_wall > 0 else ingest_rate
    cost = cpu[sender.name]
    rss = mem[sender.name][0] * 1024
    rss_peak = rss_max[sender.name] * 1024
    if sc == "prometheus-rw":
        if not base:
            raise RuntimeError("prometheus-rw needs a baseline at the same load")
        cost -= base["cpu_per_sample"] * ingest_rate * wall
        rss -= base["rss_bytes"]
        rss_peak -= base["rss_bytes"]
    if sc.startswith("vmagent"):
        sent = m1.get(VM_ROWS[0], 0) - m0.get(VM_ROWS[0], 0) or m1.get(VM_ROWS[1], 0) - m0.get(VM_ROWS[1], 0)
    else:
        sent = m1.get(SENT_METRIC, 0) - m0.get(SENT_METRIC, 0)
    lag_max = max(lags) if lags else None
    out.update(
        {
            "window_s": round(wall, 1),
            "ingested_per_sec": round(ingest_rate),
            "samples_received": received,
            "samples_per_sec": round(received / sink_wall) if sink_wall > 0 else 0,
            "keeps_up": bool(received) and received / sink_wall >= 0.95 * ingest_rate
            and lag_max is not None and lag_max < 10,
            "sender_samples_counted": round(sent),
            "connections_to_sink": s1["connections"],
            "shards_end": m1.get("prometheus_remote_storage_shards"),
            "cpu_seconds": round(cost, 2),
            "cores_used": round(cost / wall, 3),
            "cpu_seconds_per_million_samples": round(cost / wall / rate * 1e6, 3) if rate else None,
            "rss_bytes": rss,
            "rss_max_bytes": rss_peak,
            "hwm_bytes": mem[sender.name][1] * 1024,
            "rss_bytes_per_series": round(rss / series_total),
            "lag_receiver_mean_s": round(sum(lags) / len(lags), 2) if lags else None,
            "lag_receiver_max_s": round(lag_max, 2) if lags else None,
            "lag_sender_mean_s": round(sum(sender_lags) / len(sender_lags), 2) if sender_lags else None,
            "lag_sender_max_s": round(max(sender_lags), 2) if sender_lags else None,
            "loadavg_1m": [round(load0[0], 2), round(load1[0], 2)],
            "processes": {
                n: {"cpu_seconds": round(cpu[n], 2), "rss_bytes": mem[n][0] * 1024,
                    "hwm_bytes": mem[n][1] * 1024}
                for n in cpu
            },
        }
    )
    if scrape_only is not None and ingest_rate > 0:
        out["prometheus_scrape_only"] = {
            "cpu_seconds_per_million_samples": round(cpu[scrape_only.name] / wall / ingest_rate * 1e6, 3),
            "cpu_per_sample": cpu[scrape_only.name] / wall / ingest_rate,
            "rss_bytes": mem[scrape_only.name][0] * 1024,
        }
    return out


# ---------------------------------------------------------------- report


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "mem_total_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")}


def git_commit():
    try:
        c = subprocess.check_output(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"], text=True).strip()
        dirty = subprocess.check_output(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                                        text=True).strip()
        return c + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions(ringwrite):
    def first(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unknown"

    # Debian's vmagent prints an empty version; the package version says which it is.
    vm = first(["dpkg-query", "-W", "-f", "vmagent (victoria-metrics ${Version})", "victoria-metrics"])
    return {"prometheus": first(["prometheus", "--version"]), "vmagent": vm,
            "nginx": first(["nginx", "-v"]), "ringwrite": first([ringwrite, "--version"])}


def ratios(results):
    """For each load: peer / ringwrite for CPU per sample and RSS."""
    out = {}
    for load in results:
        rw = load["scenarios"].get("ringwrite")
        if not rw or not rw.get("cpu_seconds_per_million_samples"):
            continue
        r = {}
        for sc, v in load["scenarios"].items():
            if sc.startswith("ringwrite") or not v.get("cpu_seconds_per_million_samples"):
                continue
            r[sc] = {
                "cpu": round(v["cpu_seconds_per_million_samples"] / rw["cpu_seconds_per_million_samples"], 1),
                "rss": round(v["rss_bytes"] / rw["rss_bytes"], 1) if rw["rss_bytes"] > 0 else None,
                "keeps_up": v.get("keeps_up", True),
            }
        out[str(load["target_samples_per_sec"])] = r
    return out


def fmt_mib(b):
    return f"{b / 2**20:.0f}"


def markdown(doc):
    m = doc["machine"]
    lines = [
        f"# Remote-write senders side by side ({doc['date']})",
        "",
        f"Commit `{doc['commit']}`; machine: {m['nproc']} vCPU {m['cpu_model']}, kernel {m['kernel']}, "
        f"{m['mem_total_bytes'] / 2**30:.0f} GiB. Peers: {doc['versions']['prometheus']}; "
        f"{doc['versions']['vmagent']}. Command: `{doc['command']}`.",
        "",
        f"Load: {doc['targets']} nginx targets, 1 s scrape interval, {doc['window_s']} s window after "
        f"{doc['warmup_s']} s warm-up per run; sink `ringwrite sink --count-samples` (HTTP/1.1). "
        f"Prometheus-style senders share queue_config {json.dumps(QUEUE_CONFIG)}; vmagent keeps its "
        f"defaults. ringwrite: `--cores {doc['ringwrite_cores']}`, `protocol: http1`, RW 1.0.",
        "",
        "CPU counts each sender's own process (utime+stime) over the window, per sample the sink "
        "received. prometheus-rw is Prometheus with remote write minus what Prometheus without "
        "remote write (the one ringwrite tailed: same load, previous run) spends per scraped "
        "sample; its RSS likewise. agent and vmagent-scrape are whole processes (scraping included); "
        "vmagent-relay and ringwrite are the forwarder only. Lag (receiver) is wall clock minus "
        "the newest sample timestamp the sink has received, sampled every 2 s; lag (sender) is "
        "the sender's highest_timestamp_in minus queue_highest_sent_timestamp. A sender is "
        "*behind* when the sink got less than 95 % of what was scraped or the lag passed 10 s: "
        "its RSS then includes a backlog. "
        f"Every process started ran at nice {doc.get('nice', 0)}. "
        "Other agents loaded this 2-vCPU machine during the runs (1-min load average given): "
        "per-process CPU per sample is much less affected than wall-clock rates, but not immune "
        "(cache and frequency contention).",
        "",
    ]
    for load in doc["results"]:
        lines += [
            f"## {load['target_samples_per_sec'] // 1000} k samples/s "
            f"({load['series_per_target']} series x {doc['targets']} targets + report series = "
            f"{load['series_total']} series)",
            "",
            "| sender | scraped/s | samples/s at sink | CPU s per M samples | cores | RSS MiB | "
            "RSS B/series | lag recv mean / max s | lag sender mean / max s | conns | load avg |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for sc in SCENARIOS + EXTRA_SCENARIOS:
            v = load["scenarios"].get(sc)
            if not v:
                continue
            if "error" in v:
                lines.append(f"| {sc} | failed: {v['error'][:120]} |||||||||| ")
                continue
            ls = (f"{v['lag_sender_mean_s']} / {v['lag_sender_max_s']}"
                  if v["lag_sender_mean_s"] is not None else "n/a")
            lines.append(
                f"| {sc} | {v.get('ingested_per_sec', 0):,} | {v['samples_per_sec']:,}"
                f"{'' if v.get('keeps_up', True) else ' (behind)'} | "
                f"{v['cpu_seconds_per_million_samples']} | "
                f"{v['cores_used']} | {fmt_mib(v['rss_bytes'])} | {v['rss_bytes_per_series']} | "
                f"{v['lag_receiver_mean_s']} / {v['lag_receiver_max_s']} | {ls} | "
                f"{v.get('connections_to_sink', '')} | "
                f"{v['loadavg_1m'][0]}-{v['loadavg_1m'][1]} |"
            )
        p = load.get("prometheus_without_remote_write")
        if p:
            lines += ["", f"For scale: Prometheus without remote write (scraping + TSDB) spent "
                          f"{p['cpu_seconds_per_million_samples']} CPU s per M samples scraped and "
                          f"held {fmt_mib(p['rss_bytes'])} MiB."]
        lines.append("")
    lines += ["## ringwrite's advantage (peer / ringwrite)", "",
              "| load | peer | CPU per sample | RSS |", "|---|---|---|---|"]
    for load, r in doc["ratios"].items():
        for sc, v in r.items():
            note = "" if v.get("keeps_up", True) else " (peer behind)"
            lines.append(f"| {int(load) // 1000} k/s | {sc}{note} | {v['cpu']}x | {v['rss']}x |")
    lines += ["", f"Chart: [{os.path.basename(doc['chart'])}]({os.path.basename(doc['chart'])})", ""]
    return "\n".join(lines)


COLORS = {"prometheus-rw": "#e6522c", "agent": "#f29e6d", "vmagent-scrape": "#5b5ea6",
          "vmagent-relay": "#9a9cd6", "ringwrite": "#2a9d4a", "ringwrite-epoll": "#8fd19e"}


def svg_chart(doc):
    """Two panels of grouped bars: CPU s per M samples and RSS bytes per series, per load."""
    loads = [l for l in doc["results"] if l["scenarios"]]
    panels = [("CPU seconds per million samples", "cpu_seconds_per_million_samples", "{:.2f}"),
              ("RSS bytes per series", "rss_bytes_per_series", "{:.0f}")]
    pw, ph, top, left = 440, 300, 60, 50
    w, h = left + len(panels) * (pw + 30), top + ph + 90
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="15">Remote-write senders at the '
           f'same scrape load ({doc["date"][:10]}, {doc["machine"]["nproc"]} vCPU, lower is better)</text>']
    for pi, (title, key, fmt) in enumerate(panels):
        x0 = left + pi * (pw + 30)
        vals = [v.get(key) or 0 for l in loads for v in l["scenarios"].values() if "error" not in v]
        vmax = max(vals + [1e-9]) * 1.15
        out.append(f'<text x="{x0 + pw / 2}" y="{top - 12}" text-anchor="middle" font-size="13">{title}</text>')
        out.append(f'<line x1="{x0}" y1="{top + ph}" x2="{x0 + pw}" y2="{top + ph}" stroke="black"/>')
        group_w = pw / max(1, len(loads))
        for li, load in enumerate(loads):
            scs = [s for s in SCENARIOS + EXTRA_SCENARIOS
                   if s in load["scenarios"] and "error" not in load["scenarios"][s]]
            bw = (group_w - 30) / max(1, len(scs))
            for si, sc in enumerate(scs):
                v = load["scenarios"][sc].get(key) or 0
                mark = "" if load["scenarios"][sc].get("keeps_up", True) else "*"
                bh = ph * v / vmax
                bx = x0 + li * group_w + 15 + si * bw
                out.append(f'<rect x="{bx:.1f}" y="{top + ph - bh:.1f}" width="{bw - 3:.1f}" '
                           f'height="{bh:.1f}" fill="{COLORS[sc]}"><title>{sc}: {fmt.format(v)}</title></rect>')
                out.append(f'<text x="{bx + (bw - 3) / 2:.1f}" y="{top + ph - bh - 3:.1f}" '
                           f'text-anchor="middle" font-size="9">{fmt.format(v)}{mark}</text>')
            out.append(f'<text x="{x0 + li * group_w + group_w / 2:.1f}" y="{top + ph + 16}" '
                       f'text-anchor="middle">{load["target_samples_per_sec"] // 1000} k samples/s</text>')
    lx = left
    present = {s for l in loads for s in l["scenarios"]}
    for sc in [s for s in SCENARIOS + EXTRA_SCENARIOS if s in present]:
        out.append(f'<rect x="{lx}" y="{h - 40}" width="12" height="12" fill="{COLORS[sc]}"/>')
        out.append(f'<text x="{lx + 16}" y="{h - 30}">{sc}</text>')
        lx += 30 + 7 * len(sc)
    out.append(f'<text x="{left}" y="{h - 10}" font-size="10">prometheus-rw: with minus without '
               f'remote write; agent, vmagent-scrape: whole process; relay, ringwrite: forwarder '
               f'only; * fell behind. {os.path.basename(doc["json"])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="100000,200000", help="target samples/s, comma separated")
    ap.add_argument("--targets", type=int, default=100, help="scrape targets (<= 240)")
    ap.add_argument("--window", type=float, default=60, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=40, help="seconds before the window")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--ringwrite", default=os.path.join(REPO, "target", "release", "ringwrite"))
    ap.add_argument("--ringwrite-cores", default="0", help="ringwrite run --cores")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results"))
    ap.add_argument("--name", default=None, help="result file stem (default <date>-peers)")
    ap.add_argument("--nice", type=int, default=0,
                    help="priority for every process started (e.g. -10 as root, so other jobs on a "
                         "shared machine starve the measured processes less)")
    ap.add_argument("--chart-only", metavar="JSON", help="only redraw the chart and table of a result")
    args = ap.parse_args()
    global NICE
    NICE = args.nice
    # SIGTERM unwinds like Ctrl-C, so every child started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    if args.chart_only:
        with open(args.chart_only) as f:
            doc = json.load(f)
        # Files that were renamed after the run keep their own stem.
        stem = os.path.splitext(args.chart_only)[0]
        doc.update(json=args.chart_only, md=stem + ".md", chart=stem + ".svg")
        finish(doc)
        return 0

    for tool in ("prometheus", "vmagent", "nginx", args.ringwrite):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (apt-get install prometheus victoria-metrics nginx-light; "
                     f"cargo build --release)")
    if not 1 <= args.targets <= 240:
        sys.exit("--targets must be 1..240")
    scenarios = [s for s in args.scenarios.split(",") if s]
    for s in scenarios:
        if s not in SCENARIOS + EXTRA_SCENARIOS:
            sys.exit(f"unknown scenario {s}; known: {', '.join(SCENARIOS + EXTRA_SCENARIOS)}")
    date = datetime.datetime.now(datetime.timezone.utc)
    stem = args.name or f"{date:%Y-%m-%d}-peers"
    os.makedirs(args.out, exist_ok=True)
    doc = {
        "date": date.strftime("%Y-%m-%dT%H:%M:%SZ"), "commit": git_commit(), "machine": machine(),
        "versions": versions(args.ringwrite), "command": " ".join(["bench/peers/run.py"] + sys.argv[1:]),
        "targets": args.targets, "window_s": args.window, "warmup_s": args.warmup,
        "ringwrite_cores": args.ringwrite_cores, "queue_config": QUEUE_CONFIG, "nice": args.nice,
        "json": os.path.join(args.out, stem + ".json"), "md": os.path.join(args.out, stem + ".md"),
        "chart": os.path.join(args.out, stem + ".svg"), "results": [],
    }
    for rate in [int(r) for r in args.rates.split(",") if r]:
        series = max(1, round(rate / args.targets))
        work = tempfile.mkdtemp(prefix="ringwrite-peers-")
        os.chmod(work, 0o755)  # nginx workers run as an unprivileged user
        load = {"target_samples_per_sec": rate, "series_per_target": series,
                "series_total": args.targets * (series + REPORT_SERIES), "scenarios": {}}
        doc["results"].append(load)
        nginx, rot, targets = start_nginx(work, args.targets, series)
        try:
            base = None
            for sc in scenarios:
                if sc == "prometheus-rw" and base is None:
                    r = one_run("prometheus-baseline", args, work, targets, load, None)
                    base = r.get("prometheus_scrape_only")
                r = one_run(sc, args, work, targets, load, base)
                load["scenarios"][sc] = r
                if base is None and "prometheus_scrape_only" in r:
                    base = r["prometheus_scrape_only"]
            load["prometheus_without_remote_write"] = base
        finally:
            rot.stop_flag.set()
            nginx.stop()
            shutil.rmtree(work, ignore_errors=True)
    doc["ratios"] = ratios(doc["results"])
    with open(doc["json"], "w") as f:
        json.dump(doc, f, indent=2)
    finish(doc)
    return 0


def one_run(sc, args, work, targets, load, base):
    print(f"[{time.strftime('%H:%M:%S')}] {load['target_samples_per_sec']} samples/s: {sc} ...",
          file=sys.stderr, flush=True)
    run_dir = os.path.join(work, sc)
    os.makedirs(run_dir)
    try:
        r = run_scenario(sc, args, run_dir, targets, load["series_total"], base)
    except Exception as e:  # a failed peer is reported, the others still run
        r = {"scenario": sc, "error": str(e)}
    print(json.dumps(r), file=sys.stderr, flush=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    return r


def finish(doc):
    with open(doc["chart"], "w") as f:
        f.write(svg_chart(doc))
    text = markdown(doc)
    with open(doc["md"], "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
