"""Which kubeconfig and which context: resolved exactly as kubectl resolves them.

Pure code, YAML in and one merged kubeconfig dict out, so it is unit-tested against the real
kubectl without a cluster (tests/unit/test_kubeconfig_merge.py). It does not import
``kubernetes``: the Python client merges ``KUBECONFIG=a:b`` with the LAST file winning, kubectl
with the FIRST, and a run that picks another context than kubectl creates, deletes and evicts in
a cluster the user did not mean. ``kube._load_kubeconfig`` hands the merged dict to the client.

client-go's loading rules (``tools/clientcmd/loader.go``, ``ClientConfigLoadingRules.Load``):

- an explicit file (``--podnet-kubeconfig``, ``podnet sweep --kubeconfig``) is the only file read,
  and a missing one is an error;
- otherwise the files of ``$KUBECONFIG`` (``:``-separated, empty entries and repeats dropped),
  or ``~/.kube/config`` when it is unset; missing files are skipped (all missing: an error
  naming them, unless in-cluster config applies);
- for every named cluster, user and context the FIRST file that defines the name wins, whole
  entry (no field-by-field merge); for ``current-context`` the first file that sets it to a
  non-empty value wins; ``preferences`` fields likewise;
- relative ``certificate-authority``, ``client-certificate``, ``client-key``, ``tokenFile`` and
  an exec ``command`` containing a ``/`` resolve against the directory of the file that holds
  them (``ResolveLocalPaths``), before the merge;
- a context override (``--podnet-context``) replaces ``current-context``;
- in-cluster config (``DeferredLoadingClientConfig``) when no explicit file is given, no context
  is asked for, the files found hold no configuration at all, and the process runs in a Pod.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml

Raw = dict[str, Any]

#: kubectl's default when ``$KUBECONFIG`` is unset (clientcmd.RecommendedHomeFile).
DEFAULT_KUBECONFIG: Final = "~/.kube/config"
#: The service account token a Pod gets; with KUBERNETES_SERVICE_HOST/PORT it means "in a Pod".
SERVICE_ACCOUNT_TOKEN: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")

#: The named lists of a kubeconfig, and the key that holds each entry's body.
_NAMED: Final[dict[str, str]] = {"clusters": "cluster", "users": "user", "contexts": "context"}
#: Per entry kind, the fields that hold a file path (client-go GetClusterFileReferences and
#: GetAuthInfoFileReferences).
_PATH_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "clusters": ("certificate-authority",),
    "users": ("client-certificate", "client-key", "tokenFile"),
}

#: Which setting fixes an error: the caller names its own flag (pytest and ``podnet sweep``
#: spell them differently).
FixOption = Literal["kubeconfig", "context"]


class KubeconfigError(Exception):
    """The kubeconfig files are missing, malformed, or do not name a usable context."""

    def __init__(self, message: str, *, option: FixOption | None = None) -> None:
        super().__init__(message)
        self.option: FixOption | None = option


@dataclass(frozen=True)
class Resolved:
    """What to connect with: a merged kubeconfig and the context chosen in it, or in-cluster."""

    #: The merged kubeconfig (v1 list form, every path absolute); empty for in-cluster.
    config: Raw
    #: The context's name; "in-cluster" for the service account of a Pod.
    context: str
    #: The files read, in precedence order, and those skipped because they do not exist.
    files: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    in_cluster: bool = False
    cluster: Raw = field(default_factory=dict)
    user: Raw = field(default_factory=dict)
    cluster_name: str = ""
    user_name: str = ""

    @property
    def source(self) -> str:
        """The files read, as a ``KUBECONFIG`` value (for messages)."""
        return os.pathsep.join(self.files)


def precedence(explicit: str | None, env: Mapping[str, str]) -> list[str]:
    """The files to read, in order (client-go NewDefaultClientConfigLoadingRules)."""
    if explicit:
        return [str(Path(explicit).expanduser())]
    value = env.get("KUBECONFIG", "")
    entries = value.split(os.pathsep) if value else [DEFAULT_KUBECONFIG]
    files: list[str] = []
    for entry in entries:
        path = str(Path(entry).expanduser()) if entry else ""
        if path and path not in files:
            files.append(path)
    return files


def in_pod(env: Mapping[str, str]) -> bool:
    """Whether in-cluster config is possible (client-go inClusterClientConfig.Possible)."""
    return (
        bool(env.get("KUBERNETES_SERVICE_HOST"))
        and bool(env.get("KUBERNETES_SERVICE_PORT"))
        and SERVICE_ACCOUNT_TOKEN.is_file()
    )


def parse(text: str, path: str) -> Raw:
    """One kubeconfig file, checked for shape, its relative paths made absolute against it."""
    try:
        document = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"kubeconfig {path} is malformed: {exc}") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise KubeconfigError(
            f"kubeconfig {path} is malformed: a kubeconfig is a YAML mapping "
            f"(apiVersion: v1, kind: Config, ...), this file holds a {type(document).__name__}"
        )
    kind = document.get("kind")
    if kind not in (None, "", "Config"):
        raise KubeconfigError(f"kubeconfig {path} is malformed: kind is {kind!r}, not 'Config'")
    # filepath.Abs, not a symlink-resolving realpath: a linked kubeconfig resolves beside the link.
    base = Path(os.path.abspath(os.path.dirname(path)))
    for kind_key, body_key in _NAMED.items():
        entries = document.get(kind_key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise KubeconfigError(f"kubeconfig {path} is malformed: {kind_key} is not a list")
        seen: set[str] = set()
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise KubeconfigError(
                    f"kubeconfig {path} is malformed: every entry of {kind_key} needs a name"
                )
            if entry["name"] in seen:
                # client-go refuses a file that defines a name twice (api/v1/conversion.go).
                raise KubeconfigError(
                    f"kubeconfig {path} is malformed: duplicate name {entry['name']!r} in "
                    f"{kind_key}"
                )
            seen.add(entry["name"])
            body = entry.get(body_key)
            if body is None:
                entry[body_key] = body = {}
            if not isinstance(body, dict):
                raise KubeconfigError(
                    f"kubeconfig {path} is malformed: {kind_key} entry {entry['name']!r} has "
                    f"no {body_key} mapping"
                )
            _resolve_paths(kind_key, body, base)
    current = document.get("current-context")
    if current is not None and not isinstance(current, str):
        raise KubeconfigError(f"kubeconfig {path} is malformed: current-context is not a string")
    return document


def _resolve_paths(kind: str, body: Raw, base: Path) -> None:
    for key in _PATH_FIELDS.get(kind, ()):
        value = body.get(key)
        if isinstance(value, str) and value:
            body[key] = _absolute(value, base)
    if kind == "users":
        exec_config = body.get("exec")
        command = exec_config.get("command") if isinstance(exec_config, dict) else None
        # A bare name is looked up on PATH; only a command with a path separator is a file.
        if isinstance(command, str) and os.sep in command:
            exec_config["command"] = _absolute(command, base)  # type: ignore[index]


def _absolute(value: str, base: Path) -> str:
    # filepath.Join cleans the result ("./ca.crt" -> "/dir/ca.crt", "a/../b" -> "b").
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(base, value))


def merge(documents: Sequence[Raw]) -> Raw:
    """Merge parsed files in precedence order: the first to set a name or a value wins."""
    merged: Raw = {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    for kind_key in _NAMED:
        by_name: dict[str, Raw] = {}
        for document in documents:
            for entry in document.get(kind_key) or []:
                by_name.setdefault(entry["name"], entry)
        merged[kind_key] = [by_name[name] for name in sorted(by_name)]
    merged["current-context"] = next(
        (doc["current-context"] for doc in documents if doc.get("current-context")), ""
    )
    for document in reversed(documents):
        preferences = document.get("preferences")
        if isinstance(preferences, dict):
            merged["preferences"].update({k: v for k, v in preferences.items() if v})
    extensions: dict[str, Raw] = {}
    for document in documents:
        for entry in document.get("extensions") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                extensions.setdefault(entry["name"], entry)
    if extensions:
        merged["extensions"] = [extensions[name] for name in sorted(extensions)]
    return merged


def is_empty(config: Raw) -> bool:
    """No cluster, user, context or current-context at all (client-go IsDefaultConfig)."""
    return not config.get("current-context") and not any(config.get(k) for k in _NAMED)


def entry(config: Raw, kind: str, name: str) -> Raw | None:
    """The body of the named cluster, user or context, or None."""
    for item in config.get(kind) or []:
        if item["name"] == name:
            body: Raw = item[_NAMED[kind]]
            return body
    return None


def minify(config: Raw, context: str | None = None) -> Raw:
    """Only the chosen context, its cluster and its user (``kubectl config view --minify``)."""
    name = context or config.get("current-context") or ""
    body = entry(config, "contexts", name)
    if body is None:
        raise KubeconfigError(f"context {name!r} is not defined", option="context")
    minified = {**config, "current-context": name}
    minified["contexts"] = [c for c in config["contexts"] if c["name"] == name]
    minified["clusters"] = [c for c in config["clusters"] if c["name"] == body.get("cluster")]
    minified["users"] = [u for u in config["users"] if u["name"] == body.get("user")]
    return minified


def resolve(
    explicit: str | None,
    context: str | None,
    env: Mapping[str, str] | None = None,
) -> Resolved:
    """The merged kubeconfig and the context kubectl would use, or in-cluster config."""
    env = os.environ if env is None else env
    files = precedence(explicit, env)
    read: list[str] = []
    missing: list[str] = []
    documents: list[Raw] = []
    for path in files:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            if explicit:
                raise KubeconfigError(
                    f"kubeconfig {path} does not exist", option="kubeconfig"
                ) from None
            missing.append(path)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise KubeconfigError(f"kubeconfig {path} cannot be read: {exc}") from exc
        documents.append(parse(text, path))
        read.append(path)
    config = merge(documents)
    if not explicit and context is None and is_empty(config) and in_pod(env):
        return Resolved({}, "in-cluster", tuple(read), tuple(missing), in_cluster=True)
    if not read:
        raise KubeconfigError(
            f"kubeconfig {', '.join(missing)} does not exist", option="kubeconfig"
        )
    source = os.pathsep.join(read)
    names = [c["name"] for c in config["contexts"]]
    known = ", ".join(names) or "(none defined)"
    chosen = context or config["current-context"]
    if not chosen:
        raise KubeconfigError(
            f"kubeconfig {source} has no current-context (contexts: {known})", option="context"
        )
    body = entry(config, "contexts", chosen)
    if body is None:
        raise KubeconfigError(
            f"context {chosen!r} is not in kubeconfig {source} (contexts: {known})",
            option="context",
        )
    cluster_name, user_name = str(body.get("cluster") or ""), str(body.get("user") or "")
    cluster = entry(config, "clusters", cluster_name)
    if cluster is None:
        raise KubeconfigError(
            f"context {chosen!r} of kubeconfig {source} names cluster {cluster_name!r}, which "
            f"no file defines (clusters: {', '.join(c['name'] for c in config['clusters'])})"
        )
    if not cluster.get("server"):
        raise KubeconfigError(
            f"cluster {cluster_name!r} of kubeconfig {source} has no server defined"
        )
    user = entry(config, "users", user_name) if user_name else {}
    if user is None:
        raise KubeconfigError(
            f"context {chosen!r} of kubeconfig {source} names user {user_name!r}, which no file "
            f"defines (users: {', '.join(u['name'] for u in config['users'])})"
        )
    return Resolved(
        config=config,
        context=chosen,
        files=tuple(read),
        missing=tuple(missing),
        cluster=cluster,
        user=user,
        cluster_name=cluster_name,
        user_name=user_name,
    )
