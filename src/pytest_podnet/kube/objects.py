"""Objects an in-cluster run creates besides a test's own: ServiceAccounts, RBAC, Jobs; and logs.

``podnet incluster`` applies these from manifests (``create_object``), follows the runner Pod's
log while it runs (``follow_pod_log``) and reads it whole once it has ended
(``Cluster.full_pod_log``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import urllib3
from kubernetes import client as k8s

from pytest_podnet.kube.calls import Api
from pytest_podnet.kube.values import Raw

#: Kinds ``create_object`` and ``delete_kind`` handle (besides namespaces, in ``Cluster``).
OBJECT_KINDS: Final = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Job", "DaemonSet")


class Objects(Api):
    """``Cluster.create_object``, ``delete_kind``, ``read_job``, ``follow_pod_log``, ..."""

    def _functions(self, kind: str) -> tuple[Callable[..., Any], Callable[..., Any], bool]:
        """(create, delete, namespaced) of ``kind``."""
        batch = k8s.BatchV1Api(self._api_client)
        rbac = k8s.RbacAuthorizationV1Api(self._api_client)
        apps = k8s.AppsV1Api(self._api_client)
        table: dict[str, tuple[Callable[..., Any], Callable[..., Any], bool]] = {
            "ServiceAccount": (
                self._core.create_namespaced_service_account,
                self._core.delete_namespaced_service_account,
                True,
            ),
            "ClusterRole": (rbac.create_cluster_role, rbac.delete_cluster_role, False),
            "ClusterRoleBinding": (
                rbac.create_cluster_role_binding,
                rbac.delete_cluster_role_binding,
                False,
            ),
            "Job": (batch.create_namespaced_job, batch.delete_namespaced_job, True),
            "DaemonSet": (
                apps.create_namespaced_daemon_set,
                apps.delete_namespaced_daemon_set,
                True,
            ),
        }
        if kind not in table:
            raise ValueError(f"cannot handle kind {kind!r}: one of {list(OBJECT_KINDS)}")
        return table[kind]

    def create_object(self, body: Raw) -> Raw:
        """Create one object of the ``OBJECT_KINDS`` from a manifest dict; return it as served."""
        kind, meta = body["kind"], body["metadata"]
        create, _, namespaced = self._functions(kind)
        ref = f"{kind.lower()}/{meta.get('namespace', '')}/{meta['name']}".replace("//", "/")
        args = (meta["namespace"], body) if namespaced else (body,)
        return self._raw(f"create {ref}", create, *args)

    def delete_kind(self, kind: str, namespace: str | None, name: str) -> None:
        """Delete one object of the ``OBJECT_KINDS``, its dependents in the background."""
        _, delete, namespaced = self._functions(kind)
        args = (name, namespace) if namespaced else (name,)
        self._call(
            f"delete {kind.lower()}/{namespace + '/' if namespace else ''}{name}",
            delete,
            *args,
            propagation_policy="Background",
        )

    def read_job(self, namespace: str, name: str) -> Raw:
        """A Job as JSON (``NotFound`` once it is gone)."""
        batch = k8s.BatchV1Api(self._api_client)
        return self._raw(f"read job/{namespace}/{name}", batch.read_namespaced_job, name, namespace)

    def follow_pod_log(self, namespace: str, name: str, *, until: float) -> Iterator[str]:
        """The lines a Pod's (only) container logs, as it logs them, until it ends or the
        ``time.monotonic()`` deadline ``until`` passes. A dropped stream just ends the
        iteration: the caller reads the whole log afterwards (``Cluster.full_pod_log``)."""
        what = f"follow logs of pod/{namespace}/{name}"
        remaining = until - time.monotonic()
        if remaining <= 0:
            return
        response = self._call(
            what,
            self._core.read_namespaced_pod_log,
            name,
            namespace,
            follow=True,
            _preload_content=False,
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
