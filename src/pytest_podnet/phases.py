"""Where a check's time goes: seconds per phase, measured by the façade around its own methods.

Each façade method belongs to one phase (``timed``); a method called by another counts in the
outer one's phase only, so the phases never overlap and add up to at most the check's duration.
What is left (the check's own code, pytest's setup of the namespace) is the rest. The fixture adds
``teardown`` and records the whole as the check's ``phase_seconds`` value of the JSON report.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, Final, Literal, ParamSpec, Protocol, TypeVar, get_args

#: ``create_ready``: creating Pods, Deployments and Services and waiting until they are Ready;
#: ``actions``: replacing, scaling, deleting, switching readiness, until the cluster settled;
#: ``probes``: calls through the Pod network (one exec per batch) and flows;
#: ``observe``: reading Pods, Deployments and EndpointSlices, waiting for slices to follow;
#: ``teardown``: deleting what the check created.
Phase = Literal["create_ready", "actions", "probes", "observe", "teardown"]
PHASES: Final[tuple[Phase, ...]] = get_args(Phase)
#: The JSON report's value name for a check's seconds per phase.
VALUE_NAME: Final = "phase_seconds"


class PhaseClock:
    """Seconds per phase of one check; only the outermost timed call counts."""

    def __init__(self) -> None:
        self.seconds: dict[Phase, float] = dict.fromkeys(PHASES, 0.0)
        self._depth = 0

    @contextmanager
    def timing(self, phase: Phase) -> Iterator[None]:
        if self._depth:
            yield
            return
        self._depth += 1
        start = time.monotonic()
        try:
            yield
        finally:
            self._depth -= 1
            self.seconds[phase] += time.monotonic() - start

    def rounded(self) -> dict[str, float]:
        """The seconds per phase to the millisecond, as the JSON report carries them."""
        return {phase: round(seconds, 3) for phase, seconds in self.seconds.items()}


class Timed(Protocol):
    phases: PhaseClock


S = TypeVar("S", bound=Timed)
P = ParamSpec("P")
R = TypeVar("R")


def timed(
    phase: Phase,
) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], R]]:
    """Count the decorated method's wall time in ``phase`` of its object's ``phases`` clock."""

    def decorate(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
        @functools.wraps(method)
        def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            with self.phases.timing(phase):
                return method(self, *args, **kwargs)

        return run

    return decorate
