"""The runner image's entry point: ``pytest --podnet`` inside the cluster, reports into the log.

``python3 -m pytest_podnet.runner [pytest args]`` runs ``python3 -m pytest --podnet`` with the
JSON verdict and the JUnit XML written to a scratch directory, then prints both into its own log
as one block (a gzipped tar, base64, between two marker lines that carry the token of
``$PODNET_REPORT_TOKEN``, so no test output can forge or cut the block), and exits with pytest's
status. ``podnet incluster`` reads the block back from the Pod's log: it needs neither exec
permission nor a running Pod, and the Pod needs no volume that outlives it.

Without a kubeconfig in the Pod, the plugin connects with the Pod's service account (in-cluster
config), so the run tests the cluster it runs in.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final

#: Environment variable that carries the marker token (set by ``podnet incluster``).
TOKEN_ENV: Final = "PODNET_REPORT_TOKEN"
#: The report files inside the block.
JSON_REPORT: Final = "podnet.json"
JUNIT_REPORT: Final = "junit.xml"
#: Base64 characters per log line: short lines survive every log pipeline unchanged.
LINE_WIDTH: Final = 76
#: Exit status when pytest itself cannot be started (pytest's own "internal error").
EXIT_INTERNAL: Final = 3


def begin_marker(token: str) -> str:
    return f"===== pytest-podnet reports {token} begin ====="


def end_marker(token: str, digest: str) -> str:
    """The closing line names the sha256 of the base64 text, so a truncated block is caught."""
    return f"===== pytest-podnet reports {token} end sha256={digest} ====="


def pytest_command(args: Sequence[str], report_dir: Path) -> list[str]:
    """The pytest command line: the plugin on, both reports into ``report_dir``, then ``args``."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "--podnet",
        "-p",
        "no:cacheprovider",
        f"--podnet-report={report_dir / JSON_REPORT}",
        f"--junitxml={report_dir / JUNIT_REPORT}",
        *args,
    ]


def pack(report_dir: Path) -> str:
    """The report files of ``report_dir`` as base64 of a gzipped tar (absent files left out)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in (JSON_REPORT, JUNIT_REPORT):
            path = report_dir / name
            if path.is_file():
                tar.add(path, arcname=name)
    return base64.b64encode(buffer.getvalue()).decode()


def block(token: str, payload: str) -> str:
    """The lines the runner prints after pytest: begin marker, payload lines, end marker."""
    digest = hashlib.sha256(payload.encode()).hexdigest()
    lines = [payload[i : i + LINE_WIDTH] for i in range(0, len(payload), LINE_WIDTH)]
    return "\n".join([begin_marker(token), *lines, end_marker(token, digest)]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    token = os.environ.get(TOKEN_ENV, "")
    with tempfile.TemporaryDirectory(prefix="podnet-reports-") as scratch:
        report_dir = Path(scratch)
        try:
            status = subprocess.run(pytest_command(args, report_dir), check=False).returncode
        except OSError as exc:
            print(f"pytest-podnet runner: cannot start pytest: {exc}", file=sys.stderr)
            status = EXIT_INTERNAL
        sys.stdout.flush()
        if token:
            sys.stdout.write(block(token, pack(report_dir)))
            sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main())
