"""Objects an in-cluster run creates besides a test's own: ServiceAccounts, RBAC, Jobs; and logs.

``podnet incluster`` applies these from manifests (``create_object``), follows the runner Pod's
log while it runs (``follow_pod_log``) and reads it whole once it has ended
(``Cluster.full_pod_log``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Final

import urllib3

from pytest_podnet.kube.calls import Api, _path
from pytest_podnet.kube.values import Raw

#: Kinds ``create_object`` and ``delete_kind`` handle (besides namespaces, in ``Cluster``), and
#: their resource names in the API's paths.
_OBJECT_RESOURCES: Final = {
    "ServiceAccount": "serviceaccounts",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
    "Job": "jobs",
    "DaemonSet": "daemonsets",
}
OBJECT_KINDS: Final = tuple(_OBJECT_RESOURCES)


class Objects(Api):
    """``Cluster.create_object``, ``delete_kind``, ``read_job``, ``follow_pod_log``, ..."""

    def create_object(self, body: Raw) -> Raw:
        """Create one object of the ``OBJECT_KINDS`` from a manifest dict; return it as served."""
        kind, meta = body["kind"], body["metadata"]
        ref = f"{kind.lower()}/{meta.get('namespace', '')}/{meta['name']}".replace("//", "/")
        path = _path(_resource(kind), meta.get("namespace"))
        return self._json(f"create {ref}", "POST", path, body=body)

    def delete_kind(self, kind: str, namespace: str | None, name: str) -> None:
        """Delete one object of the ``OBJECT_KINDS``, its dependents in the background."""
        self._delete(
            f"delete {kind.lower()}/{namespace + '/' if namespace else ''}{name}",
            _path(_resource(kind), namespace, name),
            propagation="Background",
        )

    def read_job(self, namespace: str, name: str) -> Raw:
        """A Job as JSON (``NotFound`` once it is gone)."""
        return self._json(f"read job/{namespace}/{name}", "GET", _path("jobs", namespace, name))

    def follow_pod_log(self, namespace: str, name: str, *, until: float) -> Iterator[str]:
        """The lines a Pod's (only) container logs, as it logs them, until it ends or the
        ``time.monotonic()`` deadline ``until`` passes. A dropped stream just ends the
        iteration: the caller reads the whole log afterwards (``Cluster.full_pod_log``)."""
        what = f"follow logs of pod/{namespace}/{name}"
        remaining = until - time.monotonic()
        if remaining <= 0:
            return
        response = self._request(
            what,
            "GET",
            _path("pods", namespace, name, "log"),
            query={"follow": True},
            timeout=remaining,
        )
        pending = b""
        try:
            for chunk in response.stream(4096, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", "replace")
                if time.monotonic() > until:
                    return
            if pending:
                yield pending.decode("utf-8", "replace")
        except (urllib3.exceptions.HTTPError, OSError):
            return
        finally:
            response.release_conn()


def _resource(kind: str) -> str:
    if kind not in _OBJECT_RESOURCES:
        raise ValueError(f"cannot handle kind {kind!r}: one of {list(OBJECT_KINDS)}")
    return _OBJECT_RESOURCES[kind]
