#!/usr/bin/env bash
# The one command that runs every test on a fresh machine: build the server, run the Rust
# tests, then drive the built binary with the real Python SDK (integration-tests/).
# Usage: scripts/test.sh [extra pytest arguments]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

cargo build --release
cargo test --workspace

VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  # The SDK wheel and the pins in requirements.txt are chosen for CPython 3.11.
  "$(command -v python3.11 || command -v python3)" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r integration-tests/requirements.txt

DEVSERVER_BIN="$ROOT/target/release/devserver" "$VENV/bin/python" -m pytest integration-tests "$@"
