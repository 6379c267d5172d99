"""Runs the bad-input table (integration-tests/test_bad_input.py) against devserver and the
real Temporal dev server, and prints one line per request: devserver's answer, the real
server's, and whether they are the same (the request's own ids replaced by their names).

    .venv/bin/python scripts/bad_input_table.py [--devserver PATH] [--temporal-cli PATH]

devserver is DEVSERVER_BIN or target/release/devserver; the `temporal` CLI is the one beside
this Python or on PATH (`pip install -r integration-tests/requirements.txt` installs it).
Exit status 1 if any answer differs.
"""

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "integration-tests"
sys.path.insert(0, str(TESTS))

from support import ServerProcess, dev_server_argv, find_temporal_cli, free_port  # noqa: E402
from test_bad_input import CASES, answer, ensure_int_attribute, normalized  # noqa: E402


async def answers(argv_of, log_dir: Path, name: str):
    """Each row's answer from one server, launched for the purpose on a free port."""
    port = free_port()
    server = ServerProcess(argv_of(port), port, log_dir / f"{name}.log")
    try:
        client = await server.connect()
        await ensure_int_attribute(client)
        result = []
        for case in CASES:
            got, values = await answer(client, case)
            result.append(normalized(got, values))
        return result
    finally:
        server.stop()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_bin = os.environ.get("DEVSERVER_BIN", TESTS.parent / "target/release/devserver")
    parser.add_argument("--devserver", type=Path, default=Path(default_bin))
    parser.add_argument("--temporal-cli", type=Path)
    args = parser.parse_args()
    cli = find_temporal_cli(str(args.temporal_cli) if args.temporal_cli else None)
    if cli is None:
        parser.error("no `temporal` CLI found: pass --temporal-cli PATH")
    with tempfile.TemporaryDirectory() as logs:
        ours = await answers(
            lambda port: dev_server_argv(args.devserver, port), Path(logs), "devserver"
        )
        real = await answers(lambda port: dev_server_argv(cli, port), Path(logs), "real")
    different = 0
    for case, mine, theirs in zip(CASES, ours, real):
        same = mine == theirs
        different += not same
        mark = "same" if same else "DIFFERENT"
        print(f"{mark:9} | {case.name} | devserver: {mine} | real: {theirs}")
    print(f"{len(CASES) - different} of {len(CASES)} the same")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
