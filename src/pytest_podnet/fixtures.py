"""The ``podnet`` fixture (a ``facade.Podnet`` per test) and the session's ``podnet_cluster``.

Each test gets its own namespace, ``podnet-{worker}-{yyyymmddhhmm}-{rand}``, labelled with the
run id and its owner; every create pushes its undo right away and teardown unwinds them in
reverse within its own deadline (``waits.CLEANUP``), unless ``--podnet-keep`` says to keep them.
"""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from pytest_podnet import flows, kube, phases, probepool, waits, workloads
from pytest_podnet.facade import (  # re-exported: checks and tests import them from here too
    REPLACEMENT_KINDS,
    Convergence,
    Echo,
    Podnet,
    Replacement,
    ReplacementKind,
)
from pytest_podnet.kube import PodInfo
from pytest_podnet.outcomes import NotVerified
from pytest_podnet.owner import KEPT_ANNOTATION, OWNER_ANNOTATION, Owner
from pytest_podnet.probepool import ProbePool
from pytest_podnet.settings import Keep
from pytest_podnet.stash import (
    CLUSTER_KEY,
    NAMESPACES_KEY,
    OWNER_KEY,
    PHASE_REPORTS_KEY,
    PROBE_POOL_USED_KEY,
    SETTINGS_KEY,
)

__all__ = [
    "REPLACEMENT_KINDS",
    "Convergence",
    "Echo",
    "Podnet",
    "PodnetCleanupWarning",
    "PodnetInvariantWarning",
    "Replacement",
    "ReplacementKind",
    "podnet",
    "podnet_cluster",
    "podnet_probe_pool",
]


class PodnetCleanupWarning(pytest.PytestWarning):
    """Teardown could not delete something a test created (it may be left in the cluster)."""


class PodnetInvariantWarning(pytest.PytestWarning):
    """A podnet container restarted during a test: its IPs may have changed under the check."""


def namespace_name(worker: str | None = None) -> str:
    """``podnet-{worker}-{yyyymmddhhmm}-{rand}``: unique across xdist workers and runs."""
    worker = worker or os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"podnet-{worker}-{datetime.now(UTC):%Y%m%d%H%M}-{secrets.token_hex(3)}"


def _keep(item: pytest.Item, policy: Keep) -> bool:
    if policy == "always":
        return True
    if policy == "on-failure":
        reports = item.stash.get(PHASE_REPORTS_KEY, {})
        return any(report.failed for report in reports.values())
    return False


def mark_kept(cluster: kube.Cluster, namespace: str, keep: Keep) -> str:
    """Annotate a namespace kept on purpose so that later runs' reaping of dead runs leaves it
    alone (``owner.KEPT_ANNOTATION``); "" when done, else why a later run may remove it."""
    try:
        cluster.annotate_namespace(namespace, {KEPT_ANNOTATION: keep})
    except kube.KubeError as exc:
        return f" (not marked kept, so a later run may remove it: {exc})"
    return ""


def _settings(config: pytest.Config) -> Any:
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None:
        raise pytest.UsageError(
            "pytest-podnet settings are missing: the podnet plugin is not active "
            "(is it installed, or disabled with -p no:podnet?)"
        )
    return settings


@pytest.fixture(scope="session")
def podnet_cluster(pytestconfig: pytest.Config) -> kube.Cluster:
    """The Kubernetes cluster of this session (``kube.Cluster``), connected once.

    The plugin connects at session start (after preflight); without that, this fixture connects
    from ``--podnet-kubeconfig`` / ``--podnet-context`` itself. Skips without ``--podnet``.
    """
    settings = _settings(pytestconfig)
    if not settings.enabled:
        pytest.skip("pass --podnet to run pytest-podnet checks against a Kubernetes cluster")
    cluster: kube.Cluster | None = pytestconfig.stash.get(CLUSTER_KEY, None)
    if cluster is None:
        try:
            cluster = kube.Cluster.connect(
                settings.kubeconfig,
                settings.context,
                connect_timeout=waits.PREFLIGHT_CONNECT.scaled(settings.timeout_scale),
            )
        except kube.KubeError as exc:
            raise NotVerified(
                f"pytest-podnet cannot connect: {exc}",
                "check --podnet-kubeconfig/--podnet-context (`kubectl version` with the same)",
            ) from None
        pytestconfig.stash[CLUSTER_KEY] = cluster
    return cluster


def _create_namespace(
    config: pytest.Config, cluster: kube.Cluster, name: str, test: str | None
) -> None:
    """Create a namespace of this run: the user's labels and annotations, then ours (run id,
    managed-by, Pod Security level, owner), which theirs must not override."""
    settings = _settings(config)
    enforce = "privileged" if settings.privileged else "restricted"
    body = workloads.namespace(name, settings.run_id, test=test, enforce=enforce)
    labels = {**settings.namespace_labels, **body["metadata"]["labels"]}
    annotations = {
        **settings.namespace_annotations,
        **(body["metadata"].get("annotations") or {}),
        OWNER_ANNOTATION: config.stash.get(OWNER_KEY, "") or Owner.of_process().annotation,
    }
    cluster.create_namespace(name, labels, annotations or None)


@contextmanager
def probe_pool(config: pytest.Config, cluster: kube.Cluster) -> Iterator[ProbePool]:
    """A ``ProbePool`` of its own, in a namespace of its own (created on first use), closed on
    exit (kept with ``--podnet-keep=always``); a failure to close is a
    ``PodnetCleanupWarning``. For tests that need their probe Pods gone before the session
    ends; the checks share the run's (``podnet_probe_pool``)."""
    settings = _settings(config)
    pool = ProbePool(
        cluster=cluster,
        namespace=f"{namespace_name()}-probes",
        run_id=settings.run_id,
        image=settings.image,
        create_namespace=lambda name: _create_namespace(config, cluster, name, None),
        timeout_scale=settings.timeout_scale,
    )
    try:
        yield pool
    finally:
        if settings.keep == "always":
            if pool.used and (problem := mark_kept(cluster, pool.namespace, settings.keep)):
                warnings.warn(
                    PodnetCleanupWarning(f"kept probe namespace {pool.namespace}{problem}"),
                    stacklevel=1,
                )
        else:
            try:
                pool.close()
            except (kube.KubeError, waits.WaitTimeout) as exc:
                warnings.warn(
                    PodnetCleanupWarning(
                        f"could not delete the probe Pods' namespace {pool.namespace} ({exc}); "
                        f"`podnet sweep --run {settings.run_id}` removes it"
                    ),
                    stacklevel=1,
                )


@pytest.fixture(scope="session")
def podnet_probe_pool(
    pytestconfig: pytest.Config, podnet_cluster: kube.Cluster
) -> Iterator[ProbePool]:
    """The probe Pods the checks of this run share (``Podnet.probe_pods``): one per node, in a
    namespace of the run's own, made when a check first asks (by whichever xdist worker asks
    first; the others find them) and deleted when the session ends (kept with
    ``--podnet-keep=always``). They have no controller, which ``kubectl drain`` refuses: a
    session that drains nodes itself overrides this fixture with a narrower scope
    (``probe_pool``)."""
    settings = _settings(pytestconfig)
    pool = ProbePool(
        cluster=podnet_cluster,
        namespace=probepool.shared_namespace(settings.run_id),
        run_id=settings.run_id,
        image=settings.image,
        create_namespace=lambda name: _create_namespace(pytestconfig, podnet_cluster, name, None),
        timeout_scale=settings.timeout_scale,
        shared=True,
        name_prefix=f"probe-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}",
    )
    yield pool
    # The session's own end deletes them (plugin.pytest_sessionfinish), if a process used them.
    if pool.used:
        pytestconfig.stash[PROBE_POOL_USED_KEY] = True


@pytest.fixture
def podnet(
    request: pytest.FixtureRequest,
    podnet_cluster: kube.Cluster,
    podnet_probe_pool: ProbePool,
) -> Iterator[Podnet]:
    """The pytest-podnet façade, bound to a fresh namespace for this test.

    Create with ``echo_deployment()``, ``client_pod()``, ``service_for()``; act with
    ``replace(echo, how)`` (or ``delete_pod()``, ``evict()``, ``rollout_restart()``,
    ``set_image()``, ``scale()``, ``replace_all_pods()``), ``set_ready()``; observe with
    ``pods()``, ``read()``, ``endpoints()``, ``wait_endpoints()``, ``probe()``,
    ``converge()``, ``probe_pairs()``, ``expect_reachable()``; report with ``step()`` and
    ``record()``. Everything it creates is deleted after the test (see
    ``--podnet-keep``).
    """
    settings = _settings(request.config)
    item = request.node
    name = namespace_name()
    # The namespaces whose state a failure's diagnostics show: the check's own, and the probe
    # Pods' once the check takes them (Podnet.probe_pods).
    diagnosed = item.stash.setdefault(NAMESPACES_KEY, [])
    facade = Podnet(
        cluster=podnet_cluster,
        namespace=name,
        run_id=settings.run_id,
        image=settings.image,
        timeout_scale=settings.timeout_scale,
        node_id=item.nodeid,
        user_properties=item.user_properties,
        privileged=settings.privileged,
        ip_reuse=settings.ip_reuse,
        node_selector=settings.node_selector,
        probe_pool=podnet_probe_pool,
        flow_source_port=flows.source_port_for(os.environ.get("PYTEST_XDIST_WORKER")),
        diagnosed_namespaces=diagnosed,
    )
    _create_namespace(request.config, podnet_cluster, name, item.nodeid)
    facade.undo.push(f"namespace/{name}", lambda: podnet_cluster.delete_namespace(name))
    diagnosed.append(name)
    try:
        yield facade
    finally:
        _teardown(facade, item, settings.keep)


def _teardown(facade: Podnet, item: pytest.Item, keep: Keep) -> None:
    # Warnings may be errors (filterwarnings = error): raise them only after the undo ran.
    restarted = _restarted(facade)
    if _keep(item, keep):
        facade.record("kept_namespace", facade.namespace)
        item.add_report_section(
            "teardown",
            "podnet",
            f"kept namespace {facade.namespace} (--podnet-keep={keep})"
            f"{mark_kept(facade.cluster, facade.namespace, keep)}; remove it with "
            f"`podnet sweep --run {facade.run_id}`",
        )
        errors: list[str] = []
    else:
        with facade.phases.timing("teardown"):
            errors = facade.undo.unwind(facade.deadline(waits.CLEANUP))
    facade.record(phases.VALUE_NAME, facade.phases.rounded())
    if restarted:
        facade.record("restarted_containers", [f"{p.ref} x{p.restarts}" for p in restarted])
        warnings.warn(
            PodnetInvariantWarning(
                f"{item.nodeid}: container(s) restarted during the test, so their Pods may "
                "have changed IPs under the check: "
                + ", ".join(f"{p.ref} (restarts {p.restarts})" for p in restarted)
            ),
            stacklevel=1,
        )
    if errors:
        warnings.warn(
            PodnetCleanupWarning(
                f"cleanup of {item.nodeid} left {len(errors)} object(s) behind; "
                f"`podnet sweep --run {facade.run_id}` removes them:\n  " + "\n  ".join(errors)
            ),
            stacklevel=1,
        )


def _restarted(facade: Podnet) -> list[PodInfo]:
    try:
        pods = facade.cluster.pods(facade.namespace)
    except kube.KubeError:
        return []
    return [p for p in pods if p.restarts]
