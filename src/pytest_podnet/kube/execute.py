"""Running a command in a container over the exec websocket, and reading its exit status.

``exec`` runs a command to its end and returns its output; ``exec_lines`` hands out its stdout
line by line as it comes, so a caller that watches a command running in a Pod (a loop of probe
batches, a flow's log) reacts to each line at once and ends the command by closing the stream.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any, Final

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes.stream.ws_client import websocket_call

from pytest_podnet.kube.calls import Api, Query, _path
from pytest_podnet.kube.errors import ExecTimeout, KubeError, _domain_error
from pytest_podnet.kube.values import ExecResult

#: The exec websocket's channels.
STDOUT: Final = 1
STDERR: Final = 2
STATUS: Final = 3
#: Longest a read of ``exec_lines`` blocks before it looks at its deadline again.
_READ_SLICE: Final = 0.5


class Exec(Api):
    """``Cluster.exec`` and ``Cluster.exec_lines``."""

    def exec(
        self,
        namespace: str,
        pod: str,
        command: list[str],
        *,
        timeout: float,
        container: str | None = None,
    ) -> ExecResult:
        """Run ``command`` in a container (websocket stream); return stdout, stderr, exit code.

        Raises ``ExecTimeout`` when the command has not finished after ``timeout`` seconds, and
        ``KubeError`` when the command could not be started at all.
        """
        what = f"exec in pod/{namespace}/{pod}"
        with self._stream(what, namespace, pod, command, timeout, container) as response:
            response.run_forever(timeout=timeout)
            if response.is_open():
                raise ExecTimeout(f"{what}: {command[:2]} still running after {timeout:g}s")
            stdout = response.read_channel(STDOUT)
            stderr = response.read_channel(STDERR)
            status_text = response.read_channel(STATUS)
        return ExecResult(str(stdout), str(stderr), _exit_code(status_text, what))

    def exec_lines(
        self,
        namespace: str,
        pod: str,
        command: list[str],
        *,
        timeout: float,
        container: str | None = None,
    ) -> Generator[str, None, None]:
        """Run ``command`` in a container and yield its stdout line by line as it arrives.

        The command's stdin stays open, with nothing written to it, while the lines are read;
        stop early by closing the generator (``contextlib.closing``): the stream closes, and the
        command sees the end of its stdin (a loop in the Pod that waits on its stdin between
        rounds ends there, rather than running on unread). Raises ``ExecTimeout`` when the
        command still runs after ``timeout`` seconds, and ``KubeError`` when it could not be
        started or ended with a non-zero exit code (with the end of its stderr).
        """
        what = f"exec in pod/{namespace}/{pod}"
        until = time.monotonic() + timeout
        with self._stream(
            what, namespace, pod, command, timeout, container, stdin=True
        ) as response:
            pending = ""
            while True:
                remaining = until - time.monotonic()
                if remaining <= 0:
                    raise ExecTimeout(f"{what}: {command[:2]} still running after {timeout:g}s")
                response.update(timeout=min(remaining, _READ_SLICE))
                pending += str(response.read_channel(STDOUT))
                *lines, pending = pending.split("\n")
                yield from lines
                if not response.is_open():
                    break
            pending += str(response.read_channel(STDOUT))
            yield from (line for line in pending.split("\n") if line)
            stderr = str(response.read_channel(STDERR))
            code = _exit_code(str(response.read_channel(STATUS)), what)
        if code != 0:
            raise KubeError(f"{what}: {command[:2]} exited {code}: {stderr.strip()[-300:]}")

    @contextmanager
    def _stream(
        self,
        what: str,
        namespace: str,
        pod: str,
        command: list[str],
        timeout: float,
        container: str | None,
        *,
        stdin: bool = False,
    ) -> Iterator[Any]:
        """The exec websocket of ``command`` (a new one per call), closed for good on leaving;
        connection and handshake failures as domain errors."""
        query: Query = {
            "command": command,
            "container": container,
            "stderr": True,
            "stdin": stdin,
            "stdout": True,
            "tty": False,
        }

        def open_stream() -> Any:
            # Serialised on each try: the bearer token may have been refreshed meanwhile.
            method, url, headers, _, _ = self._serialize(
                "GET", _path("pods", namespace, pod, "exec"), query=query, accept="*/*"
            )
            return websocket_call(  # type: ignore[no-untyped-call]
                self._configuration,
                method,
                url,
                headers=headers,
                _preload_content=False,
                _request_timeout=(self.connect_timeout, timeout),
            )

        try:
            response = self._call(what, open_stream)
            try:
                yield response
            finally:
                response.close()
                # After the server's close frame the websocket counts itself closed and its
                # close() returns early, leaving the TLS socket open; shut it for good.
                socket = getattr(response, "sock", None)
                if socket is not None:
                    socket.shutdown()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _domain_error(exc, what) from exc
        except Exception as exc:
            # The websocket library raises its own exception types on a failed handshake.
            if isinstance(exc, KubeError | GeneratorExit):
                raise
            if isinstance(exc, k8s.ApiException):
                raise _domain_error(exc, what) from exc
            raise KubeError(f"{what}: {type(exc).__name__}: {exc}") from exc


def _exit_code(status_text: str, what: str) -> int:
    """The exit code from the exec error channel (a v1 Status object)."""
    if not status_text:
        raise KubeError(f"{what}: the stream closed without an exit status")
    status = yaml.safe_load(status_text)
    if status.get("status") == "Success":
        return 0
    causes = (status.get("details") or {}).get("causes") or []
    for cause in causes:
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    raise KubeError(f"{what}: {status.get('message') or status_text}")
