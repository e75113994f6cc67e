"""Fixtures for the plugin's unit tests: kubeconfig files and loopback-only endpoints.

Nothing here talks to a cluster. The only network endpoints are on 127.0.0.1: a closed port
(refused at once) and a listening socket that never answers (a server that hangs).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

MakeKubeconfig = Callable[..., Path]


class SilentListener:
    """A loopback socket that takes TCP connections into its backlog and never answers them."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"

    def contacted(self) -> bool:
        """Whether any client has connected so far (does not block)."""
        self._sock.setblocking(False)
        try:
            conn, _ = self._sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def make_kubeconfig(tmp_path: Path) -> MakeKubeconfig:
    """Write a well-formed kubeconfig for a server URL: one context, a bearer token."""

    def make(server: str, *, context: str = "podnet-unit", name: str = "kubeconfig") -> Path:
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "unit", "cluster": {"server": server, "insecure-skip-tls-verify": True}}
            ],
            "users": [{"name": "unit", "user": {"token": "not-a-real-token"}}],
            "contexts": [{"name": context, "context": {"cluster": "unit", "user": "unit"}}],
            "current-context": context,
        }
        path = tmp_path / name
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return path

    return make


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
