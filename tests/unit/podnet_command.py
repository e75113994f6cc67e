"""Run the ``podnet`` command as a user does, in a subprocess of this interpreter."""

from __future__ import annotations

import subprocess
import sys

#: The documented preflight connect bound is 10 s; 5 s more covers starting the interpreter.
RUN_BOUND = 15.0


def podnet(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``podnet ARGS`` (the console script's entry point), its output captured."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_podnet.cli import main; raise SystemExit(main())",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
