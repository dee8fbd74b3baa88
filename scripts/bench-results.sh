#!/usr/bin/env bash
# Runs `ringwrite bench` (the README's main command, any extra flags passed through) in
# release mode and records the result under bench/results/: <date>-<name>.json (the report),
# .svg (throughput and lag over time) and .md (the table, the commit, the machine).
# Usage: scripts/bench-results.sh NAME [bench flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: scripts/bench-results.sh NAME [bench flags...]}"
shift
stamp="$(date -u +%Y-%m-%d)"
base="bench/results/${stamp}-${name}"
mkdir -p bench/results
cargo build --release --locked --bin ringwrite
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
set +e
./target/release/ringwrite bench --log.level warn --json "${base}.json" --plot "${base}.svg" "$@" \
    | tee "${base}.out"
code=${PIPESTATUS[0]}
set -e
{
    echo "# ringwrite bench: ${name} (${stamp})"
    echo
    echo "Command: \`ringwrite bench $*\` (release build), exit code ${code}."
    echo
    echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo ' (with uncommitted changes)')"
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
    echo "- load average before the run (1, 5, 15 min): ${load_before}"
    echo
    echo '```'
    cat "${base}.out"
    echo '```'
    echo
    echo "Report: [${stamp}-${name}.json](${stamp}-${name}.json); plot: ![throughput and lag](${stamp}-${name}.svg)"
} >"${base}.md"
rm -f "${base}.out"
echo "wrote ${base}.md, .json, .svg"
exit "${code}"
