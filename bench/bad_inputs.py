"""Every bad input a user can give, as a user gives it: exit code, wall time, first line.

    python bench/bad_inputs.py

Each case is a real `pytest` run in a scratch directory against loopback addresses or files only
(a closed port, a socket that never answers, kubeconfigs that are wrong in one way each); none
needs a cluster. Prints one table row per case; asserts nothing (tests/unit holds the tests).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SUITES = str(ROOT / "suites")


def kubeconfig(path: Path, server: str, **user: object) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": "u", "user": user or {"token": "not-a-real-token"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path.write_text(yaml.safe_dump(document))
    return path


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"https://127.0.0.1:{sock.getsockname()[1]}"


def first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["(nothing)"])[0][:160]


def main() -> int:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    silent_url = f"https://127.0.0.1:{silent.getsockname()[1]}"
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        refused = kubeconfig(tmp / "refused.yaml", closed_port())
        (tmp / "notes.txt").write_text("a file")
        (tmp / "malformed.yaml").write_text("clusters: [\n")
        cases: dict[str, Callable[[], list[str]]] = {
            "forgot --podnet": lambda: [f"--podnet-kubeconfig={refused}", "--podnet-report=r.json"],
            "report is a directory": lambda: ["--podnet", f"--podnet-report={tmp}"],
            "report under a file": lambda: ["--podnet", f"--podnet-report={tmp}/notes.txt/r.json"],
            "unknown guarantee in require": lambda: ["--podnet", "--podnet-require=G1,G9x"],
            "unknown skip kind": lambda: ["--podnet", "--podnet-allow-skip=flaky"],
            "bad timeout scale": lambda: ["--podnet", "--podnet-timeout-scale=fast"],
            "kubeconfig missing": lambda: ["--podnet", f"--podnet-kubeconfig={tmp}/nope.yaml"],
            "kubeconfig malformed": lambda: [
                "--podnet",
                f"--podnet-kubeconfig={tmp}/malformed.yaml",
            ],
            "unknown context": lambda: [
                "--podnet",
                f"--podnet-kubeconfig={refused}",
                "--podnet-context=prod",
            ],
            "connection refused": lambda: ["--podnet", f"--podnet-kubeconfig={refused}"],
            "server never answers": lambda: [
                "--podnet",
                f"--podnet-kubeconfig={kubeconfig(tmp / 'silent.yaml', silent_url)}",
            ],
            "exec credential plugin missing (not on PATH)": lambda: [
                "--podnet",
                "--podnet-kubeconfig="
                + str(
                    kubeconfig(
                        tmp / "exec.yaml",
                        closed_port(),
                        exec={
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "podnet-no-such-auth-plugin",
                        },
                    )
                ),
            ],
            "garbage client certificate": lambda: [
                "--podnet",
                "--podnet-kubeconfig="
                + str(
                    kubeconfig(
                        tmp / "cert.yaml",
                        closed_port(),
                        **{
                            "client-certificate-data": "bm90IGEgY2VydA==",
                            "client-key-data": "bm90IGEga2V5",
                        },
                    )
                ),
            ],
        }
        print(f"{'bad input':32}  exit  wall_s  first line of output")
        for name, make_args in cases.items():
            args = make_args()
            started = time.monotonic()
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args, SUITES],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            wall = time.monotonic() - started
            created = sorted(p.name for p in tmp.glob("r.json"))
            print(
                f"{name:32}  {run.returncode:4}  {wall:6.1f}  {first_line(run.stderr + run.stdout)}"
                + (f"  [left: {created}]" if created else ""),
                flush=True,
            )
    silent.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
