"""What a platform engineer needs to see when a check fails: events, Pods, Services, slices, logs.

Collected on failure only, from the namespaces the failing test created, before its teardown
deletes them. ``collect`` never raises: a diagnostics error becomes a line in its section, so the
original failure is never hidden behind a secondary one.
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_podnet import kube

#: Log lines kept per container: enough for netexec's request log around the failure.
LOG_TAIL_LINES = 40
#: Pods whose logs are fetched per namespace, so a large failing test stays readable.
MAX_LOGGED_PODS = 10


def collect(cluster: kube.Cluster, namespaces: list[str]) -> list[tuple[str, str]]:
    """``(title, text)`` sections for every namespace: events, Pods, Services, EndpointSlices,
    container log tails. Never raises."""
    sections: list[tuple[str, str]] = []
    for namespace in namespaces:
        sections.extend(_namespace_sections(cluster, namespace))
    return sections


def _namespace_sections(cluster: kube.Cluster, namespace: str) -> list[tuple[str, str]]:
    raw_pods: list[kube.Raw] = []

    def pods() -> str:
        raw_pods.extend(cluster.raw_pods(namespace))
        return _pods(raw_pods)

    return [
        _section(f"events {namespace}", lambda: _events(cluster, namespace)),
        _section(f"pods {namespace}", pods),
        _section(f"services {namespace}", lambda: _services(cluster, namespace)),
        _section(f"endpointslices {namespace}", lambda: _slices(cluster, namespace)),
        _section(f"logs {namespace}", lambda: _logs(cluster, raw_pods)),
    ]


def _section(title: str, build: Callable[[], str]) -> tuple[str, str]:
    try:
        return title, build() or "(none)"
    except Exception as exc:
        return title, f"(could not collect: {type(exc).__name__}: {exc})"


def _events(cluster: kube.Cluster, namespace: str) -> str:
    lines = []
    for event in cluster.events(namespace):
        when = event.last_seen.strftime("%H:%M:%S") if event.last_seen else "--:--:--"
        count = f" (x{event.count})" if event.count > 1 else ""
        lines.append(
            f"{when} {event.type:<7} {event.reason:<22} {event.involved}: {event.message}{count}"
        )
    return "\n".join(lines)


def _pods(raw_pods: list[kube.Raw]) -> str:
    blocks = []
    for raw in sorted(raw_pods, key=lambda r: r["metadata"]["name"]):
        info = kube.pod_info(raw)
        status = raw.get("status") or {}
        lines = [
            f"{info.ref} uid={info.uid} phase={info.phase} ready={info.ready} "
            f"node={info.node or '-'} ips={','.join(info.ips) or '-'} restarts={info.restarts}"
            + (" TERMINATING" if info.terminating else "")
        ]
        for cond in status.get("conditions") or []:
            reason = f" {cond['reason']}" if cond.get("reason") else ""
            message = f": {cond['message']}" if cond.get("message") else ""
            lines.append(f"  condition {cond.get('type')}={cond.get('status')}{reason}{message}")
        for cs in status.get("containerStatuses") or []:
            state = cs.get("state") or {}
            kind = next(iter(state), "unknown")
            detail = state.get(kind) or {}
            reason = detail.get("reason") or ""
            message = (detail.get("message") or "").strip()
            lines.append(
                f"  container {cs.get('name')} {kind} {reason} restarts={cs.get('restartCount', 0)}"
                + (f": {message}" if message else "")
            )
            last = (cs.get("lastState") or {}).get("terminated")
            if last:
                lines.append(
                    f"    last terminated exit={last.get('exitCode')} {last.get('reason', '')} "
                    f"at {last.get('finishedAt', '?')}"
                )
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def _services(cluster: kube.Cluster, namespace: str) -> str:
    lines = []
    for svc in cluster.services(namespace):
        ports = ", ".join(f"{p.port}/{p.protocol}->{p.target_port}" for p in svc.ports)
        selector = ",".join(f"{k}={v}" for k, v in sorted(svc.selector.items()))
        lines.append(
            f"{svc.ref} uid={svc.uid} clusterIPs={','.join(svc.cluster_ips) or '-'} "
            f"ports=[{ports}] selector={selector or '-'}"
        )
    return "\n".join(lines)


def _slices(cluster: kube.Cluster, namespace: str) -> str:
    lines = []
    for item in cluster.raw_endpoint_slices(namespace):
        meta = item.get("metadata") or {}
        service = (meta.get("labels") or {}).get("kubernetes.io/service-name", "?")
        lines.append(
            f"endpointslice/{namespace}/{meta.get('name')} service={service} "
            f"family={item.get('addressType')} generation={meta.get('generation')}"
        )
        for endpoint in item.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            target = (endpoint.get("targetRef") or {}).get("name", "-")
            flags = " ".join(f"{k}={v}" for k, v in sorted(conditions.items()))
            lines.append(
                f"  {','.join(endpoint.get('addresses') or [])} pod={target} "
                f"node={endpoint.get('nodeName', '-')} {flags}"
            )
    return "\n".join(lines)


def _logs(cluster: kube.Cluster, raw_pods: list[kube.Raw]) -> str:
    blocks = []
    for raw in raw_pods[:MAX_LOGGED_PODS]:
        info = kube.pod_info(raw)
        for cs in (raw.get("status") or {}).get("containerStatuses") or []:
            name = cs.get("name", "")
            header = f"--- {info.ref} container {name} (last {LOG_TAIL_LINES} lines)"
            try:
                text = cluster.pod_logs(
                    info.namespace, info.name, container=name, tail_lines=LOG_TAIL_LINES
                )
            except Exception as exc:
                text = f"(no logs: {type(exc).__name__}: {exc})"
            blocks.append(f"{header}\n{text.rstrip() or '(empty)'}")
            if cs.get("restartCount", 0):
                try:
                    previous = cluster.pod_logs(
                        info.namespace,
                        info.name,
                        container=name,
                        tail_lines=LOG_TAIL_LINES,
                        previous=True,
                    )
                    blocks.append(f"--- {info.ref} container {name} (previous run)\n{previous}")
                except Exception as exc:
                    blocks.append(f"--- previous run of {info.ref}/{name}: {exc}")
    if len(raw_pods) > MAX_LOGGED_PODS:
        blocks.append(f"({len(raw_pods) - MAX_LOGGED_PODS} more pods not shown)")
    return "\n".join(blocks)
