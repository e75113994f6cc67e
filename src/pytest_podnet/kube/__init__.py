"""The one package that talks to the Kubernetes API.

Everything above it gets typed, frozen value objects (``PodInfo``, ``ServiceInfo``, ...) and a few
domain errors (``NotFound``, ``Conflict``, ``Forbidden``, ``Unreachable``, ``ConfigError``); no
other module imports ``kubernetes``. Callers use ``kube.X`` for every name below; the modules are:

- ``errors``: ``KubeError`` and its subclasses, and the mapping from the client's exceptions;
- ``values``: the value objects, their JSON parsers, ``to_yaml``, the labels and kinds;
- ``connect``: kubeconfig / in-cluster config loading and its early, named failures;
- ``calls``: requests by API path, the transient-error retry (``TRANSIENT_API_RETRY``), JSON;
- ``watch``: ``observe``, list then watch; ``execute``: ``exec`` over the websocket;
- ``cluster``: ``Cluster``, the reads and writes other layers call, built on the three above.
"""

from __future__ import annotations

from pytest_podnet.kube.calls import API_REQUEST, TRANSIENT_API_RETRY
from pytest_podnet.kube.cluster import Cluster
from pytest_podnet.kube.connect import _load_kubeconfig
from pytest_podnet.kube.errors import (
    ClientCertificateInvalid,
    ConfigError,
    Conflict,
    CredentialPluginError,
    ExecTimeout,
    Forbidden,
    Invalid,
    KubeError,
    NotFound,
    Refused,
    TLSVerifyFailed,
    Unreachable,
    _domain_error,
)
from pytest_podnet.kube.values import (
    LABELLED_KINDS,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    RESTARTED_AT_ANNOTATION,
    RUN_LABEL,
    DeploymentInfo,
    EndpointSet,
    EventInfo,
    ExecResult,
    Kind,
    NamespaceInfo,
    NodeInfo,
    PodInfo,
    Raw,
    ServiceInfo,
    ServicePort,
    condition,
    deployment_info,
    endpoint_set,
    event_info,
    namespace_info,
    node_info,
    pod_info,
    service_info,
    to_yaml,
)

__all__ = [
    "API_REQUEST",
    "LABELLED_KINDS",
    "MANAGED_BY",
    "MANAGED_BY_LABEL",
    "RESTARTED_AT_ANNOTATION",
    "RUN_LABEL",
    "TRANSIENT_API_RETRY",
    "ClientCertificateInvalid",
    "Cluster",
    "ConfigError",
    "Conflict",
    "CredentialPluginError",
    "DeploymentInfo",
    "EndpointSet",
    "EventInfo",
    "ExecResult",
    "ExecTimeout",
    "Forbidden",
    "Invalid",
    "Kind",
    "KubeError",
    "NamespaceInfo",
    "NodeInfo",
    "NotFound",
    "PodInfo",
    "Raw",
    "Refused",
    "ServiceInfo",
    "ServicePort",
    "TLSVerifyFailed",
    "Unreachable",
    "_domain_error",
    "_load_kubeconfig",
    "condition",
    "deployment_info",
    "endpoint_set",
    "event_info",
    "namespace_info",
    "node_info",
    "pod_info",
    "service_info",
    "to_yaml",
]
