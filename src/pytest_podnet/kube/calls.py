"""The one place every API call passes through: the clients, the retry, the JSON bodies.

Transient API errors (429, 5xx, a reset connection) are retried here for at most
``TRANSIENT_API_RETRY`` seconds; anything else surfaces at once as a ``KubeError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

import tenacity
import urllib3
from kubernetes import client as k8s

from pytest_podnet.kube.errors import Conflict, _domain_error, _is_transient
from pytest_podnet.kube.values import Kind, Raw

#: Seconds a transient API error (429, 5xx, connection reset) is retried before it surfaces. An
#: apiserver restart or a leader election takes 10-20 s; longer than 30 s is an outage, not a blip.
TRANSIENT_API_RETRY: Final = 30.0
#: Seconds one ordinary request may take to answer (lists and reads are small here).
API_REQUEST: Final = 30.0


class Api:
    """The API clients for one kubeconfig context, and the call helpers ``Cluster`` is built on."""

    #: The kubeconfig says insecure-skip-tls-verify: the server's certificate is not checked,
    #: and the caller says so once (urllib3's per-request warning is silenced).
    insecure: bool = False

    def __init__(
        self,
        configuration: k8s.Configuration,
        *,
        context_name: str,
        connect_timeout: float = 10.0,
    ) -> None:
        # urllib3 would retry a failed connect three more times on its own, each with the full
        # connect timeout; retries belong to TRANSIENT_API_RETRY alone.
        configuration.retries = 0
        self._configuration = configuration
        self._api_client = k8s.ApiClient(configuration)
        self._core = k8s.CoreV1Api(self._api_client)
        self._apps = k8s.AppsV1Api(self._api_client)
        self._discovery = k8s.DiscoveryV1Api(self._api_client)
        self._policy = k8s.PolicyV1Api(self._api_client)
        self._authz = k8s.AuthorizationV1Api(self._api_client)
        self.context_name = context_name
        self.server_url: str = configuration.host
        self.connect_timeout = connect_timeout

    def close(self) -> None:
        """Release the connection pool."""
        self._api_client.close()  # type: ignore[no-untyped-call]

    # ........................................................................ calling

    def _call(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call the API, retrying transient errors, mapping failures to domain errors."""
        kwargs.setdefault("_request_timeout", (self.connect_timeout, timeout or API_REQUEST))
        try:
            for attempt in tenacity.Retrying(
                retry=tenacity.retry_if_exception(_is_transient),
                stop=tenacity.stop_after_delay(TRANSIENT_API_RETRY),
                wait=tenacity.wait_random_exponential(multiplier=0.2, max=5),
                reraise=True,
            ):
                with attempt:
                    return fn(*args, **kwargs)
        except (k8s.ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _domain_error(exc, what) from exc
        raise AssertionError("unreachable: tenacity either returns or reraises")

    def _raw(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Raw:
        """Like ``_call`` but return the JSON body as served (no model deserialisation)."""
        response = self._call(what, fn, *args, _preload_content=False, **kwargs)
        body: Raw = json.loads(response.data or b"{}")
        return body

    def _create(
        self, what: str, fn: Callable[..., Any], read: Callable[[], Raw], *args: Any
    ) -> Raw:
        """Create; if a retried attempt finds the object already there, it was ours."""
        attempts = 0

        def once(**kwargs: Any) -> Any:
            nonlocal attempts
            attempts += 1
            return fn(*args, _preload_content=False, **kwargs)

        try:
            response = self._call(what, once)
        except Conflict:
            if attempts > 1:
                return read()
            raise
        body: Raw = json.loads(response.data or b"{}")
        return body

    def _list_function(
        self, kind: Kind, namespace: str | None
    ) -> tuple[Callable[..., Any], tuple[str, ...]]:
        """The list method for ``kind`` and its positional arguments (bound, for ``Watch``)."""
        namespaced: dict[str, Callable[..., Any]] = {
            "pods": self._core.list_namespaced_pod,
            "services": self._core.list_namespaced_service,
            "deployments": self._apps.list_namespaced_deployment,
            "replicasets": self._apps.list_namespaced_replica_set,
            "endpointslices": self._discovery.list_namespaced_endpoint_slice,
            "serviceaccounts": self._core.list_namespaced_service_account,
        }
        everywhere: dict[str, Callable[..., Any]] = {
            "namespaces": self._core.list_namespace,
            "nodes": self._core.list_node,
            "pods": self._core.list_pod_for_all_namespaces,
            "services": self._core.list_service_for_all_namespaces,
            "deployments": self._apps.list_deployment_for_all_namespaces,
            "replicasets": self._apps.list_replica_set_for_all_namespaces,
            "endpointslices": self._discovery.list_endpoint_slice_for_all_namespaces,
            "serviceaccounts": self._core.list_service_account_for_all_namespaces,
        }
        if kind in ("namespaces", "nodes") or namespace is None:
            return everywhere[kind], ()
        return namespaced[kind], (namespace,)


def _selector_kwargs(label_selector: str | None) -> dict[str, str]:
    return {"label_selector": label_selector} if label_selector else {}
