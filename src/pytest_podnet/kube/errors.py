"""The domain errors every API failure surfaces as, and the mapping from the client's exceptions.

``_domain_error`` turns an ``ApiException`` (by status), a websocket handshake the server refused
(exec), a certificate that did not verify or a refused connection into one of these; callers
above ``kube`` catch only ``KubeError`` and its subclasses.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from typing import Final

import urllib3
from kubernetes import client as k8s

#: Statuses worth retrying: throttling and server-side failures that go away on their own.
_TRANSIENT_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: How the client reports an exec (websocket upgrade) the server refused, with status 0.
_HANDSHAKE: Final = re.compile(r"Handshake status (\d{3})")
#: The two exec refusals of a node whose kubelet restarts, as the client words them ("Handshake
#: status 404 Not Found -+-+- {headers} -+-+- body"): the API server unable to reach the kubelet
#: ("error dialing backend"), then the kubelet's own plain 404 for a Pod it has not synced yet
#: ("pod does not exist"; the API server's 404 for a Pod that is gone is a JSON Status).
_KUBELET_UNREACHABLE: Final = re.compile(r"Handshake status 500 .*error dialing backend", re.DOTALL)
_KUBELET_NOT_SYNCED: Final = re.compile(
    r"Handshake status 404 .* -\+-\+- pod does not exist\s*$", re.DOTALL
)


class KubeError(Exception):
    """An API call failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFound(KubeError):
    """The object (or its namespace) does not exist."""


class Conflict(KubeError):
    """The object exists already, or changed under a write."""


class Forbidden(KubeError):
    """The credentials lack a permission (401 or 403)."""


class Invalid(KubeError):
    """The API rejected the object (422), e.g. Pod Security admission or a bad field."""


class Unreachable(KubeError):
    """The API server did not answer (connection refused, timed out, TLS failure)."""


class Refused(Unreachable):
    """Nothing listens at the server's address: the connection was refused at once."""


class TLSVerifyFailed(Unreachable):
    """The server's certificate did not verify against the kubeconfig's certificate-authority.

    ``hostname_mismatch``: it is signed by that CA but not issued for the server's address.
    """

    def __init__(self, message: str, *, hostname_mismatch: bool = False) -> None:
        super().__init__(message)
        self.hostname_mismatch = hostname_mismatch


class ConfigError(KubeError):
    """The kubeconfig is missing or malformed, or names no such context.

    ``option`` says which setting fixes it ("kubeconfig" or "context"), for the caller to name
    its own flag.
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class CredentialPluginError(ConfigError):
    """The user's exec credential plugin is not installed, or failed."""

    def __init__(
        self, message: str, *, command: str, missing: bool, install_hint: str = ""
    ) -> None:
        super().__init__(message)
        self.command = command
        self.missing = missing
        self.install_hint = install_hint


class ClientCertificateInvalid(ConfigError):
    """The user's client certificate or key cannot be used (garbage, or not a pair)."""


class ExecTimeout(KubeError):
    """A command run with ``Cluster.exec`` did not finish within its timeout."""


# ----------------------------------------------------------------------------- error mapping


def _status_message(exc: k8s.ApiException) -> str:
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return str(exc.reason or exc.body or exc).strip()
    return str(body.get("message") or exc.reason)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, k8s.ApiException):
        status, reason = _status(exc), str(exc.reason or "")
        if status != exc.status:  # an exec (websocket upgrade) the server refused
            if status == 500:  # the kubelet's own 500 (a container not running) is final
                return _KUBELET_UNREACHABLE.search(reason) is not None
            return status in _TRANSIENT_STATUSES or _KUBELET_NOT_SYNCED.search(reason) is not None
        return exc.status in _TRANSIENT_STATUSES
    return isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError)


def _status(exc: k8s.ApiException) -> int | None:
    """The HTTP status; for a websocket (exec) upgrade the server refused, which the client
    reports as status 0, the status of the refusal."""
    handshake = _HANDSHAKE.search(str(exc.reason or ""))
    if not exc.status and handshake:
        return int(handshake.group(1))
    status: int | None = exc.status
    return status


def _domain_error(exc: BaseException, what: str) -> KubeError:
    if isinstance(exc, k8s.ApiException):
        status, reason = _status(exc), str(exc.reason or "")
        message = f"{what}: {status} {_status_message(exc)}"
        if status != exc.status:
            message = f"{what}: {status} {reason.splitlines()[0][:300]}"
        if status == 404:
            return NotFound(message, status=status, reason=reason)
        if status == 409:
            return Conflict(message, status=status, reason=reason)
        if status in (401, 403):
            return Forbidden(message, status=status, reason=reason)
        if status == 422:
            return Invalid(message, status=status, reason=reason)
        return KubeError(message, status=status, reason=reason)
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            # 62 is X509_V_ERR_HOSTNAME_MISMATCH: right CA, certificate for another name.
            mismatch = cause.verify_code == 62
            return TLSVerifyFailed(
                f"{what}: certificate verify failed: {cause.verify_message or cause}",
                hostname_mismatch=mismatch,
            )
        if isinstance(cause, ConnectionRefusedError):
            return Refused(f"{what}: connection refused")
    return Unreachable(f"{what}: {type(exc).__name__}: {exc}")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: urllib3 nests the socket's error in ``reason`` and ``args``."""
    pending, seen = [exc], set[int]()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [getattr(current, "reason", None), current.__cause__, current.__context__]
        nested += list(current.args)
        pending += [item for item in nested if isinstance(item, BaseException)]
