#!/usr/bin/env bash
# The one command that runs every test on a fresh machine: build the server (and its wheel),
# run the Rust tests, then drive the built binary with the real Python SDK
# (integration-tests/, which also installs the wheel into a fresh venv and builds the image).
# Usage: scripts/test.sh [extra pytest arguments]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  # The SDK wheel and the pins in requirements.txt are chosen for CPython 3.11.
  "$(command -v python3.11 || command -v python3)" -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r integration-tests/requirements.txt

# One release build serves the tests, the wheel (python/, packed by maturin) and the docker
# image. On Linux it links glibc statically, so the binary runs in a scratch image and on any
# distribution; the explicit --target keeps that flag off build scripts and proc macros.
HOST="$(rustc -vV | sed -n 's/^host: //p')"
STATIC=""
case "$HOST" in *-linux-gnu) STATIC="-C target-feature=+crt-static" ;; esac
(cd python && RUSTFLAGS="$STATIC" "$VENV/bin/maturin" build --release --target "$HOST" \
  --out "$ROOT/target/wheels")
cargo test --workspace

DEVSERVER_BIN="$ROOT/target/$HOST/release/devserver" "$VENV/bin/python" -m pytest integration-tests "$@"
