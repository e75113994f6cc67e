"""KUBECONFIG merging and context choice agree with the real kubectl, case by case.

Each case writes kubeconfig files into a tmp dir, asks the built kubectl (``config view
--flatten --minify -o json``, ``config current-context``) with the same ``KUBECONFIG`` and
``--context``, and compares with ``pytest_podnet.kubeconfig``. ``--flatten`` embeds every
referenced file as ``*-data``, read from where kubectl resolved the path, so a relative path
resolved against the wrong directory shows as different data. No server is contacted.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_podnet import kubeconfig

KUBECTL = Path("~/.cache/pytest-podnet/v1.36.3/bin/kubectl").expanduser()

needs_kubectl = pytest.mark.skipif(
    not os.access(KUBECTL, os.X_OK),
    reason=f"the built kubectl {KUBECTL} is absent (`podnet cluster up` builds it)",
)

Write = Callable[..., Path]
#: Defaults kubectl fills into an exec stanza it prints; not part of what a file says.
EXEC_DEFAULTS = {"env": None, "provideClusterInfo": False, "interactiveMode": "IfAvailable"}


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative KUBECONFIG entries mean the same to kubectl and to us: both run from here."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write a kubeconfig at ``tmp_path/relpath`` from clusters, users, contexts given as dicts."""

    def make(
        relpath: str,
        *,
        current: str | None = None,
        clusters: dict[str, dict[str, Any]] | None = None,
        users: dict[str, dict[str, Any]] | None = None,
        contexts: dict[str, dict[str, Any]] | None = None,
    ) -> Path:
        document: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
        if current is not None:
            document["current-context"] = current
        for key, body_key, entries in (
            ("clusters", "cluster", clusters),
            ("users", "user", users),
            ("contexts", "context", contexts),
        ):
            if entries is not None:
                document[key] = [{"name": n, body_key: b} for n, b in entries.items()]
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return path

    return make


def kubectl(env_value: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"KUBECONFIG": env_value, "PATH": os.environ.get("PATH", ""), "HOME": str(cwd)}
    return subprocess.run(
        [str(KUBECTL), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=30
    )


def kubectl_view(env_value: str, context: str | None, cwd: Path) -> dict[str, Any]:
    flags = [f"--context={context}"] if context else []
    done = kubectl(
        env_value, "config", "view", "--flatten", "--minify", "-o", "json", *flags, cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    view: dict[str, Any] = json.loads(done.stdout)
    for user in view.get("users") or []:
        exec_config = user["user"].get("exec")
        for key, default in EXEC_DEFAULTS.items():
            if exec_config is not None and exec_config.get(key) == default:
                del exec_config[key]
    view.pop("preferences", None)
    return view


def ours(env_value: str, context: str | None, cwd: Path) -> tuple[str, dict[str, Any]]:
    """Our context and minified view, flattened as kubectl flattens (paths read into *-data)."""
    resolved = kubeconfig.resolve(None, context, env={"KUBECONFIG": env_value})
    view = copy.deepcopy(kubeconfig.minify(resolved.config, resolved.context))
    view.pop("preferences", None)
    for kind, body_key, fields in (
        ("clusters", "cluster", ("certificate-authority",)),
        ("users", "user", ("client-certificate", "client-key")),
    ):
        for item in view[kind]:
            body = item[body_key]
            for name in fields:
                if name in body:
                    path = Path(body.pop(name))
                    assert path.is_absolute(), path
                    body[f"{name}-data"] = base64.b64encode(path.read_bytes()).decode()
    return resolved.context, view


def assert_same_as_kubectl(
    tmp_path: Path, files: list[Path | str], context: str | None = None
) -> str:
    # KUBECONFIG entries relative to the working directory, as a user types them.
    env_value = os.pathsep.join(os.path.relpath(f, tmp_path) if f else "" for f in files)
    chosen, view = ours(env_value, context, tmp_path)
    assert view == kubectl_view(env_value, context, tmp_path)
    if context is None:
        current = kubectl(env_value, "config", "current-context", cwd=tmp_path)
        assert current.returncode == 0, current.stderr
        assert chosen == current.stdout.strip()
    return chosen


def server(port: int) -> dict[str, Any]:
    return {"server": f"https://127.0.0.1:{port}"}


@needs_kubectl
def test_first_file_current_context_wins_like_kubectl(tmp_path: Path, write: Write) -> None:
    a = write(
        "a.yaml",
        current="alpha",
        clusters={"ca": server(1)},
        users={"ua": {"token": "a"}},
        contexts={"alpha": {"cluster": "ca", "user": "ua"}},
    )
    b = write(
        "b.yaml",
        current="beta",
        clusters={"cb": server(2)},
        users={"ub": {"token": "b"}},
        contexts={"beta": {"cluster": "cb", "user": "ub"}},
    )

    assert assert_same_as_kubectl(tmp_path, [a, b]) == "alpha"
    assert assert_same_as_kubectl(tmp_path, [b, a]) == "beta"


@needs_kubectl
def test_a_name_defined_in_both_files_is_taken_whole_from_the_first(
    tmp_path: Path, write: Write
) -> None:
    a = write(
        "a.yaml",
        current="shared",
        clusters={"c": server(1)},
        users={"u": {"token": "from-a"}},
        contexts={"shared": {"cluster": "c", "user": "u"}},
    )
    # b's entries of the same names differ in every field, and add one a lacks (namespace).
    b = write(
        "b.yaml",
        clusters={"c": {**server(2), "insecure-skip-tls-verify": True}},
        users={"u": {"token": "from-b", "username": "bob"}},
        contexts={"shared": {"cluster": "c", "user": "u", "namespace": "b-ns"}},
    )

    assert_same_as_kubectl(tmp_path, [a, b])
    _, view = ours(f"{a}:{b}", None, tmp_path)
    assert view["clusters"][0]["cluster"] == server(1)
    assert view["users"][0]["user"] == {"token": "from-a"}
    assert "namespace" not in view["contexts"][0]["context"]


@needs_kubectl
def test_a_missing_file_in_the_middle_is_skipped(tmp_path: Path, write: Write) -> None:
    a = write(
        "a.yaml",
        clusters={"ca": server(1)},
        users={"ua": {"token": "a"}},
        contexts={"alpha": {"cluster": "ca", "user": "ua"}},
    )
    b = write("b.yaml", current="alpha", clusters={"cb": server(2)})

    assert assert_same_as_kubectl(tmp_path, [a, tmp_path / "gone.yaml", b]) == "alpha"
    resolved = kubeconfig.resolve(None, None, env={"KUBECONFIG": f"{a}:{tmp_path}/gone.yaml:{b}"})
    assert resolved.missing == (f"{tmp_path}/gone.yaml",)
    assert resolved.files == (str(a), str(b))


@needs_kubectl
def test_a_context_only_in_the_second_file_selected_by_name(tmp_path: Path, write: Write) -> None:
    a = write(
        "a.yaml",
        current="alpha",
        clusters={"ca": server(1)},
        users={"ua": {"token": "a"}},
        contexts={"alpha": {"cluster": "ca", "user": "ua"}},
    )
    # beta's cluster is named in b but defined in a and b: a's definition is the one used.
    b = write(
        "b.yaml",
        clusters={"ca": server(2), "cb": server(3)},
        users={"ub": {"token": "b"}},
        contexts={"beta": {"cluster": "ca", "user": "ub"}},
    )

    assert assert_same_as_kubectl(tmp_path, [a, b], context="beta") == "beta"
    _, view = ours(f"{a}:{b}", "beta", tmp_path)
    assert view["clusters"] == [{"name": "ca", "cluster": server(1)}]


@needs_kubectl
def test_relative_paths_resolve_against_their_own_file(tmp_path: Path, write: Write) -> None:
    # Same relative names beside each file, different contents: the wrong base shows as data.
    for folder in ("", "second/", "second/pki/"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        for name in ("ca.crt", "user.crt", "user.key"):
            (tmp_path / folder / name).write_text(f"{name} in /{folder}\n")
    a = write(
        "a.yaml",
        current="alpha",
        clusters={"ca": server(1)},
        users={"ua": {"token": "a"}},
        contexts={"alpha": {"cluster": "ca", "user": "ua"}},
    )
    b = write(
        "second/b.yaml",
        current="beta",
        clusters={"cb": {**server(2), "certificate-authority": "pki/ca.crt"}},
        users={"ub": {"client-certificate": "user.crt", "client-key": "./pki/../user.key"}},
        contexts={"beta": {"cluster": "cb", "user": "ub"}},
    )

    assert_same_as_kubectl(tmp_path, [a, b], context="beta")
    resolved = kubeconfig.resolve(None, "beta", env={"KUBECONFIG": f"{a}:{b}"})
    assert resolved.cluster["certificate-authority"] == str(tmp_path / "second/pki/ca.crt")
    assert resolved.user["client-key"] == str(tmp_path / "second/user.key")


@needs_kubectl
def test_an_empty_current_context_in_the_first_file_defers_to_the_next(
    tmp_path: Path, write: Write
) -> None:
    a = write(
        "a.yaml",
        current="",
        clusters={"ca": server(1)},
        users={"ua": {"token": "a"}},
        contexts={"alpha": {"cluster": "ca", "user": "ua"}},
    )
    b = write("b.yaml", current="alpha")

    assert assert_same_as_kubectl(tmp_path, [a, b]) == "alpha"


@needs_kubectl
def test_a_repeated_file_and_empty_entries_count_once(tmp_path: Path, write: Write) -> None:
    a = write(
        "a.yaml",
        current="alpha",
        clusters={"ca": server(1)},
        users={"ua": {"token": "a"}},
        contexts={"alpha": {"cluster": "ca", "user": "ua"}},
    )
    b = write(
        "b.yaml",
        current="beta",
        clusters={"cb": server(2)},
        users={"ub": {"token": "b"}},
        contexts={"beta": {"cluster": "cb", "user": "ub"}},
    )

    assert assert_same_as_kubectl(tmp_path, [a, "", b, a]) == "alpha"


@needs_kubectl
def test_an_exec_command_with_a_slash_is_relative_to_its_file(tmp_path: Path, write: Write) -> None:
    b = write(
        "second/b.yaml",
        current="beta",
        clusters={"cb": server(2)},
        users={
            "ub": {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1",
                    "command": "./bin/plugin",
                    "args": ["token"],
                }
            },
            "uc": {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1",
                    "command": "on-path-plugin",
                }
            },
        },
        contexts={
            "beta": {"cluster": "cb", "user": "ub"},
            "gamma": {"cluster": "cb", "user": "uc"},
        },
    )

    # kubectl config view prints the command as written; it runs the resolved one.
    resolved = kubeconfig.resolve(None, None, env={"KUBECONFIG": str(b)})
    assert resolved.user["exec"]["command"] == str(tmp_path / "second/bin/plugin")
    on_path = kubeconfig.resolve(None, "gamma", env={"KUBECONFIG": str(b)})
    assert on_path.user["exec"]["command"] == "on-path-plugin"
    assert kubectl_view(str(b), None, tmp_path)["users"][0]["user"]["exec"]["command"] == (
        "./bin/plugin"
    )


def test_every_file_missing_is_an_error_naming_them(tmp_path: Path) -> None:
    env = {"KUBECONFIG": f"{tmp_path}/one.yaml:{tmp_path}/two.yaml"}

    with pytest.raises(kubeconfig.KubeconfigError) as caught:
        kubeconfig.resolve(None, None, env=env)

    assert (
        str(caught.value) == f"kubeconfig {tmp_path}/one.yaml, {tmp_path}/two.yaml does not exist"
    )
    assert caught.value.option == "kubeconfig"


def test_an_explicit_file_is_the_only_one_read(tmp_path: Path, write: Write) -> None:
    a = write(
        "a.yaml", current="alpha", clusters={"ca": server(1)}, contexts={"alpha": {"cluster": "ca"}}
    )
    b = write(
        "b.yaml", current="beta", clusters={"cb": server(2)}, contexts={"beta": {"cluster": "cb"}}
    )

    resolved = kubeconfig.resolve(str(b), None, env={"KUBECONFIG": str(a)})
    assert (resolved.context, resolved.files) == ("beta", (str(b),))
    with pytest.raises(kubeconfig.KubeconfigError, match=r"gone\.yaml does not exist"):
        kubeconfig.resolve(str(tmp_path / "gone.yaml"), None, env={"KUBECONFIG": str(a)})


def test_a_context_naming_an_undefined_cluster_says_so(tmp_path: Path, write: Write) -> None:
    a = write("a.yaml", current="alpha", contexts={"alpha": {"cluster": "nowhere"}})

    with pytest.raises(kubeconfig.KubeconfigError, match="names cluster 'nowhere', which no"):
        kubeconfig.resolve(None, None, env={"KUBECONFIG": str(a)})


def test_a_duplicate_name_in_one_file_is_malformed_as_in_client_go(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n"
        "- {name: c, cluster: {server: 'https://127.0.0.1:1'}}\n"
        "- {name: c, cluster: {server: 'https://127.0.0.1:2'}}\n"
    )

    with pytest.raises(kubeconfig.KubeconfigError, match="duplicate name 'c' in clusters"):
        kubeconfig.resolve(str(path), None, env={})


def test_in_cluster_only_when_no_file_holds_a_configuration(
    tmp_path: Path, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "token"
    token.write_text("sa-token")
    monkeypatch.setattr(kubeconfig, "SERVICE_ACCOUNT_TOKEN", token)
    pod = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    a = write(
        "a.yaml", current="alpha", clusters={"ca": server(1)}, contexts={"alpha": {"cluster": "ca"}}
    )

    nothing = kubeconfig.resolve(None, None, env={**pod, "KUBECONFIG": f"{tmp_path}/gone"})
    assert (nothing.in_cluster, nothing.context) == (True, "in-cluster")
    assert kubeconfig.resolve(None, None, env={**pod, "KUBECONFIG": str(a)}).context == "alpha"
    with pytest.raises(kubeconfig.KubeconfigError):
        # A context asked for by name is never the in-cluster one (as in client-go).
        kubeconfig.resolve(None, "alpha", env={**pod, "KUBECONFIG": f"{tmp_path}/gone"})
