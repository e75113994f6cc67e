"""The one place every API call passes through: the paths, the requests, the retry, JSON bodies.

Requests are made by path on the client's ``ApiClient`` (serialisation, authentication, the
urllib3 pool), not through the generated ``*Api`` classes: importing those costs close to a
second of CPU in every process, and their pydantic models are never used here.

Transient API errors (429, 5xx, a reset connection, an exec refused while the node's kubelet
restarts) are retried here for at most ``TRANSIENT_API_RETRY`` seconds; anything else surfaces at
once as a ``KubeError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Final, TypeVar
from urllib.parse import quote

import tenacity
import urllib3
from kubernetes import client as k8s
from kubernetes.client.api_client import RequestSerialized

from pytest_podnet.kube.errors import Conflict, _domain_error, _is_transient
from pytest_podnet.kube.values import Raw

#: Seconds a transient API error (429, 5xx, connection reset) is retried before it surfaces. An
#: apiserver restart or a leader election takes 10-20 s; longer than 30 s is an outage, not a blip.
TRANSIENT_API_RETRY: Final = 30.0
#: Seconds one ordinary request may take to answer (lists and reads are small here).
API_REQUEST: Final = 30.0

#: The API group-version each resource is served under, and whether it lives in a namespace.
_RESOURCES: Final[dict[str, tuple[str, bool]]] = {
    "namespaces": ("/api/v1", False),
    "nodes": ("/api/v1", False),
    "pods": ("/api/v1", True),
    "services": ("/api/v1", True),
    "serviceaccounts": ("/api/v1", True),
    "events": ("/api/v1", True),
    "deployments": ("/apis/apps/v1", True),
    "replicasets": ("/apis/apps/v1", True),
    "daemonsets": ("/apis/apps/v1", True),
    "endpointslices": ("/apis/discovery.k8s.io/v1", True),
    "jobs": ("/apis/batch/v1", True),
    "clusterroles": ("/apis/rbac.authorization.k8s.io/v1", False),
    "clusterrolebindings": ("/apis/rbac.authorization.k8s.io/v1", False),
    "selfsubjectaccessreviews": ("/apis/authorization.k8s.io/v1", False),
}

#: Query parameters by their API names (``labelSelector``); None leaves one out.
Query = Mapping[str, str | int | bool | list[str] | None]

_T = TypeVar("_T")


def _path(
    resource: str, namespace: str | None = None, name: str | None = None, subresource: str = ""
) -> str:
    """The API path of a collection (no ``name``) or of one object or its ``subresource``.

    A namespaced resource without ``namespace`` is the collection across all namespaces; the
    namespace of a cluster-scoped one is ignored.
    """
    prefix, namespaced = _RESOURCES[resource]
    parts = [prefix]
    if namespaced and namespace:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(resource)
    if name:
        parts.append(quote(name, safe=""))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


class Api:
    """The API client for one kubeconfig context, and the call helpers ``Cluster`` is built on."""

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
        self.context_name = context_name
        self.server_url: str = configuration.host
        self.connect_timeout = connect_timeout

    def close(self) -> None:
        """Release the connection pool."""
        self._api_client.close()  # type: ignore[no-untyped-call]

    # ........................................................................ requests

    def _serialize(
        self,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: object = None,
        content_type: str | None = None,
        accept: str = "application/json",
    ) -> RequestSerialized:
        """Method, URL (with the query), headers and body, as the generated methods built them.

        ``BearerToken`` is the generated methods' auth setting: the configuration's token,
        refreshed first by its hook (exec plugins, in-cluster service-account tokens); client
        certificates are the pool's.
        """
        params = [(key, value) for key, value in (query or {}).items() if value is not None]
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        return self._api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=params,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
            # A list (exec's ``command``) is the parameter repeated, once per item.
            collection_formats={key: "multi" for key, value in params if isinstance(value, list)},
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        timeout: tuple[float, float],
        query: Query | None = None,
        body: object = None,
        content_type: str | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """One request, not retried; the response unread, for the caller to read or stream.

        A non-2xx status raises the ``ApiException`` subclass the generated methods raised with
        ``_preload_content=False``, its body read, so ``_domain_error`` maps it as before.
        """
        method, url, headers, data, _ = self._serialize(
            method, path, query=query, body=body, content_type=content_type
        )
        response = self._api_client.call_api(method, url, headers, data, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()  # type: ignore[no-untyped-call]
            raise k8s.ApiException.from_response(http_resp=response, body=None, data=None)
        raw: urllib3.BaseHTTPResponse = response.response
        return raw

    def _call(self, what: str, fn: Callable[[], _T]) -> _T:
        """Call ``fn``, retrying transient errors, mapping failures to domain errors."""
        try:
            for attempt in tenacity.Retrying(
                retry=tenacity.retry_if_exception(_is_transient),
                stop=tenacity.stop_after_delay(TRANSIENT_API_RETRY),
                wait=tenacity.wait_random_exponential(multiplier=0.2, max=5),
                reraise=True,
            ):
                with attempt:
                    return fn()
        except (k8s.ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _domain_error(exc, what) from exc
        raise AssertionError("unreachable: tenacity either returns or reraises")

    def _request(
        self,
        what: str,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: object = None,
        timeout: float | None = None,
        content_type: str | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """A request, transient errors retried; ``timeout`` bounds the wait for the answer."""
        limits = (self.connect_timeout, timeout or API_REQUEST)
        return self._call(
            what,
            lambda: self._send(
                method, path, timeout=limits, query=query, body=body, content_type=content_type
            ),
        )

    def _json(
        self,
        what: str,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: object = None,
        content_type: str | None = None,
    ) -> Raw:
        """Like ``_request`` but return the JSON body as served."""
        response = self._request(
            what, method, path, query=query, body=body, content_type=content_type
        )
        return _body(response)

    def _items(self, what: str, path: str, query: Query | None = None) -> list[Raw]:
        """The items of a list."""
        return list(self._json(what, "GET", path, query=query).get("items") or [])

    def _create(self, what: str, path: str, body: Raw, read: Callable[[], Raw]) -> Raw:
        """Create; if a retried attempt finds the object already there, it was ours."""
        attempts = 0

        def once() -> urllib3.BaseHTTPResponse:
            nonlocal attempts
            attempts += 1
            limits = (self.connect_timeout, API_REQUEST)
            return self._send("POST", path, timeout=limits, body=body)

        try:
            response = self._call(what, once)
        except Conflict:
            if attempts > 1:
                return read()
            raise
        return _body(response)

    def _delete(
        self,
        what: str,
        path: str,
        *,
        propagation: str | None = None,
        options: Raw | None = None,
    ) -> None:
        """Delete; ``options`` is a DeleteOptions body (grace period, preconditions)."""
        self._json(what, "DELETE", path, query={"propagationPolicy": propagation}, body=options)


def _body(response: urllib3.BaseHTTPResponse) -> Raw:
    body: Raw = json.loads(response.data or b"{}")
    return body
