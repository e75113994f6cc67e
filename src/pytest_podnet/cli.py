"""The ``podnet`` command: ``sweep``, ``rbac``, ``report`` and ``cluster ...`` (the local cluster).

``sweep`` deletes what runs left behind, chosen by the run label ``podnet.io/run`` and never by a
name prefix (that would take concurrent runs with it). Without ``--run`` it only takes namespaces
older than ``--older-than`` (default 1h), so a run in progress is left alone.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from pytest_podnet import __version__

PROG: Final = "podnet"
#: A run whose namespaces are all older than this is surely over (the longest suite takes minutes).
DEFAULT_OLDER_THAN: Final = "1h"
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION: Final = re.compile(r"^(\d+)([smhd]?)$")

_RBAC_GROUP: Final = "rbac.authorization.k8s.io"

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


def duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``1h``, ``2d`` or ``0`` as a ``timedelta`` (argparse type)."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: use e.g. 90s, 30m, 1h, 2d")
    amount, unit = match.groups()
    return timedelta(seconds=int(amount) * _UNITS[unit or "s"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="pytest-podnet: the embedded cluster and cleanup of left-overs."
    )
    parser.add_argument(
        "--version", action="version", version=f"{PROG} (pytest-podnet) {__version__}"
    )
    commands = parser.add_subparsers(
        dest="command", metavar="{cluster,sweep,rbac,incluster,report}", required=True
    )
    commands.add_parser(
        "cluster",
        help="the embedded local cluster: up, down, status, kubeconfig, ... (podnet cluster -h)",
        add_help=False,
    )
    sweep = commands.add_parser(
        "sweep",
        help="delete what pytest-podnet runs left behind, by run label",
        description="Delete the namespaces (and anything else) labelled podnet.io/run=<run id> "
        "by earlier runs. Never matches by name.",
    )
    sweep.add_argument("--run", metavar="ID", help="sweep exactly this run id (any age)")
    sweep.add_argument(
        "--older-than",
        type=duration,
        metavar="AGE",
        help=f"sweep only namespaces older than AGE, e.g. 30m, 1h, 2d, 0 for all "
        f"(default without --run: {DEFAULT_OLDER_THAN})",
    )
    sweep.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig (default: as kubectl)")
    sweep.add_argument("--context", metavar="NAME", help="kubeconfig context (default: current)")
    sweep.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="return once deletion started instead of waiting until the namespaces are gone",
    )
    sweep.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be deleted, delete nothing",
    )
    rbac = commands.add_parser(
        "rbac",
        help="print the least-privilege ClusterRole (and binding) a pytest-podnet run needs",
        description="Print, as YAML for `kubectl apply -f -`, a ClusterRole with exactly the "
        "permissions the preflight checks, and a ClusterRoleBinding for the subjects given.",
    )
    rbac.add_argument("--name", default="pytest-podnet", help="object names (default: %(default)s)")
    rbac.add_argument("--user", action="append", default=[], metavar="NAME", help="bind a user")
    rbac.add_argument("--group", action="append", default=[], metavar="NAME", help="bind a group")
    rbac.add_argument(
        "--serviceaccount",
        action="append",
        default=[],
        metavar="NAMESPACE:NAME",
        help="bind a ServiceAccount",
    )
    rbac.add_argument(
        "--keep",
        action="store_true",
        help="add what --podnet-keep uses: patch on namespaces, to mark a kept namespace so that "
        "later runs leave it alone",
    )
    rbac.add_argument(
        "--confine",
        action="store_true",
        help="print instead the ValidatingAdmissionPolicy and binding that confine the subjects' "
        "creates, updates, deletes, evictions and execs to namespaces labelled "
        "app.kubernetes.io/managed-by=pytest-podnet (manifests/confine.yaml)",
    )
    add_incluster_parser(commands)
    report = commands.add_parser(
        "report",
        help="build the HTML report of a run (Allure 3) from its Allure results and JSON verdict",
        description="Build one self-contained HTML file (REPORT/index.html) from the Allure "
        "results (pytest --alluredir) and the JSON verdict (--podnet-report) of a run, with "
        "pictures of the node-pair matrices and convergence timings (also written to "
        "VERDICT.d/). Installs the pinned Allure 3 with npm on first use.",
    )
    report.add_argument(
        "--results", default="allure-results", metavar="DIR", help="default: %(default)s"
    )
    report.add_argument(
        "--verdict", default="reports/podnet.json", metavar="PATH", help="default: %(default)s"
    )
    report.add_argument(
        "--output", default="reports/html", metavar="DIR", help="default: %(default)s"
    )
    report.add_argument(
        "--no-install",
        dest="install",
        action="store_false",
        help="fail instead of installing Allure with npm when it is not in the cache",
    )
    return parser


def add_incluster_parser(commands: Any) -> None:
    """``podnet incluster [options] [-- pytest args]`` (see ``pytest_podnet.incluster``)."""
    incluster = commands.add_parser(
        "incluster",
        help="run the suites inside the cluster as a Job, bring the verdict and reports back",
        description="Create a namespace, a least-privilege ServiceAccount and a Job running the "
        "runner image; stream its log; write podnet.json and junit.xml to --report-dir; delete "
        "everything; exit with the verdict's status (0 PASS, 1 FAIL, 6 NOT VERIFIED, 4 usage). "
        "Arguments after -- go to pytest --podnet in the Pod.",
    )
    incluster.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig (default: as kubectl)")
    incluster.add_argument(
        "--context", metavar="NAME", help="kubeconfig context (default: current)"
    )
    incluster.add_argument(
        "--image",
        metavar="IMAGE",
        help="runner image (default: the one of this version; on the embedded cluster it is "
        "built and imported into the nodes)",
    )
    incluster.add_argument(
        "--namespace", metavar="NAME", help="namespace to create (default: podnet-incluster-<run>)"
    )
    incluster.add_argument(
        "--report-dir",
        metavar="DIR",
        default="reports",
        help="where podnet.json and junit.xml go (default: %(default)s)",
    )
    incluster.add_argument(
        "--timeout",
        type=int,
        metavar="SECONDS",
        # incluster.DEFAULT_TIMEOUT, not imported here (it loads the client); a unit test checks.
        default=3600,
        help="bound of the run (the Job's activeDeadlineSeconds; default: %(default)s)",
    )
    incluster.add_argument(
        "--build-only",
        action="store_true",
        help="build the runner image's OCI archive, print its path and exit (to push it)",
    )
    incluster.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["cluster"]:
        # The embedded cluster has its own parser; import it only when asked for.
        from pytest_podnet.localcluster import cli as localcluster_cli

        return localcluster_cli.main(args[1:])
    parser = build_parser()
    options = parser.parse_args(args)
    if options.command == "rbac":
        return print_rbac(parser, options)
    if options.command == "incluster":
        return run_incluster(options)
    if options.command == "report":
        return build_report(options)
    return run_sweep(options)


def print_rbac(parser: argparse.ArgumentParser, options: argparse.Namespace) -> int:
    import yaml

    from pytest_podnet.preflight import access, rbac_manifest

    subjects = [{"kind": "User", "name": n, "apiGroup": _RBAC_GROUP} for n in options.user]
    subjects += [{"kind": "Group", "name": n, "apiGroup": _RBAC_GROUP} for n in options.group]
    for account in options.serviceaccount:
        namespace, _, name = account.partition(":")
        if not (namespace and name):
            parser.error(f"--serviceaccount {account!r}: write NAMESPACE:NAME")
        subjects.append({"kind": "ServiceAccount", "name": name, "namespace": namespace})
    if options.confine:
        from pytest_podnet.confine import confine_manifest

        if not subjects:
            parser.error(
                "--confine needs the subjects it confines: --serviceaccount, --user, --group"
            )
        # Wide lines: the CEL expressions stay one readable line each.
        manifest = confine_manifest(options.name, subjects)
        print(yaml.safe_dump_all(manifest, sort_keys=False, width=200), end="")
        return EXIT_OK
    manifest = rbac_manifest(options.name, subjects, access(keep=options.keep))
    print(yaml.safe_dump_all(manifest, sort_keys=False), end="")
    return EXIT_OK


def run_incluster(options: argparse.Namespace) -> int:
    from pathlib import Path

    from pytest_podnet import incluster

    if options.build_only:
        from pytest_podnet.localcluster import images, runner_image

        try:
            print(runner_image.build_runner_image().path)
        except images.ImageBuildError as err:
            print(f"{PROG} incluster: error: {err}", file=sys.stderr)
            return incluster.EXIT_USAGE
        return EXIT_OK
    request = incluster.Request(
        kubeconfig=options.kubeconfig,
        context=options.context,
        image=options.image,
        namespace=options.namespace,
        report_dir=Path(options.report_dir),
        pytest_args=tuple(options.pytest_args),
        timeout=options.timeout,
    )
    return incluster.run(request)


def build_report(options: argparse.Namespace) -> int:
    from pytest_podnet import htmlreport

    try:
        built = htmlreport.build(
            options.results, options.verdict, options.output, install=options.install
        )
    except (htmlreport.ReportError, OSError, subprocess.TimeoutExpired) as err:
        print(f"{PROG} report: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{PROG} report: {built.checks} check(s), {len(built.pictures)} picture(s)")
    for picture in built.pictures:
        print(f"{PROG} report: picture {picture}")
    print(f"{PROG} report: open {built.index}")
    return EXIT_OK


def run_sweep(options: argparse.Namespace) -> int:
    from pytest_podnet import cleanup, kube, waits

    try:
        cluster = kube.Cluster.connect(
            options.kubeconfig, options.context, connect_timeout=waits.PREFLIGHT_CONNECT.seconds
        )
    except kube.KubeError as err:
        _say(f"cannot connect: {_one_line(err)}{_connect_fix(err)}", error=True)
        return EXIT_USAGE
    if cluster.insecure:
        _say(
            f"warning: context {cluster.context_name} has insecure-skip-tls-verify: true, the "
            "API server's certificate is not checked"
        )
    older_than = options.older_than
    if older_than is None and options.run is None:
        older_than = duration(DEFAULT_OLDER_THAN)
    try:
        result = cleanup.sweep(
            cluster,
            options.run,
            older_than=older_than,
            wait=options.wait,
            dry_run=options.dry_run,
        )
    except (kube.KubeError, waits.WaitTimeout) as err:
        _say(_one_line(err), error=True)
        return EXIT_FAILED
    verb = "would delete" if options.dry_run else "deleted"
    for kind, namespace, name in result.deleted:
        _say(f"{verb} {kind.lower()} {name if namespace is None else f'{namespace}/{name}'}")
    for error in result.errors:
        _say(_one_line(error), error=True)
    scope = f"run {options.run}" if options.run else "every pytest-podnet run"
    age = f" older than {older_than}" if older_than is not None else ""
    outcome = "would be deleted (dry run, nothing deleted)" if options.dry_run else "deleted"
    _say(f"{len(result.deleted)} object(s) of {scope}{age} {outcome}")
    return EXIT_FAILED if result.errors else EXIT_OK


def _connect_fix(err: Exception) -> str:
    """The fix for a kubeconfig problem, in this command's own flags."""
    option = getattr(err, "option", None)
    if option == "kubeconfig":
        return ": pass --kubeconfig=PATH or set KUBECONFIG to a kubeconfig file"
    if option == "context":
        return "; fix: pass --context=NAME with one of those contexts"
    return ""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _say(message: str, *, error: bool = False) -> None:
    print(
        f"{PROG} sweep: {'error: ' if error else ''}{message}",
        file=sys.stderr if error else sys.stdout,
    )
