"""Watching: the set of matching objects now and after every change (list, then watch)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator

import urllib3
from kubernetes import client as k8s
from kubernetes.watch.watch import iter_resp_lines

from pytest_podnet.kube.calls import Api, _path
from pytest_podnet.kube.errors import _domain_error, _is_transient
from pytest_podnet.kube.values import Kind, Raw, _meta


class Watch(Api):
    """``Cluster.observe``."""

    def observe(
        self,
        kind: Kind,
        namespace: str | None,
        *,
        until: float,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Iterator[dict[str, Raw]]:
        """The set of matching objects (name -> JSON) now and after every change.

        Lists once, then watches from that resourceVersion and yields the updated set after each
        event, until the ``time.monotonic()`` deadline ``until`` passes. A watch the server ends
        (timeout, 410 Gone, a transient error) is resumed with a fresh list, so no change is
        missed. The caller stops early by breaking out of the loop.
        """
        path = _path(kind, namespace)
        selectors: dict[str, str] = {}
        if label_selector:
            selectors["labelSelector"] = label_selector
        if field_selector:
            selectors["fieldSelector"] = field_selector
        what = f"watch {kind} in {namespace or 'all namespaces'} {selectors}"
        while (remaining := until - time.monotonic()) > 0:
            body = self._json(what, "GET", path, query=selectors)
            objects = {_meta(item)["name"]: item for item in body.get("items") or []}
            version = _meta(body).get("resourceVersion", "")
            yield dict(objects)
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            try:
                response = self._send(
                    "GET",
                    path,
                    timeout=(self.connect_timeout, remaining + 5),
                    query={
                        **selectors,
                        "watch": True,
                        "resourceVersion": version,
                        "timeoutSeconds": max(1, math.ceil(remaining)),
                        "allowWatchBookmarks": True,
                    },
                )
            except (k8s.ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
                if isinstance(exc, k8s.ApiException) and not _is_transient(exc):
                    raise _domain_error(exc, what) from exc
                continue
            try:
                for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                    if not line:
                        continue
                    event = json.loads(line)
                    kind_of_event, obj = event.get("type"), event.get("object") or {}
                    if kind_of_event == "ERROR":
                        # 410 Gone (the version is too old) and friends: relist and go on.
                        break
                    if kind_of_event == "BOOKMARK":
                        continue
                    name = _meta(obj).get("name", "")
                    if kind_of_event == "DELETED":
                        objects.pop(name, None)
                    else:
                        objects[name] = obj
                    yield dict(objects)
                    if time.monotonic() >= until:
                        return
            except (urllib3.exceptions.HTTPError, OSError, ValueError):
                # The watch connection dropped mid-stream; the relist above resumes it.
                pass
            finally:
                response.close()
                response.release_conn()
