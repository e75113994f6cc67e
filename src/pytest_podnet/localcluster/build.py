"""Build the pinned upstream components with the Go toolchain, once per version.

Every binary comes from one ``go build`` over the project's own Go module (``gomod/``), so the
packages they share compile once and Go's build cache makes a rebuild take seconds. The result is
cached under :func:`paths.bin_dir`; a stamp file records what was built, so a second build is a
no-op.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from pytest_podnet.localcluster import paths
from pytest_podnet.localcluster.versions import (
    COMPONENT_PACKAGES,
    CONTAINERD_MODULE,
    CONTAINERD_VERSION,
    COREDNS_VERSION,
    KUBERNETES_VERSION,
    RELEASES,
)

STAMP = ".podnet-build.json"


class BuildError(RuntimeError):
    """The Go build failed; the message carries the command and the tail of its output."""


def start_build(
    what: str, cold: str, *, progress: bool, error: type[RuntimeError] = BuildError
) -> float:
    """Before a Go build: fail with ``error`` unless ``go`` is on PATH, say what is built and
    how long a ``cold`` build takes (when ``progress``); return the start time."""
    if shutil.which("go") is None:
        raise error("the Go toolchain is not on PATH; install Go 1.26 or newer")
    if progress:
        print(f"podnet: building {what}; a cold build takes {cold}", file=sys.stderr, flush=True)
    return time.monotonic()


def version_ldflags(version: str = KUBERNETES_VERSION) -> str:
    """Linker flags that stamp the real release into every binary (``kubectl version`` shows it)."""
    build_date = RELEASES[version].build_date
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate={build_date}",
        ]
    return " ".join(flags)


def gomod_dir(version: str = KUBERNETES_VERSION) -> Path:
    """The Go module that pins k8s.io/kubernetes at ``version`` (package data, so an installed
    plugin has it)."""
    return Path(str(resources.files("pytest_podnet.localcluster") / RELEASES[version].gomod))


def _inputs_digest(version: str) -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((gomod_dir(version) / name).read_bytes())
    digest.update(version_ldflags(version).encode())
    return digest.hexdigest()


def is_built(version: str = KUBERNETES_VERSION) -> bool:
    """True when every component of ``version`` is in the cache, built from the current module
    and flags."""
    stamp = paths.bin_dir(version) / STAMP
    if not stamp.exists():
        return False
    recorded = json.loads(stamp.read_text())
    return recorded.get("inputs") == _inputs_digest(version) and all(
        (paths.bin_dir(version) / name).exists() for name in COMPONENT_PACKAGES
    )


def go_command(version: str = KUBERNETES_VERSION) -> list[str]:
    """The ``go build`` invocation (kept stable: any change invalidates Go's build cache)."""
    return [
        "go",
        "build",
        "-trimpath",
        "-ldflags",
        version_ldflags(version),
        "-o",
        str(paths.bin_dir(version).with_name("bin.partial")) + "/",
        *COMPONENT_PACKAGES.values(),
    ]


def build(version: str = KUBERNETES_VERSION, *, force: bool = False, progress: bool = True) -> Path:
    """Build every component of Kubernetes ``version`` into the cache and return the bin
    directory.

    Static binaries (``CGO_ENABLED=0``): agnhost runs inside a minimal image and the node
    components need nothing from the host's C library.
    """
    if version not in RELEASES:
        raise BuildError(f"no pinned release {version}: use one of {', '.join(RELEASES)}")
    target = paths.bin_dir(version)
    if is_built(version) and not force:
        return target
    started = start_build(
        f"Kubernetes {version} ({', '.join(COMPONENT_PACKAGES)})",
        "~10 minutes on 2 cores",
        progress=progress,
    )
    partial = target.with_name("bin.partial")
    partial.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0"}
    command = go_command(version)
    output = run_with_heartbeat(command, env, progress=progress, cwd=gomod_dir(version))
    if output.returncode != 0:
        tail = "\n".join(output.stdout.splitlines()[-40:])
        raise BuildError(f"`{' '.join(command[:2])} ...` failed in {gomod_dir(version)}:\n{tail}")
    if target.exists():
        shutil.rmtree(target)
    partial.rename(target)
    (target / STAMP).write_text(
        json.dumps(
            {
                "version": version,
                "inputs": _inputs_digest(version),
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )
    if progress:
        print(
            f"podnet: built in {time.monotonic() - started:.0f}s into {target}",
            file=sys.stderr,
            flush=True,
        )
    return target


def coredns_gomod_dir() -> Path:
    """The Go module of the embedded cluster's CoreDNS: upstream's server and the plugins its
    Corefile names (package data, like ``gomod/``)."""
    return Path(str(resources.files("pytest_podnet.localcluster") / "gomod_coredns"))


def coredns_binary() -> Path:
    return paths.coredns_dir() / "coredns"


def _coredns_inputs_digest() -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((coredns_gomod_dir() / name).read_bytes())
    return digest.hexdigest()


def build_coredns(*, force: bool = False, progress: bool = True) -> Path:
    """Build CoreDNS (static) into its cache directory once; return the binary."""
    binary = coredns_binary()
    stamp = binary.with_name(STAMP)
    if (
        not force
        and binary.exists()
        and stamp.exists()
        and json.loads(stamp.read_text()).get("inputs") == _coredns_inputs_digest()
    ):
        return binary
    started = start_build(f"CoreDNS {COREDNS_VERSION}", "~1 minute", progress=progress)
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name("coredns.partial")
    command = ["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(partial), "."]
    env = {**os.environ, "CGO_ENABLED": "0"}
    output = run_with_heartbeat(command, env, progress=progress, cwd=coredns_gomod_dir())
    if output.returncode != 0:
        tail = "\n".join(output.stdout.splitlines()[-40:])
        raise BuildError(f"`go build` failed in {coredns_gomod_dir()}:\n{tail}")
    partial.rename(binary)
    stamp.write_text(
        json.dumps(
            {
                "version": COREDNS_VERSION,
                "inputs": _coredns_inputs_digest(),
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )
    return binary


def run_with_heartbeat(
    command: list[str], env: dict[str, str], *, progress: bool, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the build, printing a line a minute so a long cold build visibly makes progress."""
    process = subprocess.Popen(
        command,
        cwd=cwd or gomod_dir(),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = time.monotonic()
    while True:
        try:
            stdout, _ = process.communicate(timeout=60)
            break
        except subprocess.TimeoutExpired:
            if progress:
                print(
                    f"podnet: still building ({time.monotonic() - started:.0f}s)",
                    file=sys.stderr,
                    flush=True,
                )
    return subprocess.CompletedProcess(command, process.returncode, stdout, "")


#: The containerd 2.x programs a node of a ``containerd_2`` release runs.
CONTAINERD_COMMANDS = ("containerd", "containerd-shim-runc-v2")


def containerd_binary(name: str = "containerd") -> Path:
    return paths.containerd_dir() / "bin" / name


def containerd_is_built() -> bool:
    stamp = paths.containerd_dir() / STAMP
    return stamp.exists() and all(containerd_binary(c).exists() for c in CONTAINERD_COMMANDS)


def build_containerd(*, force: bool = False, progress: bool = True) -> Path:
    """containerd and its runc shim (static) at ``CONTAINERD_VERSION`` with ``go install``
    into their cache directory, once; return the bin directory. Its module has no replace
    lines, so ``go install module@version`` builds it as released."""
    target = paths.containerd_dir()
    if containerd_is_built() and not force:
        return target / "bin"
    started = start_build(f"containerd {CONTAINERD_VERSION}", "~3 minutes", progress=progress)
    partial = target / "bin.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    version = f"-s -w -X {CONTAINERD_MODULE}/version.Version={CONTAINERD_VERSION}"
    command = ["go", "install", "-trimpath", "-ldflags", version]
    command += [f"{CONTAINERD_MODULE}/cmd/{c}@{CONTAINERD_VERSION}" for c in CONTAINERD_COMMANDS]
    env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(partial)}
    output = run_with_heartbeat(command, env, progress=progress, cwd=target)
    if output.returncode != 0:
        tail = "\n".join(output.stdout.splitlines()[-40:])
        raise BuildError(f"`go install {CONTAINERD_MODULE}@{CONTAINERD_VERSION}` failed:\n{tail}")
    shutil.rmtree(target / "bin", ignore_errors=True)
    partial.rename(target / "bin")
    (target / STAMP).write_text(
        json.dumps({"version": CONTAINERD_VERSION, "seconds": round(time.monotonic() - started, 1)})
    )
    return target / "bin"
