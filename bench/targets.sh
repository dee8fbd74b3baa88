#!/usr/bin/env bash
# The issue 3 and 4 targets, measured the only way that means anything on a host whose
# speed drifts by up to ~30 % within minutes: interleaved, in one go, shares computed from
# runs made side by side.
#
#   bench/targets.sh [ROUNDS]      (default 2; needs python3)
#
# Per round: the encode bench, the push bench (HTTP/1.1, h2c, TLS h2, TLS HTTP/1.1 at 4 and
# 16 requests in flight), the encode bench again, then the pipeline bench for RW 1.0 and
# RW 2.0. Transport share = push client CPU s/GB x compressed bytes per sample / encode
# CPU s/M, against the encode runs either side of that push run (issue 3: <= 15 %).
# Pipeline: CPU s per M samples of ringwrite's threads (issue 4: RW 1.0 <= 0.3, RW 2.0 <=
# 0.15). Raw outputs stay in bench/out/targets-<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
out=bench/out/targets-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out/bin"
# Build once, then run copies: nothing compiles while a benchmark runs.
cargo bench --no-run --bench encode --bench push --bench pipeline 2>&1 |
    sed -n 's/.*Executable bench\/\([a-z_]*\)\.rs (\(.*\))/\1 \2/p' |
    while read -r name path; do cp "$path" "$out/bin/$name"; done
for r in $(seq 1 "$rounds"); do
    echo "round $r/$rounds: encode, push, encode, pipeline rw1, rw2" >&2
    ENCODE_BENCH_RUNS=5 "$out/bin/encode" --bench >"$out/encode-$r-a.txt" 2>&1
    PUSH_SECS=3 PUSH_ROUNDS=3 PUSH_CONCURRENCY=4,16 \
        PUSH_MODES=http1,h2c,tls-h2,tls-http1 "$out/bin/push" --bench >"$out/push-$r.txt" 2>&1
    ENCODE_BENCH_RUNS=5 "$out/bin/encode" --bench >"$out/encode-$r-b.txt" 2>&1
    for proto in rw1 rw2; do
        RINGWRITE_BENCH_PROTO=$proto "$out/bin/pipeline" --bench >"$out/pipeline-$r-$proto.txt" 2>&1
    done
done
python3 - "$out" "$rounds" <<'EOF'
import re, sys
out, rounds = sys.argv[1], int(sys.argv[2])

def encode(path):
    """(compressed B/sample, CPU s/M) of the 2000x1 50/target rows, by protocol."""
    rows = {}
    for line in open(path):
        m = re.match(r"(RW [12]\.0)\s+2000x1 50/target\s+\S+\s+\S+\s+(\S+)\s+\|.*\s(\S+)$", line)
        if m:
            rows[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    return rows

print(f"{'round':>5} {'proto':<7} {'encode s/M':>11} {'M/s/core':>9} {'mode':<10} {'in flight':>9} {'s/GB':>6} {'transport':>10}")
for r in range(1, rounds + 1):
    a, b = encode(f"{out}/encode-{r}-a.txt"), encode(f"{out}/encode-{r}-b.txt")
    push = []
    for line in open(f"{out}/push-{r}.txt"):
        f = line.split()
        if len(f) >= 7 and f[0] in ("http1", "h2c", "tls-h2", "tls-http1") and f[1].isdigit():
            push.append((f[0], int(f[1]), float(f[6])))
    for proto in ("RW 1.0", "RW 2.0"):
        (bps, s1), (_, s2) = a[proto], b[proto]
        for mode, inflight, sgb in push:
            lo, hi = sorted(sgb * bps / 1000 / s for s in (s1, s2))
            print(f"{r:>5} {proto:<7} {s1:.3f}/{s2:.3f} {1/s1:4.1f}/{1/s2:4.1f} {mode:<10} {inflight:>9} {sgb:6.3f} {100*lo:4.1f}-{100*hi:4.1f} %")
print()
print(f"{'round':>5} {'proto':<5} {'CPU s/M':>8} {'core loop':>10} {'WAL reader':>11} {'M samples/s':>12}")
for r in range(1, rounds + 1):
    for proto in ("rw1", "rw2"):
        text = open(f"{out}/pipeline-{r}-{proto}.txt").read()
        parts = re.search(rf"^{proto}\s+\S+\s+\d+\s+(\S+)\s+(\S+)", text, re.M)
        split = re.search(r"core loop ([\d.]+), WAL reader ([\d.]+)", text)
        print(f"{r:>5} {proto:<5} {parts.group(2):>8} {split.group(1):>10} {split.group(2):>11} {parts.group(1):>12}")
print(f"\nraw outputs: {out}")
EOF
