"""The runner image: Python, the plugin, the suites and their dependencies, built without Docker.

It is assembled the way :mod:`images` assembles agnhost: one reproducible layer in an OCI image
layout tar, cached in :func:`paths.images_dir` by a digest of everything that goes into it.

- Debian's ``python3.11`` interpreter (``/usr/bin/python3.11``) with its shared libraries, and
  its standard library (``/usr/lib/python3.11``) without the test suite, IDLE, tkinter, lib2to3,
  ensurepip, the static ``config-*`` directory and ``__pycache__``; an extension module whose
  libraries this host lacks is left out (it could not be imported here either).
- ``/usr/local/lib/python3.11/dist-packages`` (on Debian's ``sys.path``): pytest-podnet with its
  packaged suites, and every distribution it requires, copied from the environment that runs
  this code, so the image holds exactly the versions that were installed and tested here. No
  index is asked and nothing is built. ``kubernetes/aio`` (the asyncio client, 40 MB, never
  imported by the synchronous client) and every ``__pycache__`` are left out.
- ``ENTRYPOINT ["/usr/bin/python3", "-m", "pytest_podnet.runner"]``: the runner starts
  ``pytest --podnet`` with the container's arguments, then prints the reports into its log
  (:mod:`pytest_podnet.runner`). ``USER 65532:65532`` (numeric, so ``runAsNonRoot`` can be
  verified), ``HOME`` and the working directory ``/tmp``, bytecode cached under ``/tmp``.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from packaging.requirements import Requirement

from pytest_podnet import __version__
from pytest_podnet.localcluster import images, paths

#: The image name: versioned like the package. ``localhost/`` keeps a node that lacks the image
#: from ever trying to pull it off this machine (a pull of ``localhost/...`` stays on loopback).
RUNNER_IMAGE: Final = f"localhost/pytest-podnet-runner:{__version__}"
#: The interpreter the image runs: Debian 12's, from the ``python3.11`` package.
PYTHON: Final = Path("/usr/bin/python3.11")
STDLIB: Final = Path("/usr/lib/python3.11")
SITE_PACKAGES: Final = "usr/local/lib/python3.11/dist-packages"
#: The distribution whose requirement closure goes into the image.
DISTRIBUTION: Final = "pytest-podnet"
#: Numeric, so the kubelet can check ``runAsNonRoot`` without reading /etc/passwd.
USER: Final = "65532:65532"

#: Standard-library entries a test run never imports (test suite, GUI, build-time files).
_STDLIB_LEFT_OUT: Final = frozenset(
    {
        "test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "lib2to3",
        "ensurepip",
        "venv",
        "config-3.11-x86_64-linux-gnu",
        "EXTERNALLY-MANAGED",
        "sitecustomize.py",
    }
)
#: Inside the copied distributions: the asyncio client nothing imports, and bytecode.
_SITE_LEFT_OUT: Final = ("kubernetes/aio/",)
_PASSWD: Final = (
    "root:x:0:0:root:/root:/bin/false\n"
    "runner:x:65532:65532:pytest-podnet runner:/tmp:/bin/false\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
_GROUP: Final = "root:x:0:\nrunner:x:65532:\nnobody:x:65534:\n"


def build_runner_image(force: bool = False, *, out_dir: Path | None = None) -> images.ImageArchive:
    """Build (or reuse) the runner archive ``runner.tar`` in ``out_dir`` (default the cache)."""
    if sys.version_info[:2] != (3, 11):
        raise images.ImageBuildError(
            f"the runner image holds Debian's Python 3.11 and copies pytest-podnet and its "
            f"dependencies from this environment, which runs Python "
            f"{sys.version_info.major}.{sys.version_info.minor}: run podnet from a Python 3.11 "
            "venv (python3.11 -m venv .venv && .venv/bin/pip install pytest-podnet)"
        )
    if not PYTHON.is_file() or not STDLIB.is_dir():
        raise images.ImageBuildError(
            f"{PYTHON} or {STDLIB} is missing: install Debian's interpreter "
            "(apt-get install -y python3.11)"
        )
    out = out_dir if out_dir is not None else paths.images_dir()
    out.mkdir(parents=True, exist_ok=True)
    with images._locked(out / ".lock"):
        reused = None if force else _unchanged(out)
        if reused is not None:
            return reused
        plan = _plan()
        archive = images._build_cached(_runner_recipe(plan), out, force)
        sources = sorted({str(e.source) for e in plan if e.source is not None})
        _write_json(out / _QUICK_STAMP, {"sources": sources, **_quick_record(out, sources)})
        return archive


#: Next to the content stamp: the size and mtime of every file the last plan read. The plan
#: runs ldd on ~100 extension modules and the content stamp hashes ~120 MB (seconds); when no
#: input file (nor the loader cache that ldd resolves with) changed since, neither is needed.
_QUICK_STAMP: Final = "runner.quick.json"
_LOADER_CACHE: Final = Path("/etc/ld.so.cache")


def _unchanged(out: Path) -> images.ImageArchive | None:
    """The cached archive, if no file the last build read changed and no file was added."""
    quick = images._read_stamp(out / _QUICK_STAMP)
    stamp = images._read_stamp(out / "runner.stamp.json")
    archive = out / "runner.tar"
    sources = quick.get("sources")
    if not isinstance(sources, list) or not stamp or not archive.is_file():
        return None
    if archive.stat().st_size != stamp.get("size") or stamp.get("name") != RUNNER_IMAGE:
        return None
    if _quick_record(out, sources) != {k: v for k, v in quick.items() if k != "sources"}:
        return None
    return images.ImageArchive(RUNNER_IMAGE, archive, str(stamp["digest"]))


def _quick_record(out: Path, sources: list[str]) -> dict[str, str]:
    """A digest of (path, size, mtime) of ``sources``, of the candidate files and of the code."""
    candidates = [str(source) for source, _ in (*_stdlib_files(), *_site_files())]
    files = sorted({*sources, *candidates, str(_LOADER_CACHE), __file__, images.__file__})
    stats = []
    for name in files:
        try:
            info = os.stat(name)
        except OSError:
            stats.append([name, "missing"])
            continue
        stats.append([name, str(info.st_size), str(info.st_mtime_ns)])
    return {"files": images._json_digest(stats), "image": RUNNER_IMAGE}


def _write_json(path: Path, value: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _runner_recipe(plan: list[images._Entry]) -> images._Recipe:
    config = images._config(
        entrypoint=["/usr/bin/python3", "-m", "pytest_podnet.runner"], cmd=None, user=USER
    )
    env = config["config"]["Env"]
    env += ["HOME=/tmp", "PYTHONPYCACHEPREFIX=/tmp/pycache", "PYTHONUNBUFFERED=1"]
    config["config"]["WorkingDir"] = "/tmp"
    inputs = {
        "recipe": images._sha256_file(Path(__file__)),
        "config": images._json_digest(config),
        "layer": images._json_digest([images._describe(e) for e in sorted(plan, key=_path)]),
    }
    return images._Recipe("runner", RUNNER_IMAGE, inputs, config, lambda _scratch: plan)


def _path(entry: images._Entry) -> str:
    return entry.path


def _plan() -> list[images._Entry]:
    """Every entry of the layer, sources resolved on the host (nothing copied yet)."""
    entries: dict[str, images._Entry] = {}

    def add(entry: images._Entry) -> None:
        entries.setdefault(entry.path, entry)

    def add_binary(dest: str, source: Path) -> None:
        add(images._Entry(dest, "file", 0o755, source=source))
        for lib in images._shared_libraries(source):
            add(images._Entry(lib.as_posix().lstrip("/"), "file", 0o755, source=lib.resolve()))

    add_binary("usr/bin/python3.11", PYTHON.resolve())
    add(images._Entry("usr/bin/python3", "symlink", 0o777, target="python3.11"))
    for source, dest in _stdlib_files():
        if source.suffix == ".so":
            if _loadable(source):
                add_binary(dest, source)
        else:
            add(images._Entry(dest, "file", 0o644, source=source))
    for source, dest in _site_files():
        if source.suffix == ".so":
            add_binary(dest, source)
        else:
            add(images._Entry(dest, "file", 0o644, source=source))

    add(images._Entry("etc/passwd", "file", 0o644, data=_PASSWD.encode()))
    add(images._Entry("etc/group", "file", 0o644, data=_GROUP.encode()))
    for directory in ("dev", "proc", "sys", "run", "etc", "var"):
        add(images._Entry(directory, "dir", 0o755))
    add(images._Entry("root", "dir", 0o700))
    add(images._Entry("tmp", "dir", 0o1777))
    return list(entries.values())


def _loadable(extension: Path) -> bool:
    """Whether every library ``extension`` needs is on this host (ldd finds it)."""
    try:
        images._shared_libraries(extension)
    except images.ImageBuildError:
        return False
    return True


def _stdlib_files() -> Iterator[tuple[Path, str]]:
    """(host file, path in the layer) of the standard library, symlinks resolved."""
    for item in sorted(STDLIB.rglob("*")):
        relative = item.relative_to(STDLIB)
        if relative.parts[0] in _STDLIB_LEFT_OUT or "__pycache__" in relative.parts:
            continue
        if item.is_file():
            yield item.resolve(), f"usr/lib/python3.11/{relative.as_posix()}"


def _site_files() -> Iterator[tuple[Path, str]]:
    """(host file, path in the layer) of pytest-podnet and its requirement closure."""
    seen: set[str] = set()
    for dist in _closure(DISTRIBUTION):
        root = Path(str(dist.locate_file("")))
        if _canonical(dist.metadata["Name"]) == _canonical(DISTRIBUTION):
            yield from _own_files(dist, root, seen)
            continue
        for file in dist.files or []:
            relative = file.as_posix()
            if _left_out(relative):
                continue
            source = root / relative
            if source.is_file() and relative not in seen:
                seen.add(relative)
                yield source.resolve(), f"{SITE_PACKAGES}/{relative}"


def _own_files(
    dist: metadata.Distribution, root: Path, seen: set[str]
) -> Iterator[tuple[Path, str]]:
    """pytest-podnet itself: its dist-info (entry points) and the package directory as
    imported, which also covers an editable install and follows the suites symlink."""
    import pytest_podnet

    for file in dist.files or []:
        relative = file.as_posix()
        if ".dist-info/" in relative and not relative.endswith(("RECORD", "direct_url.json")):
            seen.add(relative)
            yield (root / relative).resolve(), f"{SITE_PACKAGES}/{relative}"
    package = Path(pytest_podnet.__file__).parent
    # os.walk, not rglob: the suites are a symlinked directory in a checkout.
    for top, dirs, names in os.walk(package, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            item = Path(top) / name
            if item.suffix != ".pyc" and item.is_file():
                relative = item.relative_to(package).as_posix()
                yield item.resolve(), f"{SITE_PACKAGES}/pytest_podnet/{relative}"


def _left_out(relative: str) -> bool:
    return (
        relative.startswith("..")
        or "__pycache__/" in relative
        or relative.endswith((".pyc", ".pth"))
        or relative.startswith(_SITE_LEFT_OUT)
    )


def _closure(name: str) -> list[metadata.Distribution]:
    """``name`` and every distribution it requires, transitively, as installed here (no extras)."""
    found: dict[str, metadata.Distribution] = {}
    pending = [name]
    while pending:
        wanted = _canonical(pending.pop())
        if wanted in found:
            continue
        try:
            dist = metadata.distribution(wanted)
        except metadata.PackageNotFoundError as exc:
            raise images.ImageBuildError(
                f"{wanted}, required by {DISTRIBUTION}, is not installed in this environment "
                f"({sys.prefix}): reinstall pytest-podnet there (pip install pytest-podnet)"
            ) from exc
        found[wanted] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return [found[key] for key in sorted(found)]


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def import_if_missing(containerd_socket: Path | str, archive: images.ImageArchive) -> bool:
    """Import ``archive`` into a node's containerd unless it holds that digest, unpacked already;
    True if it imported (a ~120 MB import takes seconds, a check milliseconds)."""
    check = [
        "ctr",
        "--address",
        str(containerd_socket),
        "--connect-timeout",
        images.CTR_CONNECT_TIMEOUT,
        "--namespace",
        images.CRI_NAMESPACE,
        "images",
        "check",
        "--snapshotter",
        images.DEFAULT_SNAPSHOTTER,
    ]
    listed = images._parse_images_check(images._run(check, what="checking imported images"))
    if listed.get(archive.name) == (archive.digest, True, True):
        return False
    images.import_images(containerd_socket, [archive])
    return True
