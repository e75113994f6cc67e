"""pytest hooks of pytest-podnet (entry point ``podnet``); the modules they call do the work.

Inert unless asked: without ``--podnet`` (or ini ``podnet = true``) no hook connects to anything or
changes another project's run; tests that use the podnet fixtures are skipped with the reason.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Generator
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from pytest_podnet import allure_labels, report
from pytest_podnet.settings import (
    OPTIONS,
    UPGRADE_PHASE_ENV,
    WORKER_KUBECONFIG,
    WORKER_RUN_ID,
    Settings,
    SkipReason,
)
from pytest_podnet.stash import (
    CLUSTER_KEY,
    NAMESPACES_KEY,
    OWNER_KEY,
    PHASE_REPORTS_KEY,
    PROBE_POOL_USED_KEY,
    SETTINGS_KEY,
)

if TYPE_CHECKING:
    from xdist.workermanage import WorkerController

MARKERS = (
    "podnet_guarantee(id): the guarantee (G1, G2 or G3) a pytest-podnet check proves; "
    "groups the check in the verdict table and the JSON report",
    "podnet_quick: the representative check of a guarantee, selected by --podnet-quick",
    "podnet_g1: added to every check of guarantee G1 (Pod IPs are ephemeral): -m podnet_g1",
    "podnet_g2: added to every check of guarantee G2 (flat network, no NAT): -m podnet_g2",
    "podnet_g3: added to every check of guarantee G3 (Services are the stable address): "
    "-m podnet_g3",
    "podnet_upgrade: added to the upgrade gate's middle-phase check (guarantee UPGRADE: the Pod "
    "network held through --podnet-upgrade-command)",
    "podnet_cross_node: the check needs two schedulable nodes; skipped on a one-node cluster",
    "podnet_slow(why): the check spends seconds mostly waiting (an observation window, a "
    "timeout that is the observation); run before the others, so that parallel workers fill "
    "its wait; deselect with -m 'not podnet_slow'",
    "podnet_privileged: the check needs hostNetwork or privileged Pods; skipped unless "
    "--podnet-privileged",
)
#: xdist workers of the quick profile when no -n is given: one per guarantee's representative
#: check, so the three run side by side (a worker starts in about a second; the checks take a
#: few seconds each, mostly waiting for the cluster).
QUICK_WORKERS = 3
#: The module defining the fixtures, registered as a plugin when --podnet is given.
FIXTURES_PLUGIN = "pytest_podnet.fixtures"
#: Fixtures of FIXTURES_PLUGIN a test may request directly; skipped with a reason without --podnet.
FIXTURE_NAMES = frozenset({"podnet", "podnet_cluster"})
#: ``config.workerinput`` key carrying the controller's preflight facts to xdist workers.
WORKER_FACTS = "podnet_facts"
#: ``config.workerinput`` key carrying the controller's owner record (``owner.Owner``).
WORKER_OWNER = "podnet_owner"
#: ``config.workeroutput`` key: whether the worker handed out the run's shared probe Pods.
WORKER_PROBE_POOL_USED = "podnet_probe_pool_used"

_KUBECONFIG_KEY = pytest.StashKey[str | None]()
_FACTS_KEY = pytest.StashKey[dict[str, Any]]()
_STARTED_LOCAL_KEY = pytest.StashKey[bool]()
_NOT_VERIFIED_PROPERTY = (report.OUTCOME_PROPERTY, report.NOT_VERIFIED)
_PHASE_OUTCOMES_KEY = pytest.StashKey[list["report.Outcome"]]()
#: Lines the verdict's summary adds after the table (what the session could not clean up).
_NOTES_KEY = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("podnet", "pytest-podnet (Pod-networking guarantees on a cluster)")
    for option in OPTIONS:
        if option.is_flag:
            group.addoption(
                option.flag, action="store_true", default=None, dest=option.dest, help=option.help
            )
            parser.addini(
                option.ini, f"default of {option.flag}: {option.help}", type="bool", default=False
            )
        else:
            group.addoption(
                option.flag,
                dest=option.dest,
                default=None,
                metavar=option.metavar,
                choices=option.choices,
                help=option.help,
            )
            parser.addini(option.ini, f"default of {option.flag}: {option.help}", default="")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if config.getoption("podnet_list_images") or config.getini("podnet_list_images"):
        for image in Settings.from_config(config).images:
            print(image)
        return 0
    if _runs_upgrade_gate(config):
        from pytest_podnet import upgradegate

        return upgradegate.run_gate(config, Settings.from_config(config))
    if _runs_quick_side_by_side(config):
        # Before xdist's own cmdline_main, which turns -n into its workers.
        config.option.numprocesses = QUICK_WORKERS
    return None


def _runs_quick_side_by_side(config: pytest.Config) -> bool:
    """Whether this run is the quick profile left to choose its workers: asked for with
    ``--podnet``, no ``-n`` given, xdist present, and a run of checks (not a worker, not
    --pdb, not a listing, not the upgrade gate's middle phase)."""
    if not hasattr(config.option, "numprocesses") or config.option.numprocesses is not None:
        return False
    settings = Settings.from_config(config)
    if not (settings.enabled and settings.quick) or settings.upgrade_phase == "during":
        return False
    option = config.option
    return not (
        _is_worker(config)
        or getattr(option, "usepdb", False)
        or option.collectonly
        or option.help
        or option.version
    )


def _runs_upgrade_gate(config: pytest.Config) -> bool:
    """Whether this process is the upgrade gate's parent: asked for, not one of its phases, not
    an xdist worker, and not a run that only shows something (--help, --collect-only)."""
    asked = config.getoption("podnet_upgrade_command") or config.getini("podnet_upgrade_command")
    if not asked or os.environ.get(UPGRADE_PHASE_ENV) or _is_worker(config):
        return False
    return not (config.option.help or config.option.collectonly or config.option.version)


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    settings = Settings.from_config(config)
    config.stash[SETTINGS_KEY] = settings
    if not settings.enabled:
        return
    if config.args_source is pytest.Config.ArgsSource.INVOCATION_DIR and not config.getini(
        "testpaths"
    ):
        # No test path given and no testpaths ini: run the packaged conformance suites rather
        # than whatever lies in the current directory (xdist workers decide the same way).
        from pytest_podnet.packaged import suites_dir

        config.args = [str(suites_dir())]
    if settings.upgrade_phase == "during":
        # The gate's middle phase runs its one check, whatever selected the suites.
        from pytest_podnet.packaged import upgrade_dir

        config.args = [str(upgrade_dir())]
        config.option.keyword = ""
        config.option.markexpr = ""
    _end_on_sigterm_as_on_ctrl_c(config)
    # Only when asked: the fixtures import the Kubernetes client, which other projects' runs
    # should not pay for. Without --podnet, tests that ask for them are skipped at collection.
    config.pluginmanager.import_plugin(FIXTURES_PLUGIN)
    if not _is_worker(config) and not _only_lists(config):
        config.pluginmanager.register(VerdictCollector(config), VerdictCollector.name)


def _end_on_sigterm_as_on_ctrl_c(config: pytest.Config) -> None:
    """SIGTERM (a CI job cancelled, ``timeout``, a deleted Job's Pod) ends the run the way
    Ctrl-C does: the running check's teardown deletes what it created and the verdict is
    still written (interrupted, exit 2), instead of the process dying at once with nothing.

    Left alone when the process already handles SIGTERM, or when not on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    config.add_cleanup(restore)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"{signal.Signals(signum).name} received")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    settings = config.stash[SETTINGS_KEY]
    if not settings.enabled or _only_lists(config):
        return
    from pytest_podnet import preflight

    if _is_worker(config):
        workerinput = config.workerinput  # type: ignore[attr-defined]
        config.stash[_FACTS_KEY] = dict(workerinput.get(WORKER_FACTS, {}))
        config.stash[OWNER_KEY] = str(workerinput.get(WORKER_OWNER, ""))
        config.stash[CLUSTER_KEY] = preflight.connect(settings)
        return
    from pytest_podnet import owner

    config.stash[OWNER_KEY] = owner.Owner.of_process().annotation
    kubeconfig = settings.kubeconfig
    try:
        if settings.cluster == "local":
            path, started = preflight.start_local_cluster(settings)
            config.stash[_STARTED_LOCAL_KEY] = started
            kubeconfig = str(path)
        cluster, facts = preflight.run(settings, kubeconfig=kubeconfig)
    except pytest.UsageError as err:
        collector = config.pluginmanager.get_plugin(VerdictCollector.name)
        if isinstance(collector, VerdictCollector):
            collector.preflight_error = str(err)
        raise
    config.stash[_KUBECONFIG_KEY] = kubeconfig
    config.stash[CLUSTER_KEY] = cluster
    config.stash[_FACTS_KEY] = facts
    facts["reaped"] = _reap_dead_runs(cluster)
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir:
        env = allure_labels.environment(
            facts, images=settings.images, run_id=settings.run_id, cluster=settings.cluster
        )
        allure_labels.write_environment(alluredir, env)
        allure_labels.write_categories(alluredir)


def _reap_dead_runs(cluster: Any) -> list[str]:
    """Remove what runs that are provably gone left behind; say what, never fail the run."""
    from pytest_podnet import cleanup, kube, owner

    try:
        reaped = cleanup.reap_dead_runs(cluster, owner.Owner.of_process())
    except kube.KubeError as err:
        return [f"could not look for namespaces of dead runs: {err}"]
    return [f"removed namespace {r.namespace} of run {r.run_id} ({r.why})" for r in reaped]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: WorkerController) -> None:
    config = node.config
    settings = config.stash[SETTINGS_KEY]
    node.workerinput[WORKER_RUN_ID] = settings.run_id
    if not settings.enabled:
        return
    kubeconfig = config.stash.get(_KUBECONFIG_KEY, None)
    if kubeconfig is not None:
        node.workerinput[WORKER_KUBECONFIG] = kubeconfig
    node.workerinput[WORKER_FACTS] = config.stash.get(_FACTS_KEY, {})
    node.workerinput[WORKER_OWNER] = config.stash.get(OWNER_KEY, "")


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    settings = config.stash[SETTINGS_KEY]
    if not settings.enabled:
        return None
    facts = config.stash.get(_FACTS_KEY, {})
    return report.header_lines(
        facts, settings.images, settings.run_id, settings.timeout_scale, gate_policy(settings)
    )


def gate_policy(settings: Settings) -> report.Policy:
    """What the gate demands of this run, from the settings."""
    return report.Policy(
        require=settings.require,
        allow_skip=frozenset(settings.allow_skip),
        not_requested=frozenset() if settings.privileged else frozenset({"privileged"}),
        # The upgrade gate's middle phase checks one thing: G1-G3 are its other phases' job.
        known=() if settings.upgrade_phase == "during" else tuple(report.GUARANTEES),
    )


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m/-k deselection sees the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = config.stash[SETTINGS_KEY]
    if settings.quick and settings.upgrade_phase != "during":
        selected = [item for item in items if item.get_closest_marker("podnet_quick")]
        deselected = [item for item in items if not item.get_closest_marker("podnet_quick")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected
    if settings.enabled:
        # The checks that mostly wait go first: a worker that waits leaves the machine to the
        # other workers' checks, and no wait is left to end the run alone (sorted() is stable).
        items[:] = sorted(items, key=lambda item: item.get_closest_marker("podnet_slow") is None)
    node_count = len(config.stash.get(_FACTS_KEY, {}).get("nodes", [])) or None
    for item in items:
        guarantee = item.get_closest_marker("podnet_guarantee")
        if guarantee is not None:
            gid = _guarantee_id(item, guarantee)
            item.user_properties.append((report.GUARANTEE_PROPERTY, gid))
            # `-m podnet_g2` selects one guarantee (a marker argument cannot be matched by -m).
            item.add_marker(f"podnet_{gid.lower()}")
            allure_labels.label(item, gid)
        skip = _skip_reason(item, settings, node_count)
        if skip:
            why, kind = skip
            if kind is not None:
                item.user_properties.append((report.SKIP_PROPERTY, kind))
            item.add_marker(pytest.mark.skip(reason=why))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    settings = item.config.stash[SETTINGS_KEY]
    marker = item.get_closest_marker("podnet_guarantee")
    outcome: report.Outcome | None = None
    if settings.enabled and marker is not None:
        outcome = _judge(item, call, _guarantee_id(item, marker))
        if call.when == "teardown":
            # JUnit takes a test's properties from its teardown report: the check's outcome.
            phases = [*item.stash.get(_PHASE_OUTCOMES_KEY, []), *([outcome] if outcome else [])]
            item.user_properties.append(
                (report.OUTCOME_PROPERTY, report.check_outcome(phases or [report.PASS]))
            )
    rep = yield
    if outcome is not None and rep.failed:
        rep.user_properties.append((report.OUTCOME_PROPERTY, outcome))
    if rep.skipped and marker is not None and call.when != "teardown":
        item.stash.setdefault(_PHASE_OUTCOMES_KEY, []).append(report.SKIPPED)
    item.stash.setdefault(PHASE_REPORTS_KEY, {})[rep.when] = rep
    namespaces = item.stash.get(NAMESPACES_KEY, None)
    cluster = item.config.stash.get(CLUSTER_KEY, None)
    if rep.when in ("setup", "call") and rep.failed and namespaces and cluster is not None:
        from pytest_podnet import diagnostics

        report.attach_diagnostics(rep, lambda: diagnostics.collect(cluster, namespaces))
    return rep


def _judge(item: pytest.Item, call: pytest.CallInfo[None], gid: str) -> report.Outcome | None:
    """Classify the exception of a failed phase; say the guarantee and the outcome first.

    FAIL keeps its traceback (the check's own frames); NOT VERIFIED is shown as one short block
    (what was attempted, the status, the cause and the fix) without the client library's frames.
    """
    excinfo = call.excinfo
    if excinfo is None or isinstance(excinfo.value, pytest.skip.Exception | pytest.exit.Exception):
        return None
    if isinstance(excinfo.value, KeyboardInterrupt | SystemExit):
        return None
    from pytest_podnet import outcomes

    judged = outcomes.classify(excinfo.value)
    item.stash.setdefault(_PHASE_OUTCOMES_KEY, []).append(judged.outcome)
    title = report.GUARANTEES.get(gid, "")
    head = f"{gid} ({title})" if title else gid
    if judged.outcome == report.NOT_VERIFIED:
        where = "" if call.when == "call" else f" (in {call.when})"
        text = _without_guarantee_prefix(judged.text, gid)
        call.excinfo = outcomes.short_excinfo(f"{head} not verified{where}: {text}")
    else:
        _prefix_message(excinfo.value, f"{head} broken: ", gid)
    return judged.outcome


def _without_guarantee_prefix(text: str, gid: str) -> str:
    """``G2: 1 of 2 pairs ...`` -> ``1 of 2 pairs ...``: the plugin says the guarantee once."""
    return text.removeprefix(f"{gid}:").lstrip() if text.startswith(f"{gid}:") else text


def _prefix_message(error: BaseException, head: str, gid: str) -> None:
    if error.args and isinstance(error.args[0], str):
        if not error.args[0].startswith(head):
            error.args = (head + _without_guarantee_prefix(error.args[0], gid), *error.args[1:])
    elif isinstance(error, AssertionError) and not error.args:
        error.args = (head + "an assertion of the check failed",)


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    """A NOT VERIFIED check stays a failure to pytest (its block is in FAILURES) but shows as
    ``N`` / ``NOT VERIFIED`` in the progress line, so nobody reads it as broken."""
    if report.failed and _NOT_VERIFIED_PROPERTY in getattr(report, "user_properties", ()):
        return "failed", "N", "NOT VERIFIED"
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: WorkerController, error: object) -> None:
    if getattr(node, "workeroutput", {}).get(WORKER_PROBE_POOL_USED):
        node.config.stash[PROBE_POOL_USED_KEY] = True


@pytest.hookimpl(trylast=True)  # after the session's fixtures ended: the probe pool's says if used
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    settings = config.stash[SETTINGS_KEY]
    used = config.stash.get(PROBE_POOL_USED_KEY, False)
    if _is_worker(config):
        config.workeroutput[WORKER_PROBE_POOL_USED] = used  # type: ignore[attr-defined]
        return
    cluster = config.stash.get(CLUSTER_KEY, None)
    if not used or cluster is None:
        return
    from pytest_podnet import fixtures, kube, probepool, waits

    if settings.keep == "always":
        namespace = probepool.shared_namespace(settings.run_id)
        if problem := fixtures.mark_kept(cluster, namespace, settings.keep):
            config.stash.setdefault(_NOTES_KEY, []).append(f"kept {namespace}{problem}")
        return
    try:
        # An upgrade gate's phase waits them out: the user's upgrade, which drains nodes, may
        # follow it at once; any other run leaves them going, as it leaves the checks' own.
        probepool.close_shared(
            cluster,
            settings.run_id,
            settings.timeout_scale,
            wait=settings.upgrade_phase is not None,
        )
    except (kube.KubeError, waits.WaitTimeout) as exc:
        namespace = probepool.shared_namespace(settings.run_id)
        config.stash.setdefault(_NOTES_KEY, []).append(
            f"could not delete the probe Pods' namespace {namespace} ({exc}); "
            f"`podnet sweep --run {settings.run_id}` removes it"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_STARTED_LOCAL_KEY, False):
        from pytest_podnet import preflight

        preflight.stop_local_cluster()


def _only_lists(config: pytest.Config) -> bool:
    """Runs that list tests or fixtures and run none need no cluster."""
    option = config.option
    return bool(
        getattr(option, "collectonly", False)
        or getattr(option, "showfixtures", False)
        or getattr(option, "show_fixtures_per_test", False)
    )


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _guarantee_id(item: pytest.Item, marker: pytest.Mark) -> str:
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise pytest.UsageError(
            f"{item.nodeid}: write podnet_guarantee with one id, e.g. "
            f'pytest.mark.podnet_guarantee("G1"); got args {marker.args!r}'
        )
    return marker.args[0]


def _uses_podnet(item: pytest.Item) -> bool:
    # The exact names, not a "podnet_*" prefix: other projects may name their fixtures so.
    return not FIXTURE_NAMES.isdisjoint(getattr(item, "fixturenames", ()))


def _skip_reason(
    item: pytest.Item, settings: Settings, node_count: int | None
) -> tuple[str, SkipReason | None] | None:
    """Why ``item`` is skipped, and the kind of skip the gate judges (None: not a check's)."""
    if not settings.enabled:
        if _uses_podnet(item):
            return "pass --podnet to run pytest-podnet checks against a Kubernetes cluster", None
        return None
    if item.get_closest_marker("podnet_privileged") and not settings.privileged:
        return "needs hostNetwork or privileged Pods: pass --podnet-privileged to run it", (
            "privileged"
        )
    if item.get_closest_marker("podnet_cross_node") and node_count is not None and node_count < 2:
        return f"needs 2 schedulable nodes, the cluster has {node_count}", "cross-node"
    return None


class VerdictCollector:
    """Per-guarantee verdicts from every test's reports; on the controller when xdist runs.

    It also decides the exit code of a run that has guarantee checks (``report.Ledger.gate``),
    and writes the JSON verdict; a failure to write it is said after the table, never over it.
    """

    name = "podnet-verdict"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.policy = gate_policy(config.stash[SETTINGS_KEY])
        self.ledger = report.Ledger(self.policy)
        self.preflight_error: str | None = None
        self.written = False
        self.write_error: str | None = None
        self.other_failures = False
        self.exit_code: int | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.ledger.add(report)
        # xdist's stand-in report for a check whose worker died carries no properties: the
        # check's earlier phases told the ledger its guarantee, so it is no "other" failure.
        if report.failed and not (
            _is_guarantee_report(report) or self.ledger.guarantee_of(report.nodeid)
        ):
            self.other_failures = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        status = int(exitstatus)
        if self.ledger.has_checks and status in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            self.exit_code = self.ledger.gate(other_failures=self.other_failures)
            session.exitstatus = self.exit_code
            status = self.exit_code
        self._write(status)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.section("podnet verdict")
        for line in self.config.stash.get(_FACTS_KEY, {}).get("reaped", []):
            terminalreporter.line(f"podnet: {line}")
        for line in self.config.stash.get(_NOTES_KEY, []):
            terminalreporter.line(f"podnet: {line}", yellow=True)
        if not self.ledger.has_checks:
            # The project's own tests, or a user's without guarantee checks: no verdict to give.
            terminalreporter.line("podnet: no guarantee check ran in this session; no verdict")
        else:
            for line in report.verdict_table(self.ledger.verdicts()):
                terminalreporter.line(line)
        if self.exit_code is not None:
            terminalreporter.line(report.gate_line(self.exit_code, self.policy))
        path = self.config.stash[SETTINGS_KEY].report_path
        if self.write_error:
            terminalreporter.line(f"podnet: {self.write_error}", red=True)
        elif path and self.written:
            terminalreporter.line(f"podnet: JSON verdict written to {path}")

    def pytest_unconfigure(self) -> None:
        # A failed preflight ends the run before sessionfinish; CI still gets a verdict file.
        if not self.written and self.preflight_error is not None:
            self._write(int(pytest.ExitCode.USAGE_ERROR))
            if self.write_error:
                sys.stderr.write(f"podnet: {self.write_error}\n")

    def _write(self, exitstatus: int) -> None:
        settings = self.config.stash[SETTINGS_KEY]
        if not settings.report_path:
            return
        facts: dict[str, Any] = self.config.stash.get(_FACTS_KEY, {})
        run = {
            "run_id": settings.run_id,
            "exit_status": exitstatus,
            "preflight_error": self.preflight_error,
            "cluster": settings.cluster,
            "images": list(settings.images),
            "timeout_scale": settings.timeout_scale,
            "ip_reuse": settings.ip_reuse,
            "require": list(self.policy.require),
            "allow_skip": sorted(self.policy.allow_skip),
            "not_requested": sorted(self.policy.not_requested),
            **facts,
        }
        document = report.verdict_document(self.ledger.results, self.ledger.verdicts(), run=run)
        try:
            report.write_json(settings.report_path, document)
        except OSError as err:
            self.write_error = (
                f"could not write the JSON verdict to {settings.report_path}: "
                f"{err.strerror or err}; the verdict above stands"
            )
        else:
            self.written = True


def _is_guarantee_report(rep: pytest.TestReport) -> bool:
    return any(name == report.GUARANTEE_PROPERTY for name, _ in rep.user_properties)
