"""Fixtures for the plugin's unit tests: kubeconfig files and loopback-only endpoints.

Nothing here talks to a cluster. The only network endpoints are on 127.0.0.1: a closed port
(refused at once), a listening socket that never answers (a server that hangs), and a tiny HTTPS
API server with its own CA that answers the preflight's reads and records every request.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MakeKubeconfig = Callable[..., Path]

#: Seconds a fixture thread waits for something it expects at once (a connection, a close).
SETTLE = 5.0


class SilentListener:
    """A loopback socket that accepts TCP connections and never answers them.

    A thread accepts each connection at once and holds it open, reading (and dropping) what the
    client sends, so the client's connect succeeds and its first read hangs, as against a hung
    API server. It records when the first connection came and when the client closed it: the
    time the client waited, measured here, is independent of how slowly the client's process
    started (under CPU load the interpreter start alone takes seconds).
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._first_contact = threading.Event()
        self._first_close = threading.Event()
        self.contacted_at: float | None = None
        self.closed_at: float | None = None
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            self._conns.append(conn)
            if self.contacted_at is None:
                self.contacted_at = time.monotonic()
                self._first_contact.set()
                threading.Thread(target=self._wait_for_close, args=(conn,), daemon=True).start()

    def _wait_for_close(self, conn: socket.socket) -> None:
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
        self.closed_at = time.monotonic()
        self._first_close.set()

    def contacted(self, wait: float = 0.0) -> bool:
        """Whether any client has connected so far."""
        return self._first_contact.wait(wait)

    def held_for(self) -> float:
        """Seconds the first client kept its connection before giving up (closing it)."""
        assert self._first_close.wait(SETTLE), "the client never closed its connection"
        assert self.contacted_at is not None
        assert self.closed_at is not None
        return self.closed_at - self.contacted_at

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept thread
        self._sock.close()
        for conn in self._conns:
            conn.close()


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, PEM."""

    cert: bytes
    key: bytes

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        cert, key = folder / f"{name}.crt", folder / f"{name}.key"
        cert.write_bytes(self.cert)
        key.write_bytes(self.key)
        return cert, key


class Authority:
    """A throw-away CA (EC P-256, quick to make) that issues loopback server and client certs."""

    def __init__(self, name: str) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, *, server: bool) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if server:
            # 127.0.0.1 only: "https://localhost:PORT" is then a hostname mismatch.
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return Issued(
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )


#: ``GET /version`` as a v1.36 server answers it (the client insists on every field).
FAKE_VERSION: dict[str, str] = {
    "major": "1",
    "minor": "36",
    "gitVersion": "v1.36.3-fake",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

#: The one node the fake server lists: Ready, schedulable, Linux. Its addresses are never used.
FAKE_NODE: dict[str, Any] = {
    "metadata": {"name": "fake-node-1", "labels": {"kubernetes.io/os": "linux"}},
    "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]},
    "status": {
        "addresses": [{"type": "InternalIP", "address": "172.30.0.11"}],
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}


class FakeAPIServer:
    """HTTPS API server on 127.0.0.1 answering what the preflight reads, recording requests.

    ``GET /version``, ``GET /api/v1/nodes`` and SelfSubjectAccessReviews (allowed unless the
    (group, resource, subresource, verb) is in ``denied``); anything else is 404. Every request is
    kept in ``requests`` as (method, path), so a test can assert nothing was created.
    """

    def __init__(self, folder: Path, authority: Authority) -> None:
        self.authority = authority
        self.denied: set[tuple[str, str, str, str]] = set()
        self.requests: list[tuple[str, str]] = []
        self.tls_failures = 0
        cert, key = authority.issue("fake-apiserver", server=True).write(folder, "apiserver")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path))
                path = self.path.split("?")[0].rstrip("/")
                if path == "/version":
                    self._answer(200, FAKE_VERSION)
                elif path == "/api/v1/nodes":
                    self._answer(200, {"kind": "NodeList", "items": [FAKE_NODE]})
                else:
                    self._answer(404, {"kind": "Status", "code": 404, "message": "not faked"})

            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                review = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.startswith(
                    "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
                ):
                    self._answer(404, {"kind": "Status", "code": 404, "message": "not faked"})
                    return
                attrs = review["spec"]["resourceAttributes"]
                rule = (
                    attrs.get("group", ""),
                    attrs["resource"],
                    attrs.get("subresource", ""),
                    attrs["verb"],
                )
                review["status"] = {"allowed": rule not in fake.denied}
                self._answer(201, review)

            do_PUT = do_PATCH = do_DELETE = do_POST

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[Any, Any]:
                sock, address = self.socket.accept()
                sock.settimeout(SETTLE)
                return sock, address

            def finish_request(self, request: Any, client_address: Any) -> None:
                try:
                    tls = context.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    fake.tls_failures += 1  # the client refused our certificate
                    return
                try:
                    super().finish_request(tls, client_address)
                finally:
                    tls.close()

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def writes(self) -> list[tuple[str, str]]:
        """Requests that would change something: anything but reads and access reviews."""
        return [
            (method, path)
            for method, path in self.requests
            if method != "GET" and "selfsubjectaccessreviews" not in path
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def make_kubeconfig(tmp_path: Path) -> MakeKubeconfig:
    """Write a well-formed kubeconfig for a server URL: one context, a bearer token by default.

    ``cluster`` and ``user`` replace the cluster's and user's fields (beyond ``server``).
    """

    def make(
        server: str,
        *,
        context: str = "podnet-unit",
        name: str = "kubeconfig",
        cluster: dict[str, Any] | None = None,
        user: dict[str, Any] | None = None,
    ) -> Path:
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "unit", "cluster": {"server": server, **(cluster or {})}}],
            "users": [{"name": "unit", "user": user or {"token": "not-a-real-token"}}],
            "contexts": [{"name": context, "context": {"cluster": "unit", "user": "unit"}}],
            "current-context": context,
        }
        path = tmp_path / name
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return path

    return make


def pem_data(pem: bytes) -> str:
    """A PEM as kubeconfig ``*-data`` (base64 of the PEM text)."""
    return base64.b64encode(pem).decode()


@pytest.fixture
def closed_port_url() -> str:
    """An https URL on a loopback port nothing listens on: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return f"https://127.0.0.1:{port}"


@pytest.fixture
def silent_listener() -> Iterator[SilentListener]:
    """A loopback API server that accepts connections and never answers (a hung server)."""
    listener = SilentListener()
    yield listener
    listener.close()


@pytest.fixture
def fake_apiserver(tmp_path: Path) -> Iterator[FakeAPIServer]:
    """An HTTPS API server on 127.0.0.1 with its own CA (``fake_apiserver.authority``)."""
    folder = tmp_path / "fake-apiserver"
    folder.mkdir()
    server = FakeAPIServer(folder, Authority("fake-apiserver-ca"))
    yield server
    server.close()
