"""The pause and agnhost archives: reproducible, named like upstream, runnable as non-root.

The build checks need gcc, the Go module cache and the agnhost binary of the component build.
The runtime checks import both archives into a throwaway containerd of their own (own root,
state and sockets under a tmp dir, CRI plugin disabled), never the cluster's, and run the
images with runc; they need root.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from pytest_podnet.localcluster import images, paths
from pytest_podnet.localcluster.versions import AGNHOST_IMAGE, PAUSE_IMAGE

#: How long ctr waits for the throwaway containerd's socket to answer after start.
CONTAINERD_STARTUP = "30s"
#: Bounds containerd's exit after SIGTERM before it is killed.
CONTAINERD_SHUTDOWN = 30
#: Bounds one short-lived container: create, start, run a command, delete.
CONTAINER_RUN = 60

AGNHOST_BINARY = paths.bin_dir() / "agnhost"
NON_ROOT_USER = "podnet"


@dataclass(frozen=True)
class ImageContents:
    """What an archive says about its image, read straight from the OCI layout."""

    annotations: dict[str, str]
    config: dict[str, Any]
    layer: dict[str, tarfile.TarInfo]
    files: dict[str, bytes]


def read_archive(archive: images.ImageArchive) -> ImageContents:
    with tarfile.open(archive.path) as outer:

        def blob(digest: str) -> bytes:
            member = outer.extractfile("blobs/sha256/" + digest.removeprefix("sha256:"))
            assert member is not None, f"{archive.path} lacks blob {digest}"
            return member.read()

        index = json.loads(blob_by_name(outer, "index.json"))
        (manifest_desc,) = index["manifests"]
        assert manifest_desc["digest"] == archive.digest
        manifest = json.loads(blob(manifest_desc["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        (layer_desc,) = manifest["layers"]
        layer_bytes = blob(layer_desc["digest"])
    assert "sha256:" + hashlib.sha256(layer_bytes).hexdigest() == config["rootfs"]["diff_ids"][0]
    layer: dict[str, tarfile.TarInfo] = {}
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(layer_bytes)) as inner:
        for info in inner.getmembers():
            layer[info.name] = info
            if info.isfile() and info.size < 1 << 20:
                extracted = inner.extractfile(info)
                assert extracted is not None
                files[info.name] = extracted.read()
    return ImageContents(manifest_desc["annotations"], config, layer, files)


def blob_by_name(outer: tarfile.TarFile, name: str) -> bytes:
    member = outer.extractfile(name)
    assert member is not None, f"archive lacks {name}"
    return member.read()


def elf_interpreter(binary: bytes) -> bool:
    """Whether a 64-bit little-endian ELF asks for a dynamic loader (has a PT_INTERP header)."""
    phoff = int.from_bytes(binary[32:40], "little")
    phentsize = int.from_bytes(binary[54:56], "little")
    phnum = int.from_bytes(binary[56:58], "little")
    pt_interp = 3
    return any(
        int.from_bytes(binary[phoff + i * phentsize : phoff + i * phentsize + 4], "little")
        == pt_interp
        for i in range(phnum)
    )


def resolve_in_layer(layer: dict[str, tarfile.TarInfo], path: str) -> str:
    """Follow symlinks inside the layer the way the container's kernel would."""
    current = PurePosixPath(path)
    for _ in range(40):
        info = layer.get(current.as_posix())
        if info is None or not info.issym():
            return current.as_posix()
        target = PurePosixPath(info.linkname)
        current = PurePosixPath(
            target.as_posix().lstrip("/") if target.is_absolute() else current.parent / target
        )
    raise AssertionError(f"symlink loop at {path}")


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, images.ImageArchive]:
    """Both archives, built into a private directory (not the shared cache)."""
    if not AGNHOST_BINARY.is_file():
        pytest.skip(f"agnhost is not built yet ({AGNHOST_BINARY} missing)")
    out = tmp_path_factory.mktemp("images")
    return {a.name: a for a in images.build_images(out_dir=out, agnhost_binary=AGNHOST_BINARY)}


@pytest.fixture(scope="module")
def pause(archives: dict[str, images.ImageArchive]) -> ImageContents:
    return read_archive(archives[PAUSE_IMAGE])


@pytest.fixture(scope="module")
def agnhost(archives: dict[str, images.ImageArchive]) -> ImageContents:
    return read_archive(archives[AGNHOST_IMAGE])


def test_build_images_names_archives_after_upstream_images(
    archives: dict[str, images.ImageArchive],
) -> None:
    assert list(archives) == [PAUSE_IMAGE, AGNHOST_IMAGE]
    for name, archive in archives.items():
        contents = read_archive(archive)
        assert contents.annotations["io.containerd.image.name"] == name
        assert contents.annotations["org.opencontainers.image.ref.name"] == name.split(":")[-1]
        assert (contents.config["os"], contents.config["architecture"]) == ("linux", "amd64")


def test_pause_image_runs_static_pause_as_65535(pause: ImageContents) -> None:
    config = pause.config["config"]
    assert config["Entrypoint"] == ["/pause"]
    assert config["User"] == "65535:65535"
    assert [n for n, i in pause.layer.items() if not i.isdir()] == ["pause"]
    binary = pause.files["pause"]
    assert binary.startswith(b"\x7fELF")
    assert not elf_interpreter(binary), "pause must be linked statically"


def test_agnhost_image_has_upstream_entrypoint_and_no_user(agnhost: ImageContents) -> None:
    config = agnhost.config["config"]
    assert config["Entrypoint"] == ["/agnhost"]
    assert config["Cmd"] == ["pause"]
    assert config["WorkingDir"] == "/"
    assert "User" not in config, "upstream agnhost runs as root unless the Pod says otherwise"
    assert any(env.startswith("PATH=") and "/usr/bin" in env for env in config["Env"])


def test_agnhost_layer_holds_the_tools_the_suites_run(agnhost: ImageContents) -> None:
    layer = agnhost.layer
    for tool in ("agnhost", "bin/bash", "bin/sh", "usr/bin/nc", "usr/bin/curl", "sbin/ip"):
        assert layer[resolve_in_layer(layer, tool)].isfile(), f"/{tool} missing"
    assert resolve_in_layer(layer, "bin/sh") == "bin/bash"
    for utility in ("cat", "ls", "sleep", "test", "rm", "touch", "mkdir", "hostname", "env"):
        found = [d for d in ("bin", "usr/bin", "sbin", "usr/sbin") if f"{d}/{utility}" in layer]
        assert found, f"{utility} missing from the image"
    assert layer[resolve_in_layer(layer, "lib64/ld-linux-x86-64.so.2")].isfile()
    dangling = [
        name
        for name, info in layer.items()
        if info.issym() and resolve_in_layer(layer, name) not in layer
    ]
    assert not dangling, f"symlinks pointing nowhere: {dangling}"


def test_agnhost_layer_is_usable_by_non_root_users(agnhost: ImageContents) -> None:
    layer = agnhost.layer
    assert all(i.uid == 0 and i.gid == 0 for i in layer.values())
    unreadable = [n for n, i in layer.items() if i.isfile() and not i.mode & 0o004]
    assert not unreadable, f"files other users cannot read: {unreadable}"
    closed = [n for n, i in layer.items() if i.isdir() and n != "root" and i.mode & 0o005 != 0o005]
    assert not closed, f"directories other users cannot enter: {closed}"
    tools = ("agnhost", "bin/bash", "usr/bin/nc", "usr/bin/curl", "sbin/ip", "bin/busybox")
    assert all(layer[t].mode & 0o001 for t in tools)
    assert layer["tmp"].mode == 0o1777
    passwd = agnhost.files["etc/passwd"].decode()
    uids = {line.split(":")[2] for line in passwd.splitlines()}
    assert {"0", "1000", "65534"} <= uids
    group = agnhost.files["etc/group"].decode()
    assert {"0", "1000", "65534"} <= {line.split(":")[2] for line in group.splitlines()}
    assert "hosts: files dns" in agnhost.files["etc/nsswitch.conf"].decode()


def test_build_images_is_reproducible(
    archives: dict[str, images.ImageArchive], tmp_path: Path
) -> None:
    again = images.build_images(force=True, out_dir=tmp_path, agnhost_binary=AGNHOST_BINARY)
    for archive in again:
        first = archives[archive.name]
        assert archive.digest == first.digest
        assert archive.path.read_bytes() == first.path.read_bytes(), f"{archive.name} differs"


def test_build_images_second_call_is_a_noop(archives: dict[str, images.ImageArchive]) -> None:
    out = next(iter(archives.values())).path.parent
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = images.build_images(out_dir=out, agnhost_binary=AGNHOST_BINARY)
    assert [(a.name, a.path, a.digest) for a in again] == [
        (a.name, a.path, a.digest) for a in archives.values()
    ]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_build_images_names_the_missing_agnhost_binary(tmp_path: Path) -> None:
    with pytest.raises(images.ImageBuildError, match="agnhost binary not found"):
        images.build_images(out_dir=tmp_path, agnhost_binary=tmp_path / "agnhost")


def test_import_images_reports_the_failing_command(
    archives: dict[str, images.ImageArchive], tmp_path: Path
) -> None:
    if shutil.which("ctr") is None:
        pytest.skip("ctr is not installed")
    not_a_socket = tmp_path / "containerd.sock"
    not_a_socket.touch()
    with pytest.raises(images.ImageBuildError) as raised:
        images.import_images(not_a_socket, archives.values())
    message = str(raised.value)
    assert f"ctr --address {not_a_socket}" in message
    assert "images import" in message
    assert "connection refused" in message


# --- a throwaway containerd --------------------------------------------------------------------


@dataclass(frozen=True)
class Containerd:
    socket: Path
    runc_root: Path

    def ctr(self, *args: str, timeout: float = CONTAINER_RUN) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", images.CRI_NAMESPACE, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run(self, image: str, *command: str) -> str:
        """Run ``command`` in a fresh container of ``image``; its output, or a failed assert."""
        name = f"podnet-images-{uuid.uuid4().hex[:12]}"
        proc = self.ctr("run", "--rm", "--runc-root", str(self.runc_root), image, name, *command)
        assert proc.returncode == 0, (
            f"{command} in {image} exited {proc.returncode}: {proc.stdout}{proc.stderr}"
        )
        return proc.stdout

    def run_as_non_root(self, image: str, script: str) -> str:
        """``script`` under uid 1000: busybox ``su`` drops root (ctr 1.6 has no --user)."""
        return self.run(image, "su", "-s", "/bin/sh", NON_ROOT_USER, "-c", script)


CONTAINERD_CONFIG = """\
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

# Disabled above; kept so enabling CRI here cannot trip over the missing CAP_SYS_RESOURCE.
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
"""


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    """A containerd of this module's own, stopped and wiped afterwards."""
    if os.geteuid() != 0:
        pytest.skip("running containerd and runc needs root")
    missing = [tool for tool in ("containerd", "ctr", "runc") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    workdir = tmp_path_factory.mktemp("containerd")
    config = workdir / "config.toml"
    config.write_text(CONTAINERD_CONFIG.format(d=workdir))
    log_path = workdir / "containerd.log"
    handle = Containerd(workdir / "containerd.sock", workdir / "runc")
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            ["containerd", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        ready = handle.ctr("--connect-timeout", CONTAINERD_STARTUP, "version")
        assert ready.returncode == 0, (
            f"throwaway containerd did not answer: {ready.stderr}\n{log_path.read_text()}"
        )
        yield handle
    finally:
        _remove_containers(handle)
        daemon.terminate()
        try:
            daemon.wait(timeout=CONTAINERD_SHUTDOWN)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=CONTAINERD_SHUTDOWN)
        _unmount_under(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def _remove_containers(handle: Containerd) -> None:
    """Containers left by a failed or timed-out run would keep shims and mounts alive."""
    if not handle.socket.exists():
        return
    for task in handle.ctr("tasks", "ls", "-q").stdout.split():
        handle.ctr("tasks", "kill", "--signal", "SIGKILL", task)
        handle.ctr("tasks", "delete", "--force", task)
    for container in handle.ctr("containers", "ls", "-q").stdout.split():
        handle.ctr("containers", "delete", container)


def _unmount_under(workdir: Path) -> None:
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    points = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{workdir}/")]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


@pytest.fixture(scope="module")
def imported(containerd: Containerd, archives: dict[str, images.ImageArchive]) -> Containerd:
    images.import_images(containerd.socket, archives.values())
    return containerd


def test_import_images_lists_exact_upstream_names_unpacked(
    imported: Containerd, archives: dict[str, images.ImageArchive]
) -> None:
    listed = imported.ctr("images", "ls").stdout.splitlines()[1:]
    digests = {line.split()[0]: line.split()[2] for line in listed}
    assert digests == {name: archive.digest for name, archive in archives.items()}
    check = imported.ctr("images", "check").stdout.splitlines()[1:]
    for row in check:
        assert "complete" in row, row
        assert row.split()[-1] == "true", f"not unpacked for overlayfs: {row}"


def test_import_images_twice_is_harmless(
    imported: Containerd, archives: dict[str, images.ImageArchive]
) -> None:
    before = sorted(imported.ctr("images", "ls").stdout.splitlines()[1:])

    images.import_images(imported.socket, archives.values())

    assert sorted(imported.ctr("images", "ls").stdout.splitlines()[1:]) == before
    assert imported.run(PAUSE_IMAGE, "/pause", "-v").strip() == "pause.c v3.10.2"


def test_pause_image_runs(imported: Containerd) -> None:
    assert imported.run(PAUSE_IMAGE, "/pause", "-v").strip() == "pause.c v3.10.2"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("id -u", "1000"),
        ("nc -h 2>&1", "OpenBSD netcat"),
        ("curl --version", "curl "),
        ("ip -V", "iproute2"),
        ("/agnhost netexec --help 2>&1", "netexec"),
        ("/bin/sh -c 'echo ok'", "ok"),
        ("readlink /bin/sh", "bash"),
        ("cd /tmp && touch a && mkdir d && ls && rm -r a d && test ! -e a && echo clean", "clean"),
        ("cat /etc/passwd; hostname; env; sleep 0", "PATH=/usr/local/sbin"),
    ],
)
def test_agnhost_tool_runs_as_non_root(imported: Containerd, command: str, expected: str) -> None:
    output = imported.run_as_non_root(AGNHOST_IMAGE, command)
    assert expected in output, f"{command!r} as uid 1000 printed {output!r}"


def test_agnhost_netexec_answers_curl_and_nc_like_the_probes(imported: Containerd) -> None:
    """The probe layer's HTTP (curl) and UDP (OpenBSD ``nc -u``) calls, inside one container."""
    script = (
        "/agnhost netexec --http-port=8080 --udp-port=8081 >/dev/null 2>&1 & "
        "curl -sS --retry 20 --retry-delay 1 --retry-max-time 20 --retry-connrefused "
        "--max-time 5 http://127.0.0.1:8080/hostname; "
        "echo; echo hostname | nc -u -w 2 127.0.0.1 8081; echo; hostname"
    )
    lines = imported.run_as_non_root(AGNHOST_IMAGE, script).split()
    assert len(lines) == 3, lines
    http_name, udp_name, hostname = lines
    assert http_name == udp_name == hostname
