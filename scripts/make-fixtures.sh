#!/usr/bin/env bash
# make-fixtures.sh — regenerate the real Prometheus 2.42 WAL fixtures under tests/fixtures/.
#
# Usage:  scripts/make-fixtures.sh [basic|checkpoint|native|all]     (default: all)
#
# Needs:  prometheus 2.42.x and promtool on PATH (Debian bookworm: `apt-get install -y prometheus`),
#         python3 (stdlib only). Override the binaries with PROMETHEUS=/path PROMTOOL=/path.
#
# What it does, per fixture (see tests/fixtures/README.md for the resulting contents):
#   * starts scripts/fixture_targets.py (static scrape targets on 127.0.0.1, free ports);
#   * writes a temporary prometheus.yml (scrape_interval 1s, jobs basic/openmetrics/vanish, one
#     recording rule) and runs Prometheus on 127.0.0.1:<free port> with --storage.tsdb.path in a
#     temp dir and --enable-feature=exemplar-storage;
#   * prom242-basic:      run ~35 s, SIGTERM, restart (new segment), make the `vanish` target go
#                         away (StaleNaN markers), run ~35 s more, SIGTERM.  => wal/00000000..01
#   * prom242-checkpoint: 1-minute blocks (hidden flags --storage.tsdb.{min,max}-block-duration=1m);
#                         3 restarts (the third one by SIGKILL, so segment 00000002 keeps an
#                         unpadded, non-page-aligned tail), then runs until the first head
#                         compaction has written wal/checkpoint.00000001 and deleted segments 0-1,
#                         then SIGTERM. The 1-minute block(s) are kept: promtool reads them.
#   * prom242-native:     --enable-feature=native-histograms; one protobuf target with integer
#                         and float native histograms (one series comes and goes every 10 s)
#                         and recording rules producing float histograms; run ~20 s, SIGTERM,
#                         restart, ~20 s, SIGTERM.  => wal/00000000..01
#   * copies the data dir into tests/fixtures/<name>/ without chunks_head/, lock, queries.active,
#     and checks it with scripts/walstat.py (an independent Python WAL reader) and
#     `promtool tsdb dump`.
#
# Idempotent: each run replaces tests/fixtures/<name>/ completely (timestamps and sizes differ
# between runs; the shape does not). Temp dirs and child processes are removed on exit.
# Takes about 75 s (basic) + 2.5 min (checkpoint) + 45 s (native).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/tests/fixtures}
PROMETHEUS=${PROMETHEUS:-prometheus}
PROMTOOL=${PROMTOOL:-promtool}
WHICH=${1:-all}

WORK=$(mktemp -d /tmp/ringwrite-fixtures.XXXXXX)
TARGETS_PID=""
PROM_PID=""

log() { printf '[make-fixtures %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cleanup() {
    local rc=$?
    if [[ -n "$PROM_PID" ]] && kill -0 "$PROM_PID" 2>/dev/null; then kill -KILL "$PROM_PID" || true; fi
    if [[ -n "$TARGETS_PID" ]] && kill -0 "$TARGETS_PID" 2>/dev/null; then kill -TERM "$TARGETS_PID" || true; fi
    wait 2>/dev/null || true
    if [[ $rc -ne 0 ]]; then
        log "failed (rc=$rc); last Prometheus log lines:"
        tail -n 30 "$WORK"/prom-*.log 2>/dev/null >&2 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

check_tools() {
    command -v "$PROMETHEUS" >/dev/null || die "prometheus not found (apt-get install -y prometheus)"
    command -v "$PROMTOOL" >/dev/null || die "promtool not found (apt-get install -y prometheus)"
    command -v python3 >/dev/null || die "python3 not found"
    local v
    v=$("$PROMETHEUS" --version 2>&1 | head -n1)
    [[ "$v" == *"version 2.42."* ]] || die "need Prometheus 2.42.x, found: $v"
    log "using $v"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_targets() {
    rm -f "$WORK/ports.json"
    python3 "$ROOT/scripts/fixture_targets.py" --ports-file "$WORK/ports.json" >/dev/null &
    TARGETS_PID=$!
    for _ in $(seq 100); do [[ -s "$WORK/ports.json" ]] && break; sleep 0.1; done
    [[ -s "$WORK/ports.json" ]] || die "fixture_targets.py did not start"
    MAIN_PORT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["main"])' "$WORK/ports.json")
    VANISH_PORT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vanish"])' "$WORK/ports.json")
    log "targets: main=127.0.0.1:$MAIN_PORT vanish=127.0.0.1:$VANISH_PORT"
}

stop_targets() {
    kill -TERM "$TARGETS_PID"
    wait "$TARGETS_PID" || true
    TARGETS_PID=""
}

write_config() {
    cat >"$WORK/rules.yml" <<'EOF'
groups:
  - name: fixture
    interval: 1s
    rules:
      - record: fixture:requests:rate5s
        expr: sum by (method) (rate(fixture_requests_total[5s]))
EOF
    cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $WORK/rules.yml
scrape_configs:
  - job_name: basic
    metrics_path: /metrics/basic
    static_configs:
      - targets: ["127.0.0.1:$MAIN_PORT"]
  - job_name: openmetrics
    metrics_path: /metrics/openmetrics
    static_configs:
      - targets: ["127.0.0.1:$MAIN_PORT"]
  - job_name: vanish
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$VANISH_PORT"]
EOF
}

write_native_config() {
    cat >"$WORK/rules.yml" <<'EOF'
groups:
  - name: native
    interval: 1s
    rules:
      - record: fixture:native:rate5s
        expr: rate(fixture_native_seconds[5s])
      - record: fixture:native:sum
        expr: sum(fixture_native_float_seconds)
EOF
    cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $WORK/rules.yml
scrape_configs:
  - job_name: native
    metrics_path: /metrics/native
    static_configs:
      - targets: ["127.0.0.1:$MAIN_PORT"]
EOF
}

# start_prom <data dir> <extra flags...>
start_prom() {
    local data=$1
    shift
    PROM_PORT=$(free_port)
    local logf
    logf="$WORK/prom-$(date +%s%N).log"
    "$PROMETHEUS" \
        --config.file="$WORK/prometheus.yml" \
        --storage.tsdb.path="$data" \
        --web.listen-address="127.0.0.1:$PROM_PORT" \
        --enable-feature=exemplar-storage \
        --log.level=info \
        "$@" >"$logf" 2>&1 &
    PROM_PID=$!
    for _ in $(seq 300); do
        if python3 - "$PROM_PORT" <<'EOF' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/-/ready", timeout=1).read()
EOF
        kill -0 "$PROM_PID" 2>/dev/null || die "prometheus exited early (log: $logf)"
        sleep 0.1
    done
    log "prometheus pid $PROM_PID ready on 127.0.0.1:$PROM_PORT (data $data)"
}

# stop_prom TERM|KILL
stop_prom() {
    kill -"$1" "$PROM_PID"
    wait "$PROM_PID" || true
    log "prometheus stopped with SIG$1"
    PROM_PID=""
}

vanish() {
    python3 -c 'import sys,urllib.request; urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/-/vanish").read()' "$MAIN_PORT"
    log "vanish target is gone (its series will get staleness markers)"
}

# install_fixture <data dir> <name>
install_fixture() {
    local data=$1 name=$2 dest="$OUT/$2"
    rm -rf "$dest"
    mkdir -p "$OUT"
    cp -a "$data" "$dest"
    rm -rf "$dest/chunks_head" "$dest/lock" "$dest/queries.active"
    find "$dest" -name '*.tmp' -prune -exec rm -rf {} +
    log "$name: $(du -sh "$dest" | cut -f1) in $(find "$dest" -type f | wc -l) files"
    python3 "$ROOT/scripts/walstat.py" "$dest/wal" "${@:3}" >&2
    # promtool must be able to read it (it replays the WAL into a read-only head);
    # dump a copy, since promtool writes chunks_head/ into the directory it opens.
    local copy="$WORK/verify-$name"
    rm -rf "$copy"
    cp -a "$dest" "$copy"
    local n
    n=$("$PROMTOOL" tsdb dump "$copy" | wc -l)
    log "$name: promtool tsdb dump prints $n samples"
    [[ "$n" -gt 100 ]] || die "$name: promtool dump has only $n lines"
}

make_basic() {
    log "=== prom242-basic (about 75 s)"
    local data="$WORK/data-basic"
    start_targets
    write_config
    start_prom "$data"
    sleep 35
    stop_prom TERM
    start_prom "$data"
    sleep 15
    vanish
    sleep 20
    stop_prom TERM
    stop_targets
    install_fixture "$data" prom242-basic
}

make_checkpoint() {
    log "=== prom242-checkpoint (about 2.5 min)"
    local data="$WORK/data-checkpoint"
    local blocks=(--storage.tsdb.min-block-duration=1m --storage.tsdb.max-block-duration=1m)
    start_targets
    write_config
    start_prom "$data" "${blocks[@]}"   # segment 0
    sleep 15
    stop_prom TERM
    start_prom "$data" "${blocks[@]}"   # segment 1
    sleep 15
    stop_prom TERM
    start_prom "$data" "${blocks[@]}"   # segment 2, left unpadded by SIGKILL
    sleep 15
    stop_prom KILL
    start_prom "$data" "${blocks[@]}"   # segment 3; compaction adds 4 and checkpoints 0-1
    local waited=0
    until compgen -G "$data/wal/checkpoint.[0-9]*[0-9]" >/dev/null; do
        sleep 1
        waited=$((waited + 1))
        [[ $waited -lt 240 ]] || die "no checkpoint after 240 s"
    done
    log "checkpoint appeared after ${waited}s: $(cd "$data/wal" && echo checkpoint.*)"
    sleep 5
    stop_prom TERM
    stop_targets
    install_fixture "$data" prom242-checkpoint --check-checkpoint-boundary
}

make_native() {
    log "=== prom242-native (about 45 s)"
    local data="$WORK/data-native"
    start_targets
    write_native_config
    start_prom "$data" --enable-feature=native-histograms
    sleep 20
    stop_prom TERM
    start_prom "$data" --enable-feature=native-histograms
    sleep 20
    stop_prom TERM
    stop_targets
    install_fixture "$data" prom242-native
}

check_tools
case "$WHICH" in
    basic) make_basic ;;
    checkpoint) make_checkpoint ;;
    native) make_native ;;
    all) make_basic; make_checkpoint; make_native ;;
    *) die "unknown fixture '$WHICH' (basic|checkpoint|native|all)" ;;
esac
log "done; fixtures in $OUT"
