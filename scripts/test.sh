#!/usr/bin/env bash
# The test command: installs the external peers the tests start (see
# scripts/install-test-deps.sh), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
cargo test --locked --no-fail-fast "$@"
