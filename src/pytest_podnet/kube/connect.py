"""Loading a kubeconfig (or the in-cluster config) into the client, as ``Cluster.connect`` does.

Which file and context win is decided in ``pytest_podnet.kubeconfig`` (pure); here the result is
handed to the client, and the failures the client would report late or vaguely (a missing or
failing exec credential plugin, an unusable client certificate) are raised at once as
``ConfigError`` subclasses naming the fix.
"""

from __future__ import annotations

import logging
import os
import shutil
import ssl
from pathlib import Path
from typing import Any

import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from pytest_podnet import kubeconfig as kubeconfig_rules
from pytest_podnet.kube.errors import ClientCertificateInvalid, ConfigError, CredentialPluginError


def _load_kubeconfig(
    configuration: k8s.Configuration, kubeconfig: str | None, context: str | None
) -> kubeconfig_rules.Resolved:
    """Resolve the kubeconfig as kubectl does and load the result into ``configuration``."""
    try:
        resolved = kubeconfig_rules.resolve(kubeconfig, context)
    except kubeconfig_rules.KubeconfigError as exc:
        raise ConfigError(str(exc), option=exc.option) from exc
    if resolved.in_cluster:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except ConfigException as exc:
            raise ConfigError(f"in-cluster config: {exc}") from exc
        return resolved
    where = f"kubeconfig {resolved.source}, context {resolved.context!r}"
    _check_credential_plugin(resolved, where)
    # The client reports a failing exec plugin with logging.error and goes on without
    # credentials (a 401 later, "expired token?"); catch the record and say what failed.
    plugin_errors = _ErrorRecords()
    logging.getLogger().addHandler(plugin_errors)
    try:
        k8s_config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
            config_dict=resolved.config,
            context=resolved.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, ValueError, TypeError, KeyError, OSError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    finally:
        logging.getLogger().removeHandler(plugin_errors)
    exec_config = resolved.user.get("exec")
    if plugin_errors.messages and isinstance(exec_config, dict):
        command = str(exec_config.get("command", ""))
        raise CredentialPluginError(
            f"{where}: the exec credential plugin {command!r} of user {resolved.user_name!r} "
            f"failed: {plugin_errors.messages[0]}",
            command=command,
            missing=False,
        )
    _check_client_certificate(configuration, resolved, where)
    return resolved


class _ErrorRecords(logging.Handler):
    """Collects ERROR records the client's kubeconfig loader logs (exec plugin failures)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "kubernetes" in record.pathname:
            self.messages.append(" ".join(record.getMessage().split())[:500])


def _check_credential_plugin(resolved: kubeconfig_rules.Resolved, where: str) -> None:
    """A missing exec plugin (gke-gcloud-auth-plugin, aws, kubelogin, ...): name the binary."""
    exec_config = resolved.user.get("exec")
    if not isinstance(exec_config, dict) or not exec_config.get("command"):
        return
    command = str(exec_config["command"])
    found = os.access(command, os.X_OK) if os.sep in command else shutil.which(command)
    if found:
        return
    hint = str(exec_config.get("installHint") or "").strip()
    raise CredentialPluginError(
        f"{where}: user {resolved.user_name!r} gets its credentials from the exec plugin "
        f"{command!r}, which is "
        + ("not an executable file" if os.sep in command else "not on PATH"),
        command=command,
        missing=True,
        install_hint=hint,
    )


def _check_client_certificate(
    configuration: k8s.Configuration, resolved: kubeconfig_rules.Resolved, where: str
) -> None:
    """A client certificate or key that cannot be used fails here, not as a TLS error later."""
    cert_file, key_file = configuration.cert_file, configuration.key_file
    if not cert_file and not key_file:
        return
    user = resolved.user

    def field_name(base: str) -> str:
        return f"{base}-data" if user.get(f"{base}-data") else base

    cert, key = field_name("client-certificate"), field_name("client-key")
    owner = f"{where}: user {resolved.user_name!r}"
    if not (cert_file and key_file):
        given, lacking = (cert, key) if cert_file else (key, cert)
        raise ClientCertificateInvalid(f"{owner} has {given} but no {lacking}")
    for name, path, check in ((cert, cert_file, _is_certificate), (key, key_file, _is_key)):
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ClientCertificateInvalid(f"{owner}: {name} {path}: {exc.strerror}") from exc
        if not check(data):
            what = "a PEM certificate" if name.startswith("client-certificate") else "a PEM key"
            shown = "(inline data)" if name.endswith("-data") else path
            raise ClientCertificateInvalid(f"{owner}: {name} {shown} is not {what}")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        raise ClientCertificateInvalid(
            f"{owner}: {cert} and {key} do not belong together ({exc.reason or exc})"
        ) from exc


def _is_certificate(data: bytes) -> bool:
    try:
        x509.load_pem_x509_certificate(data)
    except ValueError:
        return False
    return True


def _is_key(data: bytes) -> bool:
    try:
        serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        return False
    return True


class _UnverifiedHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    """HTTPS without the InsecureRequestWarning urllib3 gives on every request.

    The user chose insecure-skip-tls-verify and is told once (preflight, ``podnet sweep``); a
    warning per request floods the output, and under ``filterwarnings = error`` it ends the run
    with an INTERNALERROR.
    """

    def _validate_conn(self, conn: Any) -> None:
        # HTTPSConnectionPool._validate_conn without its warning: connect early, as it does.
        urllib3.HTTPConnectionPool._validate_conn(self, conn)
        if conn.is_closed:
            conn.connect()


def _quiet_unverified_requests(api_client: k8s.ApiClient) -> None:
    pool_manager = api_client.rest_client.pool_manager
    pool_manager.pool_classes_by_scheme = {
        **pool_manager.pool_classes_by_scheme,
        "https": _UnverifiedHTTPSConnectionPool,
    }
