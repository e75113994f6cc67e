"""``podnet incluster``: the suites run inside the cluster as a Job; the verdict comes back.

What Sonobuoy and Hydrophone users do to gate CI, with nothing but the current kubeconfig:

1. a namespace of its own (``podnet-incluster-<run id>``, labelled like every podnet object, its
   owner annotated so a later run removes it if this process dies), a ServiceAccount in it, and
   a ClusterRole with exactly the permissions the preflight checks (and the namespace patch of
   ``--podnet-keep`` when the pytest arguments keep namespaces) plus its binding; the two
   cluster-scoped objects name the namespace as their owner, so deleting the namespace (this
   command, ``podnet sweep`` or the garbage collector) takes them along;
2. the Job of ``manifests/job.yaml`` running the runner image (``localcluster.runner_image``)
   with the pytest arguments given; on the embedded cluster the image is built and imported into
   every node first (cached; nothing is built when it is there already);
3. the runner's log streamed to stdout while it runs; the block of reports at its end
   (:mod:`pytest_podnet.runner`) unpacked into ``--report-dir`` (``podnet.json``, ``junit.xml``);
4. everything it created deleted, also on failure and Ctrl-C, and the runner's exit status
   (the verdict's: 0, 1, 6, 4) returned, read from the Pod's status.

The runner's own namespace is no test namespace: the run it hosts never removes it (its owner is
another host's live process, see ``owner``), and nothing in the suites counts its Pod.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import itertools
import os
import secrets
import signal
import sys
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Final

from pytest_podnet import cleanup, kube, runner, waits, workloads
from pytest_podnet.owner import OWNER_ANNOTATION, Owner
from pytest_podnet.preflight import access, rbac_manifest
from pytest_podnet.settings import KEEP_CHOICES, new_run_id, option

PREFIX: Final = "podnet incluster"
JOB_MANIFEST: Final = "job.yaml"
CONTAINER: Final = "runner"
JOB_NAME_LABEL: Final = "batch.kubernetes.io/job-name"
#: Default bound of one run (the Job's activeDeadlineSeconds): the full suites take minutes.
DEFAULT_TIMEOUT: Final = 3600

#: A follow stream that keeps dropping is opened again at most this often (each reopen is one
#: API call and happens only when a stream ended without the container having ended).
LOG_REOPENS: Final = 100

EXIT_USAGE: Final = 4
#: The runner did not finish (deleted, deadline passed) or its reports were lost: pytest's
#: "internal error", never a verdict.
EXIT_RUNNER_LOST: Final = 3
EXIT_INTERRUPTED: Final = 2


class InclusterError(Exception):
    """A problem that ends the command with one message (and the fix) and ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Request:
    """What one ``podnet incluster`` run was asked for."""

    kubeconfig: str | None
    context: str | None
    image: str | None
    namespace: str | None
    report_dir: Path
    pytest_args: tuple[str, ...]
    timeout: int = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Outcome:
    """How the runner ended: its exit status and the report files written."""

    exit_code: int
    reports: tuple[Path, ...]


# ------------------------------------------------------------------------------ object builders


def labels(run_id: str) -> dict[str, str]:
    return workloads.labels(run_id, **{"app.kubernetes.io/name": "pytest-podnet-runner"})


def job(
    name: str,
    namespace: str,
    run_id: str,
    image: str,
    args: Sequence[str],
    token: str,
    timeout: int,
) -> dict[str, Any]:
    """The Job of the package-data ``job.yaml`` for one run."""
    body = workloads.manifest(JOB_MANIFEST)
    body["metadata"].update(name=name, namespace=namespace, labels=labels(run_id))
    body["spec"]["activeDeadlineSeconds"] = timeout
    template = body["spec"]["template"]
    template["metadata"]["labels"] = labels(run_id)
    template["spec"]["serviceAccountName"] = name
    container = template["spec"]["containers"][0]
    container.update(image=image, args=list(args))
    container["env"] = [{"name": runner.TOKEN_ENV, "value": token}]
    return body


def asks_to_keep(pytest_args: Sequence[str]) -> bool:
    """Whether ``pytest_args`` ask the run inside to keep namespaces: ``podnet_keep`` set to
    on-failure or always by ``--podnet-keep`` or an ini override (``-o podnet_keep=...``).

    Such a run marks what it keeps, a namespace patch the least-privilege role leaves out, so the
    runner's role gets it then and only then. As in the run (``Settings``), the last
    ``--podnet-keep`` wins, and an ini override counts only without one."""
    keep_option = option("podnet_keep")
    given: str | None = None
    ini: str | None = None
    for arg, following in itertools.pairwise([*pytest_args, ""]):
        if arg == "--":
            break
        if arg == keep_option.flag:
            given = following
        elif arg.startswith(f"{keep_option.flag}="):
            given = arg.partition("=")[2]
        elif (override := _ini_override(arg, following)) and override[0] == keep_option.ini:
            ini = override[1]
    keep = (given if given is not None else ini or "never").strip()
    return keep in KEEP_CHOICES and keep != "never"


def _ini_override(arg: str, following: str) -> tuple[str, str] | None:
    """``(name, value)`` of a pytest ``-o``/``--override-ini`` argument, else None."""
    if arg in ("-o", "--override-ini"):
        text = following
    elif arg.startswith("--override-ini="):
        text = arg.partition("=")[2]
    elif arg.startswith("-o"):
        text = arg[2:]
    else:
        return None
    name, equals, value = text.partition("=")
    return (name, value) if equals else None


def rbac(
    name: str, namespace: str, run_id: str, owner_uid: str, *, keep: bool = False
) -> list[dict[str, Any]]:
    """ServiceAccount, ClusterRole (the preflight's permissions, with ``keep`` those of a run
    that marks the namespaces it keeps) and binding of one run; the cluster-scoped two are owned
    by the run's namespace (garbage-collected with it)."""
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(run_id)},
    }
    owner = {"apiVersion": "v1", "kind": "Namespace", "name": namespace, "uid": owner_uid}
    cluster_scoped = rbac_manifest(
        name,
        [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        access(keep=keep),
    )
    for item in cluster_scoped:
        meta: dict[str, Any] = item["metadata"]  # type: ignore[assignment]
        meta["labels"] = {**meta["labels"], **labels(run_id)}
        meta["ownerReferences"] = [copy.deepcopy(owner)]
    return [account, *cluster_scoped]


# ------------------------------------------------------------------------------ the report block


def extract_reports(log: str, token: str) -> dict[str, bytes] | None:
    """The report files of the block marked with ``token`` in ``log``; None if there is no
    complete, intact block (missing end marker or a digest that does not match)."""
    lines = log.splitlines()
    begin = runner.begin_marker(token)
    if begin not in lines:
        return None
    start = len(lines) - 1 - lines[::-1].index(begin)
    end_prefix = f"===== pytest-podnet reports {token} end sha256="
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if line.startswith(end_prefix):
            payload = "".join(lines[start + 1 : index])
            digest = line.removeprefix(end_prefix).split()[0]
            if hashlib.sha256(payload.encode()).hexdigest() != digest:
                return None
            files: dict[str, bytes] = {}
            with tarfile.open(fileobj=io.BytesIO(base64.b64decode(payload)), mode="r:gz") as tar:
                for member in tar.getmembers():
                    stream = tar.extractfile(member)
                    if member.isfile() and stream is not None and "/" not in member.name:
                        files[member.name] = stream.read()
            return files
    return None


# ------------------------------------------------------------------------------ the run


def say(message: str) -> None:
    print(f"{PREFIX}: {message}", file=sys.stderr, flush=True)


def run(request: Request) -> int:
    """The whole command; returns the exit status (the runner's, or 4 for bad input)."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _run(request).exit_code
    except InclusterError as err:
        say(f"error: {err}")
        return err.exit_code
    except KeyboardInterrupt:
        say("interrupted")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # A cancelled CI job sends SIGTERM: unwind like Ctrl-C, so the cleanup below runs.
    raise KeyboardInterrupt


def _run(request: Request) -> Outcome:
    cluster = _connect(request)
    image = request.image or _local_image(cluster)
    run_id = new_run_id()
    name = f"podnet-incluster-{run_id}"
    namespace = request.namespace or name
    token = secrets.token_hex(16)
    undo = cleanup.UndoStack()
    try:
        created = _create(cluster, undo, name, namespace, run_id, image, request, token)
        say(f"job/{namespace}/{created} started with {image} (run {run_id})")
        pod = _runner_pod(cluster, namespace, created, image)
        _stream(cluster, namespace, pod, token, until=time.monotonic() + request.timeout)
        exit_code = _exit_code(cluster, namespace, created, pod, request.timeout)
        reports = _write_reports(cluster.full_pod_log(namespace, pod), token, request.report_dir)
        say(f"runner exited {exit_code}; reports: {', '.join(map(str, reports)) or 'none'}")
        return Outcome(exit_code, reports)
    except (kube.KubeError, waits.WaitTimeout, waits.Unrecoverable) as err:
        raise InclusterError(" ".join(str(err).split()[:80]), EXIT_RUNNER_LOST) from err
    finally:
        _clean_up(cluster, undo, namespace, run_id)


def _connect(request: Request) -> kube.Cluster:
    try:
        return kube.Cluster.connect(
            request.kubeconfig, request.context, connect_timeout=waits.PREFLIGHT_CONNECT.seconds
        )
    except kube.KubeError as err:
        option = getattr(err, "option", None)
        fix = {
            "kubeconfig": "pass --kubeconfig=PATH or set KUBECONFIG to a kubeconfig file",
            "context": "pass --context=NAME with one of the kubeconfig's contexts",
        }.get(option or "", "check that the cluster is up and the kubeconfig points at it")
        raise InclusterError(f"cannot connect: {' '.join(str(err).split())}; fix: {fix}") from err


def _local_image(cluster: kube.Cluster) -> str:
    """The default runner image; on the embedded cluster, built and imported into every node."""
    from pytest_podnet.localcluster import cluster as local
    from pytest_podnet.localcluster import images, node, runner_image

    topology = local.topology_serving(cluster.server_url)
    if topology is None:
        return runner_image.RUNNER_IMAGE
    if os.geteuid() != 0:
        raise InclusterError(
            "importing the runner image into the embedded cluster's nodes needs root (ctr on "
            "each node's containerd): run podnet incluster as root"
        )
    try:
        archive = runner_image.build_runner_image()
        for each in topology.nodes:
            runner_image.import_if_missing(node.socket(each), archive)
    except images.ImageBuildError as err:
        raise InclusterError(f"cannot provide the runner image: {err}") from err
    return archive.name


def _create(
    cluster: kube.Cluster,
    undo: cleanup.UndoStack,
    name: str,
    namespace: str,
    run_id: str,
    image: str,
    request: Request,
    token: str,
) -> str:
    """Create the namespace, the RBAC and the Job, each undo pushed at once; the Job's name."""
    try:
        ns = cluster.create_namespace(
            namespace, labels(run_id), {OWNER_ANNOTATION: Owner.of_process().annotation}
        )
    except kube.Conflict as err:
        raise InclusterError(
            f"namespace {namespace} exists already: pick another --namespace, or none"
        ) from err
    except kube.Forbidden as err:
        raise InclusterError(f"{err}; fix: run as a user who may create namespaces") from err
    undo.push(f"namespace {namespace}", lambda: cluster.delete_namespace(namespace))
    for body in rbac(name, namespace, run_id, ns.uid, keep=asks_to_keep(request.pytest_args)):
        try:
            cluster.create_object(body)
        except kube.Forbidden as err:
            raise InclusterError(
                f"{err}; fix: run as a user who may create ClusterRoles and bindings "
                "(or apply manifests/rbac.yaml and manifests/job.yaml by hand)"
            ) from err
        kind, meta = body["kind"], body["metadata"]
        if kind != "ServiceAccount":
            undo.push(f"{kind} {name}", _deleter(cluster, kind, meta["name"]))
    cluster.create_object(
        job(name, namespace, run_id, image, request.pytest_args, token, request.timeout)
    )
    return name


def _deleter(cluster: kube.Cluster, kind: str, name: str) -> Any:
    return lambda: cluster.delete_kind(kind, None, name)


def _runner_pod(cluster: kube.Cluster, namespace: str, job_name: str, image: str) -> str:
    """The name of the Job's Pod once its container runs (or already ended)."""
    until = time.monotonic() + waits.RUNNER_START.seconds
    last: dict[str, kube.Raw] = {}
    for pods in cluster.observe(
        "pods", namespace, until=until, label_selector=f"{JOB_NAME_LABEL}={job_name}"
    ):
        last = pods
        for pod_name, pod in pods.items():
            status = (pod.get("status") or {}).get("containerStatuses") or []
            state = (status[0].get("state") or {}) if status else {}
            if "running" in state or "terminated" in state:
                return pod_name
            problem = waits.unrecoverable_problem(pod)
            if problem is not None:
                raise InclusterError(_pull_fix(problem, image))
    raise waits.WaitTimeout(
        waits.RUNNER_START.name,
        waits.RUNNER_START.seconds,
        f"the Pod of job/{namespace}/{job_name} to run",
        kube.to_yaml(list(last.values())),
    )


def _pull_fix(problem: str, image: str) -> str:
    if "Image" not in problem:
        return problem
    return (
        f"the cluster cannot run {image}: {problem}; fix: push the runner image to a registry "
        "this cluster pulls from and pass --image=REGISTRY/pytest-podnet-runner:TAG "
        "(`podnet incluster --build-only` writes its OCI archive and prints the path; then "
        "`skopeo copy oci-archive:PATH docker://REGISTRY/pytest-podnet-runner:TAG`, see "
        "docs/using.md)"
    )


def _stream(cluster: kube.Cluster, namespace: str, pod: str, token: str, *, until: float) -> None:
    """Print the runner's log as it comes, up to the report block (which is read afterwards).

    A follow stream that drops (an idle connection timed out) is opened again and the lines
    already printed are skipped, until the container has ended or ``until`` passed (at most
    ``LOG_REOPENS`` times; the wait for the exit status follows either way)."""
    printed = 0
    for _ in range(LOG_REOPENS):
        if time.monotonic() >= until:
            return
        for seen, line in enumerate(cluster.follow_pod_log(namespace, pod, until=until), 1):
            if line == runner.begin_marker(token):
                return
            if seen > printed:
                print(line, flush=True)
                printed = seen
        if _terminated(cluster.raw_pod(namespace, pod)) is not None:
            return
    say(f"the log stream of pod/{namespace}/{pod} dropped {LOG_REOPENS} times; waiting quietly")


def _terminated(pod: kube.Raw) -> int | None:
    """The container's exit status once it has ended."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated is not None:
            return int(terminated.get("exitCode", EXIT_RUNNER_LOST))
    return None


def _exit_code(cluster: kube.Cluster, namespace: str, job_name: str, pod: str, timeout: int) -> int:
    """The runner container's exit status, waiting (watch) until the API shows it."""
    until = time.monotonic() + timeout + waits.RUNNER_REPORT.seconds
    last: dict[str, kube.Raw] = {}
    for pods in cluster.observe(
        "pods", namespace, until=until, field_selector=f"metadata.name={pod}"
    ):
        last = pods
        if pod not in pods:
            raise InclusterError(
                f"the runner pod/{namespace}/{pod} was deleted before it finished "
                f"(job/{namespace}/{job_name} past its activeDeadlineSeconds {timeout}?)",
                EXIT_RUNNER_LOST,
            )
        code = _terminated(pods[pod])
        if code is not None:
            return code
    raise waits.WaitTimeout(
        waits.RUNNER_REPORT.name,
        timeout + waits.RUNNER_REPORT.seconds,
        f"pod/{namespace}/{pod} to end",
        kube.to_yaml(list(last.values())),
    )


def _write_reports(log: str, token: str, report_dir: Path) -> tuple[Path, ...]:
    files = extract_reports(log, token)
    if files is None:
        raise InclusterError(
            "the runner's log holds no intact block of reports (the runner was killed, or the "
            "log was cut): no verdict to carry back",
            EXIT_RUNNER_LOST,
        )
    report_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in (runner.JSON_REPORT, runner.JUNIT_REPORT):
        if name in files:
            path = report_dir / name
            path.write_bytes(files[name])
            written.append(path)
    return tuple(written)


def _clean_up(cluster: kube.Cluster, undo: cleanup.UndoStack, namespace: str, run_id: str) -> None:
    """Delete what this run created and wait (bounded) until its namespace is gone."""
    created = len(undo) > 0
    errors = undo.unwind(waits.CLEANUP.seconds)
    for error in errors:
        say(f"cleanup: {error}")
    if created and not errors:
        try:
            waits.Waiter(cluster).namespace_gone(namespace)
        except (kube.KubeError, waits.WaitTimeout) as err:
            errors.append(" ".join(str(err).split()[:40]))
            say(f"cleanup: {errors[-1]}")
        else:
            say(f"deleted namespace {namespace}, its Job, ServiceAccount, ClusterRole and binding")
    if errors:
        say(f"left behind in {namespace}: `podnet sweep --run {run_id}` removes it")
