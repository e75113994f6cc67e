"""The pause and agnhost images of the embedded cluster, assembled without Docker or a registry.

Each image is one uncompressed, reproducible layer written as an OCI image layout tar and
imported into a node's containerd under the exact upstream name, so Pods that name
``registry.k8s.io/pause:<tag>`` or ``registry.k8s.io/e2e-test-images/agnhost:<tag>`` run
unchanged here and on real clusters.

- pause: upstream ``build/pause/linux/pause.c`` from the Go module cache, compiled static with
  gcc exactly like upstream's Makefile; ``ENTRYPOINT ["/pause"]``, ``USER 65535:65535``.
- agnhost: the static ``agnhost`` binary from the component build plus what the suites run
  inside the container (bash also as ``/bin/sh``, OpenBSD ``nc``, ``curl``, iproute2 ``ip``,
  busybox applets for the basic utilities), copied from the host with their shared libraries.
  Like upstream it sets no ``USER``: a Pod under the ``restricted`` profile names its own
  non-root ``runAsUser``, which must work on real clusters too.

Archives are cached in :func:`paths.images_dir` next to a stamp of their input digests and are
rebuilt only when an input (a host binary, a library, pause.c, this recipe) changes.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import shlex
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pytest_podnet.localcluster import paths
from pytest_podnet.localcluster.versions import (
    AGNHOST_IMAGE,
    COREDNS_IMAGE,
    KUBERNETES_BUILD_DATE,
    KUBERNETES_VERSION,
    PAUSE_IMAGE,
)

#: Debian packages the agnhost image copies its tools from; the set-up step installs them.
HOST_PACKAGES = ("bash", "busybox-static", "ca-certificates", "curl", "iproute2", "netcat-openbsd")

#: containerd namespace the CRI plugin (and so the kubelet) reads images from.
CRI_NAMESPACE = "k8s.io"
#: Snapshotter the CRI plugin of containerd 1.6 unpacks into by default.
DEFAULT_SNAPSHOTTER = "overlayfs"

#: Bounds one local build step (go env, gcc on a 60-line file, ldd): seconds even on a busy VM.
BUILD_COMMAND_TIMEOUT = 120
#: Bounds one ``ctr images import`` of a ~100 MB archive: writes content, then unpacks it.
IMPORT_TIMEOUT = 300
#: How long ctr waits for the containerd socket before it gives up.
CTR_CONNECT_TIMEOUT = "10s"

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Every file gets this mtime (the release's commit date), so equal inputs give equal bytes.
_EPOCH = int(dt.datetime.fromisoformat(KUBERNETES_BUILD_DATE).timestamp())
_CREATED = KUBERNETES_BUILD_DATE

_MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
_MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
_MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
_ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
_ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"

#: Tools the agnhost image provides itself, so busybox must not shadow them.
_REAL_TOOLS = {"bash", "sh", "nc", "curl", "ip"}
#: Busybox applets outside these directories (``/linuxrc``) have no place in a container.
_APPLET_DIRS = {"bin", "sbin", "usr/bin", "usr/sbin"}

_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "podnet:x:1000:1000:podnet:/tmp:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
_GROUP = "root:x:0:\npodnet:x:1000:\nnobody:x:65534:\n"
_NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"


class ImageBuildError(RuntimeError):
    """An image could not be built or imported; the message names the failing command."""

    def __init__(
        self,
        message: str,
        command: Sequence[str] | None = None,
        stderr: str = "",
        returncode: int | None = None,
    ) -> None:
        self.command = list(command) if command else None
        self.stderr = stderr
        self.returncode = returncode
        text = message
        if self.command:
            text += f"\n  command: {shlex.join(self.command)}"
        if returncode is not None:
            text += f"\n  exit status: {returncode}"
        if stderr.strip():
            text += f"\n  stderr: {stderr.strip()}"
        super().__init__(text)


@dataclass(frozen=True)
class ImageArchive:
    """An image archive on disk; ``digest`` is the manifest digest containerd reports."""

    name: str
    path: Path
    digest: str


@dataclass(frozen=True)
class _Entry:
    """One member of a layer: a directory, a file (from the host or inline) or a symlink."""

    path: str
    kind: Literal["dir", "file", "symlink"]
    mode: int = 0o755
    source: Path | None = None
    data: bytes | None = None
    target: str = ""


@dataclass(frozen=True)
class _Recipe:
    key: str
    name: str
    inputs: dict[str, str]
    config: dict[str, Any]
    #: Produces the layer entries; may compile into the given scratch directory.
    entries: Callable[[Path], list[_Entry]]


def build_images(
    force: bool = False,
    *,
    out_dir: Path | None = None,
    agnhost_binary: Path | None = None,
) -> list[ImageArchive]:
    """Build (or reuse) the pause and agnhost archives, in that order.

    ``out_dir`` defaults to :func:`paths.images_dir`, ``agnhost_binary`` to the component build's
    ``bin/agnhost``. Concurrent callers serialise on a lock file in ``out_dir``.
    """
    out = out_dir if out_dir is not None else paths.images_dir()
    out.mkdir(parents=True, exist_ok=True)
    agnhost = agnhost_binary if agnhost_binary is not None else paths.bin_dir() / "agnhost"
    with _locked(out / ".lock"):
        return [
            _build_cached(recipe, out, force)
            for recipe in (_pause_recipe(), _agnhost_recipe(agnhost))
        ]


def build_coredns_image(coredns_binary: Path, force: bool = False) -> ImageArchive:
    """Build (or reuse) the CoreDNS archive next to its binary (``paths.coredns_dir``)."""
    out = coredns_binary.parent
    with _locked(out / ".lock"):
        return _build_cached(_coredns_recipe(coredns_binary), out, force)


def import_images(
    containerd_socket: Path | str,
    archives: Iterable[ImageArchive],
    *,
    namespace: str = CRI_NAMESPACE,
    snapshotter: str = DEFAULT_SNAPSHOTTER,
) -> None:
    """Import archives into the containerd at ``containerd_socket`` and unpack them.

    Afterwards every image must be listed under its exact name and manifest digest, complete
    and unpacked for ``snapshotter`` (the CRI plugin creates containers only from unpacked
    images); anything else raises :class:`ImageBuildError`.
    """
    ctr = [
        "ctr",
        "--address",
        str(containerd_socket),
        "--connect-timeout",
        CTR_CONNECT_TIMEOUT,
        "--namespace",
        namespace,
    ]
    wanted = list(archives)
    for archive in wanted:
        _run(
            [*ctr, "images", "import", "--snapshotter", snapshotter, str(archive.path)],
            what=f"importing {archive.name} from {archive.path}",
            timeout=IMPORT_TIMEOUT,
        )
    check_cmd = [*ctr, "images", "check", "--snapshotter", snapshotter]
    listed = _parse_images_check(_run(check_cmd, what="checking imported images"))
    for archive in wanted:
        seen = listed.get(archive.name)
        if seen is None:
            raise ImageBuildError(
                f"{archive.name} is missing from containerd after import; "
                f"images present: {sorted(listed)}",
                check_cmd,
            )
        digest, complete, unpacked = seen
        if digest != archive.digest or not complete or not unpacked:
            raise ImageBuildError(
                f"{archive.name} imported as digest={digest} complete={complete} "
                f"unpacked={unpacked}, expected digest={archive.digest}, complete and "
                f"unpacked for snapshotter {snapshotter}",
                check_cmd,
            )


def _parse_images_check(output: str) -> dict[str, tuple[str, bool, bool]]:
    """``ctr images check`` rows as ``{ref: (digest, complete, unpacked)}``."""
    rows: dict[str, tuple[str, bool, bool]] = {}
    for line in output.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 4:
            rows[cols[0]] = (cols[2], "complete" in line, cols[-1] == "true")
    return rows


# --- recipes -----------------------------------------------------------------------------------


def _pause_recipe() -> _Recipe:
    source = _pause_source()
    gcc_version = _run(["gcc", "--version"], what="asking gcc for its version").splitlines()[0]
    libc_a = Path(_run(["gcc", "-print-file-name=libc.a"], what="locating the static libc").strip())
    version = "v" + PAUSE_IMAGE.rpartition(":")[2]

    def entries(scratch: Path) -> list[_Entry]:
        binary = scratch / "pause"
        # Upstream's build/pause/Makefile: -Os -Wall -Werror -static, then strip.
        flags = ["-Os", "-Wall", "-Werror", "-static", "-s", f"-DVERSION={version}"]
        _run(["gcc", *flags, "-o", str(binary), str(source)], what="compiling pause.c")
        return [_Entry("pause", "file", 0o755, source=binary)]

    config = _config(entrypoint=["/pause"], cmd=None, user="65535:65535")
    inputs = {
        "recipe": _recipe_digest(),
        "pause.c": _sha256_file(source),
        "libc.a": _sha256_file(libc_a) if libc_a.is_file() else "absent",
        "gcc": gcc_version,
        "config": _json_digest(config),
    }
    return _Recipe("pause", PAUSE_IMAGE, inputs, config, entries)


def _pause_source() -> Path:
    modcache = _run(["go", "env", "GOMODCACHE"], what="locating the Go module cache").strip()
    source = (
        Path(modcache)
        / f"k8s.io/kubernetes@{KUBERNETES_VERSION}"
        / "build"
        / "pause"
        / "linux"
        / "pause.c"
    )
    if not source.is_file():
        raise ImageBuildError(
            f"pause.c not found at {source}: the k8s.io/kubernetes {KUBERNETES_VERSION} module "
            "is not in the Go module cache yet; run the component build (localcluster.build) first"
        )
    return source


def _agnhost_recipe(agnhost: Path) -> _Recipe:
    if not agnhost.is_file():
        raise ImageBuildError(
            f"agnhost binary not found at {agnhost}: run the component build "
            "(localcluster.build) first"
        )
    plan = _agnhost_plan(agnhost)
    config = _config(entrypoint=["/agnhost"], cmd=["pause"], user=None)
    inputs = {
        "recipe": _recipe_digest(),
        "config": _json_digest(config),
        "layer": _json_digest([_describe(e) for e in sorted(plan, key=lambda e: e.path)]),
    }
    return _Recipe("agnhost", AGNHOST_IMAGE, inputs, config, lambda _scratch: plan)


def _coredns_recipe(coredns: Path) -> _Recipe:
    """Upstream's image is the static ``/coredns`` on distroless, run as nonroot (65532); so is
    this one, without the distroless files the server never reads."""
    if not coredns.is_file():
        raise ImageBuildError(
            f"coredns binary not found at {coredns}: run the CoreDNS build "
            "(localcluster.build.build_coredns) first"
        )
    plan = [_Entry("coredns", "file", 0o755, source=coredns)]
    config = _config(entrypoint=["/coredns"], cmd=None, user="65532:65532")
    inputs = {
        "recipe": _recipe_digest(),
        "config": _json_digest(config),
        "layer": _json_digest([_describe(e) for e in plan]),
    }
    return _Recipe("coredns", COREDNS_IMAGE, inputs, config, lambda _scratch: plan)


def _agnhost_plan(agnhost: Path) -> list[_Entry]:
    """Everything in the agnhost layer, with host sources resolved (no copying yet)."""
    tools = {
        "agnhost": agnhost,
        "bin/bash": _host_file("bash", ["/usr/bin/bash", "/bin/bash"]),
        "usr/bin/nc": _host_file("netcat-openbsd", ["/usr/bin/nc.openbsd", "/bin/nc.openbsd"]),
        "usr/bin/curl": _host_file("curl", ["/usr/bin/curl"]),
        "sbin/ip": _host_file("iproute2", ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"]),
        "bin/busybox": _host_file("busybox-static", ["/usr/bin/busybox", "/bin/busybox"]),
    }
    entries: dict[str, _Entry] = {}

    def add(entry: _Entry) -> None:
        entries.setdefault(entry.path, entry)

    for dest, source in tools.items():
        add(_Entry(dest, "file", 0o755, source=source))
        for lib in _shared_libraries(source):
            add(_Entry(lib.as_posix().lstrip("/"), "file", 0o755, source=lib.resolve()))
    add(_Entry("bin/sh", "symlink", 0o777, target="bash"))
    for applet in _busybox_applets(tools["bin/busybox"]):
        where = Path(applet)
        if where.parent.as_posix() in _APPLET_DIRS and where.name not in _REAL_TOOLS:
            add(_Entry(applet, "symlink", 0o777, target="/bin/busybox"))

    add(_Entry("etc/passwd", "file", 0o644, data=_PASSWD.encode()))
    add(_Entry("etc/group", "file", 0o644, data=_GROUP.encode()))
    add(_Entry("etc/nsswitch.conf", "file", 0o644, data=_NSSWITCH.encode()))
    # iproute2's name tables (rt_tables, rt_protos, ...) so `ip route` prints names, not numbers.
    iproute2_tables = Path("/etc/iproute2")
    for item in sorted(iproute2_tables.rglob("*")) if iproute2_tables.is_dir() else []:
        if item.is_file():
            add(_Entry(item.as_posix().lstrip("/"), "file", 0o644, source=item.resolve()))
    ca_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if ca_bundle.is_file():
        add(_Entry("etc/ssl/certs/ca-certificates.crt", "file", 0o644, source=ca_bundle))

    for directory in ("dev", "proc", "sys", "run", "var", "etc", "home"):
        add(_Entry(directory, "dir", 0o755))
    add(_Entry("root", "dir", 0o700))
    add(_Entry("tmp", "dir", 0o1777))
    add(_Entry("var/tmp", "dir", 0o1777))
    return list(entries.values())


def _host_file(package: str, candidates: list[str]) -> Path:
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file():
            return path.resolve()
    raise ImageBuildError(
        f"none of {candidates} exists on this host; install the Debian package: "
        f"apt-get install -y {package}"
    )


def _shared_libraries(binary: Path) -> list[Path]:
    """Libraries ``binary`` loads, as the paths the loader finds them at, interpreter included."""
    cmd = ["ldd", str(binary)]
    proc = _completed(cmd, what=f"listing shared libraries of {binary}")
    if proc.returncode != 0:
        if "not a dynamic executable" in proc.stdout + proc.stderr:
            return []
        raise ImageBuildError(
            f"listing shared libraries of {binary}", cmd, proc.stderr, proc.returncode
        )
    libs: list[Path] = []
    for raw in proc.stdout.splitlines():
        line = raw.strip()
        if "=>" in line:
            name, _, rest = line.partition("=>")
            target = rest.split(" (", 1)[0].strip()
            if not target.startswith("/"):
                raise ImageBuildError(f"{binary} needs {name.strip()}, which ldd cannot find", cmd)
            libs.append(Path(target))
        elif line.startswith("/"):
            libs.append(Path(line.split(" (", 1)[0]))
    return libs


def _busybox_applets(busybox: Path) -> list[str]:
    out = _run([str(busybox), "--list-full"], what="listing busybox applets")
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def _config(entrypoint: list[str], cmd: list[str] | None, user: str | None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "Entrypoint": entrypoint,
        "Env": [f"PATH={_PATH}"],
        "WorkingDir": "/",
        "Labels": {"podnet.io/built-by": "pytest-podnet"},
    }
    if cmd is not None:
        container["Cmd"] = cmd
    if user is not None:
        container["User"] = user
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": _CREATED,
        "config": container,
    }


def _describe(entry: _Entry) -> list[str]:
    """What makes an entry distinct, for the input digest."""
    if entry.source is not None:
        content = _sha256_file(entry.source)
    elif entry.data is not None:
        content = hashlib.sha256(entry.data).hexdigest()
    else:
        content = entry.target
    return [entry.path, entry.kind, oct(entry.mode), content]


# --- building ----------------------------------------------------------------------------------


def _build_cached(recipe: _Recipe, out: Path, force: bool) -> ImageArchive:
    archive = out / f"{recipe.key}.tar"
    stamp = out / f"{recipe.key}.stamp.json"
    inputs = _json_digest(recipe.inputs)
    if not force:
        cached = _read_stamp(stamp)
        if (
            cached.get("inputs") == inputs
            and archive.is_file()
            and archive.stat().st_size == cached.get("size")
        ):
            return ImageArchive(recipe.name, archive, str(cached["digest"]))

    with tempfile.TemporaryDirectory(dir=out, prefix=f".{recipe.key}-") as scratch_name:
        scratch = Path(scratch_name)
        entries = recipe.entries(scratch)
        digest = _write_archive(recipe, entries, scratch, scratch / "image.tar")
        os.replace(scratch / "image.tar", archive)
    record = {
        "name": recipe.name,
        "digest": digest,
        "size": archive.stat().st_size,
        "inputs": inputs,
        "input_digests": recipe.inputs,
    }
    tmp_stamp = stamp.with_suffix(".tmp")
    tmp_stamp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp_stamp, stamp)
    return ImageArchive(recipe.name, archive, digest)


def _read_stamp(stamp: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _write_archive(recipe: _Recipe, entries: list[_Entry], scratch: Path, dest: Path) -> str:
    """Write the OCI layout tar to ``dest``; returns the manifest digest."""
    layer_path = scratch / "layer.tar"
    with layer_path.open("wb") as layer_file:
        _write_layer(entries, layer_file)
    layer_digest = "sha256:" + _sha256_file(layer_path)
    layer_size = layer_path.stat().st_size

    config = dict(recipe.config)
    config["rootfs"] = {"type": "layers", "diff_ids": [layer_digest]}
    config["history"] = [{"created": _CREATED, "created_by": "pytest-podnet localcluster.images"}]
    config_blob = _canonical_json(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": _MEDIA_MANIFEST,
        "config": _descriptor(_MEDIA_CONFIG, config_blob),
        "layers": [{"mediaType": _MEDIA_LAYER, "digest": layer_digest, "size": layer_size}],
    }
    manifest_blob = _canonical_json(manifest)
    manifest_desc = _descriptor(_MEDIA_MANIFEST, manifest_blob)
    manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
    manifest_desc["annotations"] = {
        _ANNOTATION_CONTAINERD_NAME: recipe.name,
        _ANNOTATION_REF_NAME: recipe.name.rpartition(":")[2],
    }
    index = {"schemaVersion": 2, "mediaType": _MEDIA_INDEX, "manifests": [manifest_desc]}

    members: list[tuple[str, bytes | Path]] = [
        (_blob_path(config_blob), config_blob),
        ("blobs/sha256/" + layer_digest.removeprefix("sha256:"), layer_path),
        (_blob_path(manifest_blob), manifest_blob),
        ("index.json", _canonical_json(index)),
        ("oci-layout", _canonical_json({"imageLayoutVersion": "1.0.0"})),
    ]
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("blobs", "blobs/sha256"):
            tar.addfile(_tarinfo(directory, tarfile.DIRTYPE, 0o755))
        for name, content in sorted(members):
            if isinstance(content, Path):
                info = _tarinfo(name, tarfile.REGTYPE, 0o644, content.stat().st_size)
                with content.open("rb") as stream:
                    tar.addfile(info, stream)
            else:
                info = _tarinfo(name, tarfile.REGTYPE, 0o644, len(content))
                tar.addfile(info, io.BytesIO(content))
    return str(manifest_desc["digest"])


def _write_layer(entries: list[_Entry], stream: Any) -> None:
    """A layer tar: parents before children, sorted, root-owned, one fixed mtime."""
    by_path = {e.path: e for e in entries}
    for entry in entries:
        parent = Path(entry.path).parent
        while parent != Path("."):
            by_path.setdefault(parent.as_posix(), _Entry(parent.as_posix(), "dir", 0o755))
            parent = parent.parent
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(by_path):
            entry = by_path[path]
            if entry.kind == "dir":
                tar.addfile(_tarinfo(path, tarfile.DIRTYPE, entry.mode))
            elif entry.kind == "symlink":
                info = _tarinfo(path, tarfile.SYMTYPE, 0o777)
                info.linkname = entry.target
                tar.addfile(info)
            elif entry.data is not None:
                tar.addfile(
                    _tarinfo(path, tarfile.REGTYPE, entry.mode, len(entry.data)),
                    io.BytesIO(entry.data),
                )
            elif entry.source is not None:
                with entry.source.open("rb") as source:
                    size = os.fstat(source.fileno()).st_size
                    tar.addfile(_tarinfo(path, tarfile.REGTYPE, entry.mode, size), source)


def _tarinfo(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = _EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _descriptor(media_type: str, blob: bytes) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
        "size": len(blob),
    }


def _blob_path(blob: bytes) -> str:
    return "blobs/sha256/" + hashlib.sha256(blob).hexdigest()


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _json_digest(value: Any) -> str:
    return hashlib.sha256(_canonical_json(value)).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _recipe_digest() -> str:
    """Changes whenever this module does, so a changed recipe rebuilds the cache."""
    return _sha256_file(Path(__file__))


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- subprocesses ------------------------------------------------------------------------------


def _completed(
    cmd: Sequence[str], *, what: str, timeout: float = BUILD_COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise ImageBuildError(f"{what}: {cmd[0]} is not installed", cmd) from exc
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        raise ImageBuildError(f"{what}: timed out after {timeout}s", cmd, stderr) from exc


def _run(cmd: Sequence[str], *, what: str, timeout: float = BUILD_COMMAND_TIMEOUT) -> str:
    proc = _completed(cmd, what=what, timeout=timeout)
    if proc.returncode != 0:
        raise ImageBuildError(what, cmd, proc.stderr or proc.stdout, proc.returncode)
    return proc.stdout
