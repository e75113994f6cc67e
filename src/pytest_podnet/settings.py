"""One frozen ``Settings`` per session, built from the command line and the ini file.

Every ``--podnet-*`` option has an ini twin (``podnet_*``); the command line wins. Values are
checked here, once, so a mistake is a ``pytest.UsageError`` naming the fix before anything connects.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import pytest

from pytest_podnet.localcluster import paths as local_paths
from pytest_podnet.localcluster.versions import AGNHOST_IMAGE

Keep = Literal["never", "on-failure", "always"]
IpReuse = Literal["strict", "allow"]
ClusterKind = Literal["external", "local"]
#: What a required check may be skipped for, when the user opts out of it by name.
SkipReason = Literal["cross-node", "privileged"]

CLUSTER_CHOICES: Final[tuple[ClusterKind, ...]] = ("external", "local")
KEEP_CHOICES: Final[tuple[Keep, ...]] = ("never", "on-failure", "always")
IP_REUSE_CHOICES: Final[tuple[IpReuse, ...]] = ("strict", "allow")
SKIP_REASONS: Final[tuple[SkipReason, ...]] = ("cross-node", "privileged")
#: The guarantees a run must PASS to exit 0, unless --podnet-require says otherwise.
DEFAULT_REQUIRE: Final = ("G1", "G2", "G3")
#: The guarantee id of the upgrade gate's middle phase: the Pod network held through the command.
UPGRADE_GUARANTEE: Final = "UPGRADE"
#: Nodes the checks pin Pods to: Linux only, so agnhost never lands on a Windows node.
DEFAULT_NODE_SELECTOR: Final = "kubernetes.io/os=linux"
#: Two nodes, so the cross-node checks of G2 run on the embedded cluster by default.
DEFAULT_LOCAL_NODES: Final = 2
#: Seconds any monitored path may be out while the upgrade command runs: kube-proxy's minimum
#: sync period and a kubelet restart fit in it; a dataplane left down for one node's turn does not.
DEFAULT_OUTAGE_BUDGET: Final = 5.0
#: Seconds the upgrade command may run before the gate gives up on it (NOT VERIFIED).
DEFAULT_UPGRADE_TIMEOUT: Final = 3600.0
#: Environment variable through which the upgrade gate tells its child sessions their phase.
UPGRADE_PHASE_ENV: Final = "PODNET_UPGRADE_PHASE"
UpgradePhase = Literal["before", "during", "after"]
UPGRADE_PHASES: Final[tuple[UpgradePhase, ...]] = ("before", "during", "after")

#: Keys of ``config.workerinput`` through which the xdist controller hands its decisions to workers.
WORKER_RUN_ID: Final = "podnet_run_id"
WORKER_KUBECONFIG: Final = "podnet_kubeconfig"


@dataclass(frozen=True)
class Option:
    """One ``--podnet-*`` option and its ini twin."""

    dest: str
    flag: str
    ini: str
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    is_flag: bool = False


#: Every option of the ``podnet`` group, in ``--help`` order. The ini twin of ``--podnet-x-y``
#: is ``podnet_x_y``.
OPTIONS: Final[tuple[Option, ...]] = (
    Option(
        "podnet",
        "--podnet",
        "podnet",
        "run the pytest-podnet checks against a Kubernetes cluster (without it the plugin "
        "connects to nothing and skips tests that use the podnet fixtures)",
        is_flag=True,
    ),
    Option(
        "podnet_kubeconfig",
        "--podnet-kubeconfig",
        "podnet_kubeconfig",
        "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster config in a Pod)",
        metavar="PATH",
    ),
    Option(
        "podnet_context",
        "--podnet-context",
        "podnet_context",
        "kubeconfig context (default: the current context)",
        metavar="NAME",
    ),
    Option(
        "podnet_cluster",
        "--podnet-cluster",
        "podnet_cluster",
        "external: the cluster of the kubeconfig; local: start (or reuse) the embedded local "
        "cluster for the session (default: external)",
        choices=CLUSTER_CHOICES,
    ),
    Option(
        "podnet_image",
        "--podnet-image",
        "podnet_image",
        f"agnhost image for echo and client Pods, e.g. a mirror (default: {AGNHOST_IMAGE})",
        metavar="IMAGE",
    ),
    Option(
        "podnet_list_images",
        "--podnet-list-images",
        "podnet_list_images",
        "print the images a run needs, one a line, and exit",
        is_flag=True,
    ),
    Option(
        "podnet_timeout_scale",
        "--podnet-timeout-scale",
        "podnet_timeout_scale",
        "multiply every named deadline by this factor, for slow clusters (default: 1.0)",
        metavar="FACTOR",
    ),
    Option(
        "podnet_keep",
        "--podnet-keep",
        "podnet_keep",
        "keep a test's namespace after it: never, on-failure or always (default: never); "
        "later runs leave it alone, `podnet sweep --run ID` removes it",
        choices=KEEP_CHOICES,
    ),
    Option(
        "podnet_ip_reuse",
        "--podnet-ip-reuse",
        "podnet_ip_reuse",
        "strict: a replacement Pod reusing the old IP fails the check; allow: report the reuse "
        "as a measured value instead (default: strict)",
        choices=IP_REUSE_CHOICES,
    ),
    Option(
        "podnet_report",
        "--podnet-report",
        "podnet_report",
        "write the JSON verdict (every check, its guarantee, outcome and measured values) to PATH",
        metavar="PATH",
    ),
    Option(
        "podnet_privileged",
        "--podnet-privileged",
        "podnet_privileged",
        "also run checks that need hostNetwork or privileged Pods (skipped otherwise)",
        is_flag=True,
    ),
    Option(
        "podnet_local_nodes",
        "--podnet-local-nodes",
        "podnet_local_nodes",
        f"number of nodes of the embedded local cluster (default: {DEFAULT_LOCAL_NODES})",
        metavar="N",
    ),
    Option(
        "podnet_require",
        "--podnet-require",
        "podnet_require",
        "comma-separated guarantees the run must PASS to exit 0 (default: G1,G2,G3); a required "
        "guarantee that FAILs exits 1, one NOT VERIFIED exits 6",
        metavar="IDS",
    ),
    Option(
        "podnet_allow_skip",
        "--podnet-allow-skip",
        "podnet_allow_skip",
        "comma-separated kinds of required checks that may be skipped without making their "
        "guarantee NOT VERIFIED: cross-node (a one-node cluster), privileged (default: none)",
        metavar="KINDS",
    ),
    Option(
        "podnet_node_selector",
        "--podnet-node-selector",
        "podnet_node_selector",
        "label selector of the nodes the checks run on "
        f"(default: {DEFAULT_NODE_SELECTOR}); other nodes are named in the header and left out",
        metavar="SELECTOR",
    ),
    Option(
        "podnet_namespace_labels",
        "--podnet-namespace-labels",
        "podnet_namespace_labels",
        "extra labels for the test namespaces, KEY=VALUE,... (e.g. what an admission policy "
        "demands before it admits the checks' objects)",
        metavar="LABELS",
    ),
    Option(
        "podnet_namespace_annotations",
        "--podnet-namespace-annotations",
        "podnet_namespace_annotations",
        "extra annotations for the test namespaces, KEY=VALUE,...",
        metavar="ANNOTATIONS",
    ),
    Option(
        "podnet_quick",
        "--podnet-quick",
        "podnet_quick",
        "select only the checks marked podnet_quick (one representative check per guarantee) "
        "and run them side by side, an xdist worker each, unless -n is given (-n 0: one after "
        "another)",
        is_flag=True,
    ),
    Option(
        "podnet_upgrade_command",
        "--podnet-upgrade-command",
        "podnet_upgrade_command",
        "gate an upgrade: run the checks, then COMMAND (a shell command line: your upgrade, "
        "node-pool roll or CNI update) while every Pod-network path is probed, then the checks "
        "again; one verdict (see docs/upgrade-gate.md)",
        metavar="COMMAND",
    ),
    Option(
        "podnet_outage_budget",
        "--podnet-outage-budget",
        "podnet_outage_budget",
        "seconds any monitored path may be out while the upgrade command runs "
        f"(default: {DEFAULT_OUTAGE_BUDGET:g})",
        metavar="SECONDS",
    ),
    Option(
        "podnet_upgrade_timeout",
        "--podnet-upgrade-timeout",
        "podnet_upgrade_timeout",
        "seconds the upgrade command may run; longer is NOT VERIFIED "
        f"(default: {DEFAULT_UPGRADE_TIMEOUT:g})",
        metavar="SECONDS",
    ),
)


@dataclass(frozen=True)
class Settings:
    """What the user asked of this session; see ``docs/architecture.md`` for the fields."""

    enabled: bool
    kubeconfig: str | None
    context: str | None
    cluster: ClusterKind
    image: str
    timeout_scale: float
    keep: Keep
    ip_reuse: IpReuse
    report_path: str | None
    run_id: str
    privileged: bool
    local_nodes: int
    quick: bool = False
    list_images: bool = False
    require: tuple[str, ...] = DEFAULT_REQUIRE
    allow_skip: frozenset[SkipReason] = frozenset()
    node_selector: str = DEFAULT_NODE_SELECTOR
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    namespace_annotations: Mapping[str, str] = field(default_factory=dict)
    upgrade_command: str | None = None
    outage_budget: float = DEFAULT_OUTAGE_BUDGET
    upgrade_timeout: float = DEFAULT_UPGRADE_TIMEOUT
    #: Set in the upgrade gate's child sessions (``UPGRADE_PHASE_ENV``); None elsewhere.
    upgrade_phase: UpgradePhase | None = None

    @property
    def images(self) -> tuple[str, ...]:
        """Every image a run's Pods use, in the order ``--podnet-list-images`` prints them.

        The pause (sandbox) image is the cluster's own: its kubelet/runtime choose it, not a run.
        """
        return (self.image,)

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        """Build the settings from ``config``; raise ``pytest.UsageError`` naming the fix."""
        values = _Values(config)
        enabled = values.flag("podnet")
        if not enabled:
            given = values.given_without_podnet()
            if given:
                raise pytest.UsageError(
                    f"{', '.join(given)} given without --podnet: add --podnet (or ini podnet = "
                    "true) to run the pytest-podnet checks, or drop the podnet option"
                )
        cluster = values.choice("podnet_cluster", CLUSTER_CHOICES, "external")
        kubeconfig = values.path("podnet_kubeconfig")
        context = values.text("podnet_context")
        if cluster == "local":
            if kubeconfig is not None or context is not None:
                raise pytest.UsageError(
                    "--podnet-cluster=local brings its own kubeconfig: drop --podnet-kubeconfig "
                    "and --podnet-context (or their ini twins), or use --podnet-cluster=external"
                )
            kubeconfig = str(local_paths.admin_kubeconfig())
        workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
        if workerinput is not None and WORKER_KUBECONFIG in workerinput:
            kubeconfig = workerinput[WORKER_KUBECONFIG]
        if workerinput is not None and WORKER_RUN_ID in workerinput:
            run_id = str(workerinput[WORKER_RUN_ID])
        else:
            run_id = new_run_id()
        report_path = values.path("podnet_report")
        if enabled and report_path is not None:
            _check_writable(report_path, values.source("podnet_report"))
        upgrade_phase = _upgrade_phase()
        upgrade_command = values.text("podnet_upgrade_command")
        if upgrade_command is not None and cluster == "local":
            raise pytest.UsageError(
                f"{values.source('podnet_upgrade_command')} needs a cluster that outlives the "
                "gate's three sessions, and --podnet-cluster=local stops its cluster after each: "
                "start it with `podnet cluster up` and pass --podnet-kubeconfig "
                '"$(podnet cluster kubeconfig)" instead'
            )
        require = values.guarantees("podnet_require", DEFAULT_REQUIRE)
        if upgrade_phase == "during":
            require = (UPGRADE_GUARANTEE,)
        return cls(
            enabled=enabled,
            kubeconfig=kubeconfig,
            context=context,
            cluster=cluster,
            image=values.text("podnet_image") or AGNHOST_IMAGE,
            timeout_scale=values.positive_float("podnet_timeout_scale", 1.0),
            keep=values.choice("podnet_keep", KEEP_CHOICES, "never"),
            ip_reuse=values.choice("podnet_ip_reuse", IP_REUSE_CHOICES, "strict"),
            report_path=report_path,
            run_id=run_id,
            privileged=values.flag("podnet_privileged"),
            local_nodes=values.positive_int("podnet_local_nodes", DEFAULT_LOCAL_NODES),
            quick=values.flag("podnet_quick"),
            list_images=values.flag("podnet_list_images"),
            require=require,
            allow_skip=frozenset(values.choices("podnet_allow_skip", SKIP_REASONS)),
            node_selector=values.text("podnet_node_selector") or DEFAULT_NODE_SELECTOR,
            namespace_labels=values.pairs("podnet_namespace_labels"),
            namespace_annotations=values.pairs("podnet_namespace_annotations"),
            upgrade_command=upgrade_command,
            outage_budget=values.positive_float(
                "podnet_outage_budget", DEFAULT_OUTAGE_BUDGET, example="5 for five seconds"
            ),
            upgrade_timeout=values.positive_float(
                "podnet_upgrade_timeout", DEFAULT_UPGRADE_TIMEOUT, example="1800 for 30 minutes"
            ),
            upgrade_phase=upgrade_phase,
        )


def _upgrade_phase() -> UpgradePhase | None:
    value = os.environ.get(UPGRADE_PHASE_ENV)
    for phase in UPGRADE_PHASES:
        if value == phase:
            return phase
    return None


def new_run_id() -> str:
    """A run id that is a valid label value and sorts by start time: ``20260801123045-1a2b3c``."""
    return f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def _check_writable(path: str, source: str) -> None:
    """The JSON verdict must be writable at the end: say so now, not after the run."""
    target = Path(path)
    if target.is_dir():
        raise pytest.UsageError(
            f"{source}={path} is a directory: give a file path, e.g. {target / 'podnet.json'}"
        )
    parent = next((p for p in (target.parent, *target.parent.parents) if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise pytest.UsageError(
            f"{source}={path} cannot be written ({parent} is not a writable directory): "
            "point it at a writable place"
        )
    if target.exists() and not os.access(target, os.W_OK):
        raise pytest.UsageError(f"{source}={path} is not writable: point it at a writable file")


_BY_DEST: Final = {option.dest: option for option in OPTIONS}
#: Guarantee ids are short upper-case words (G1, G2, G3, or a user's own family).
_GUARANTEE_ID: Final = re.compile(r"^[A-Z][A-Z0-9_]*$")
_LABEL_KEY: Final = re.compile(r"^([a-z0-9.-]+/)?[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
C = TypeVar("C", bound=str)


def option(dest: str) -> Option:
    """The option (flag and ini name) of ``dest``, e.g. ``option("podnet_keep").flag``."""
    return _BY_DEST[dest]


class _Values:
    """Reads one option: the command line if given there, else its ini twin, else the default."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    def _raw(self, dest: str) -> tuple[object, str] | None:
        option = _BY_DEST[dest]
        cli = self._config.getoption(dest, None)
        if cli is not None:
            return cli, option.flag
        ini = self._config.getini(option.ini)
        if option.is_flag:
            return (ini, f"ini {option.ini}") if ini else None
        if isinstance(ini, str) and ini.strip():
            return ini.strip(), f"ini {option.ini}"
        return None

    def source(self, dest: str) -> str:
        raw = self._raw(dest)
        return raw[1] if raw else _BY_DEST[dest].flag

    def given_without_podnet(self) -> list[str]:
        """The podnet options (or ini keys) given, as the user wrote them, other than --podnet."""
        return [raw[1] for o in OPTIONS if o.dest != "podnet" and (raw := self._raw(o.dest))]

    def flag(self, dest: str) -> bool:
        raw = self._raw(dest)
        return bool(raw and raw[0])

    def text(self, dest: str) -> str | None:
        raw = self._raw(dest)
        if raw is None:
            return None
        value = str(raw[0]).strip()
        if not value:
            raise pytest.UsageError(f"{raw[1]} is empty: give a value or leave it out")
        return value

    def path(self, dest: str) -> str | None:
        raw = self._raw(dest)
        value = self.text(dest)
        if raw is None or value is None:
            return None
        path = Path(value).expanduser()
        if raw[1].startswith("ini ") and not path.is_absolute() and self._config.inipath:
            # Like pytest's own "paths" ini type: relative to the file that says it.
            path = self._config.inipath.parent / path
        return str(path)

    def choice(self, dest: str, choices: tuple[C, ...], default: C) -> C:
        raw = self._raw(dest)
        if raw is None:
            return default
        value = str(raw[0]).strip()
        for choice in choices:
            if choice == value:
                return choice
        raise pytest.UsageError(f"{raw[1]}={value!r} is not valid: use one of {', '.join(choices)}")

    def _items(self, dest: str) -> tuple[list[str], str] | None:
        raw = self._raw(dest)
        if raw is None:
            return None
        return [part.strip() for part in str(raw[0]).split(",") if part.strip()], raw[1]

    def choices(self, dest: str, choices: tuple[C, ...]) -> list[C]:
        given = self._items(dest)
        if given is None:
            return []
        values, source = given
        wrong = [v for v in values if v not in choices]
        if wrong:
            raise pytest.UsageError(
                f"{source}: {', '.join(map(repr, wrong))} not valid: use a comma-separated "
                f"list of {', '.join(choices)}"
            )
        return [v for v in choices if v in values]

    def guarantees(self, dest: str, default: tuple[str, ...]) -> tuple[str, ...]:
        given = self._items(dest)
        if given is None:
            return default
        values, source = given
        if [v.lower() for v in values] == ["none"]:
            return ()
        wrong = [v for v in values if not _GUARANTEE_ID.match(v)]
        if wrong or not values:
            raise pytest.UsageError(
                f"{source}: {', '.join(map(repr, wrong)) or 'nothing'} given: write guarantee "
                "ids separated by commas, e.g. G1,G2,G3, or none"
            )
        return tuple(dict.fromkeys(values))

    def pairs(self, dest: str) -> dict[str, str]:
        given = self._items(dest)
        if given is None:
            return {}
        values, source = given
        pairs: dict[str, str] = {}
        for item in values:
            key, sep, value = item.partition("=")
            if not sep or not _LABEL_KEY.match(key.strip()):
                raise pytest.UsageError(
                    f"{source}: {item!r} is not KEY=VALUE: write e.g. "
                    "team=netops,policy.example.com/exempt=true"
                )
            pairs[key.strip()] = value.strip()
        return pairs

    def positive_float(
        self, dest: str, default: float, *, example: str = "2 to double every deadline"
    ) -> float:
        raw = self._raw(dest)
        if raw is None:
            return default
        try:
            value = float(str(raw[0]))
        except ValueError:
            value = float("nan")
        if not value > 0 or value == float("inf"):
            raise pytest.UsageError(
                f"{raw[1]}={raw[0]!r} is not valid: give a number greater than 0, e.g. {example}"
            )
        return value

    def positive_int(self, dest: str, default: int) -> int:
        raw = self._raw(dest)
        if raw is None:
            return default
        try:
            value = int(str(raw[0]))
        except ValueError:
            value = 0
        if value < 1:
            raise pytest.UsageError(f"{raw[1]}={raw[0]!r} is not valid: give a whole number >= 1")
        return value
