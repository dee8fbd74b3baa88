#!/usr/bin/env bash
# Interleaved A/B of pipeline bench binaries: on a host whose speed drifts by up to ~30 %
# within minutes, only runs made one after the other compare.
#
#   bench/ab.sh ROUNDS PROTO BIN...     (PROTO rw1|rw2; BIN: copies of the pipeline bench,
#                                        e.g. cp target/release/deps/pipeline-<hash> /tmp/a)
#
# Each round runs every BIN once (RINGWRITE_BENCH_PROTO=PROTO, other RINGWRITE_BENCH_*
# settings pass through); prints each run's CPU s per M samples (core loop, WAL reader,
# total), samples/s and the host probe (wake us, see bench/pipeline.rs) and the medians per
# binary.
set -euo pipefail
rounds=$1
proto=$2
shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq 1 "$rounds"); do
    for bin in "$@"; do
        line=$(RINGWRITE_BENCH_PROTO=$proto "$bin" --bench 2>&1 |
            awk -v p="$proto" '$1 == p { total = $5; rate = $4; wake = $10 }
                /core loop [0-9]/ { loop = $8; reader = $11; sub(",", "", loop) }
                END { print loop, reader, total, rate, wake }')
        echo "$bin $line" | tee -a "$out" |
            awk '{ printf "%-28s core loop %s  WAL reader %s  total %s  M samples/s %s  wake us %s\n", $1, $2, $3, $4, $5, $6 }'
    done
done
python3 - "$out" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, *vals = line.split()
    # Builds from before the host probe print no wake column.
    runs.setdefault(name, []).append([float(v) for v in vals] + [float("nan")] * (5 - len(vals)))
for name, rows in runs.items():
    med = [statistics.median(r[i] for r in rows) for i in range(5)]
    print(f"median {name:<21} core loop {med[0]:.3f}  WAL reader {med[1]:.3f}  total {med[2]:.3f}  "
          f"M samples/s {med[3]:.2f}  wake us {med[4]:.1f}  ({len(rows)} runs)")
PY
