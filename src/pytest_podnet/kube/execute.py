"""Running a command in a container over the exec websocket, and reading its exit status."""

from __future__ import annotations

from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes.stream import stream as k8s_stream

from pytest_podnet.kube.calls import Api
from pytest_podnet.kube.errors import ExecTimeout, KubeError, _domain_error
from pytest_podnet.kube.values import ExecResult


class Exec(Api):
    """``Cluster.exec``."""

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
        # stream() swaps the request method of the ApiClient it is given while it runs; a client
        # of its own keeps concurrent calls on the shared client unaffected.
        api_client = k8s.ApiClient(self._configuration)
        try:
            core = k8s.CoreV1Api(api_client)
            kwargs: dict[str, Any] = {}
            if container:
                kwargs["container"] = container

            def open_stream(**_: Any) -> Any:
                return k8s_stream(
                    core.connect_get_namespaced_pod_exec,
                    pod,
                    namespace,
                    command=command,
                    stderr=True,
                    stdin=False,
                    stdout=True,
                    tty=False,
                    _preload_content=False,
                    _request_timeout=(self.connect_timeout, timeout),
                    **kwargs,
                )

            response = self._call(what, open_stream)
            try:
                response.run_forever(timeout=timeout)
                if response.is_open():
                    raise ExecTimeout(f"{what}: {command[:2]} still running after {timeout:g}s")
                stdout = response.read_channel(1)
                stderr = response.read_channel(2)
                status_text = response.read_channel(3)
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
            if isinstance(exc, KubeError):
                raise
            if isinstance(exc, k8s.ApiException):
                raise _domain_error(exc, what) from exc
            raise KubeError(f"{what}: {type(exc).__name__}: {exc}") from exc
        finally:
            api_client.close()  # type: ignore[no-untyped-call]
        return ExecResult(str(stdout), str(stderr), _exit_code(status_text, what))


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
