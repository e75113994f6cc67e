"""Deadlines as objects (``waits.Deadline``), offline."""

from __future__ import annotations

from typing import get_args

import pytest

from pytest_podnet import waits


def test_every_deadline_is_named_in_the_deadline_name_type_and_has_a_reason() -> None:
    assert set(waits._DEADLINES) == set(get_args(waits.DeadlineName))
    assert all(len(d.why) > 40 and d.seconds > 0 for d in waits._DEADLINES.values())


def test_deadline_by_object_or_by_either_spelling_of_its_name_scales() -> None:
    assert waits.ENDPOINTS_PROPAGATION.scaled(2.0) == 60
    assert waits.deadline(waits.ENDPOINTS_PROPAGATION, 2.0) == 60
    assert waits.deadline("ENDPOINTS_PROPAGATION", 2.0) == 60
    assert waits.deadline("endpoints-propagation") == 30
    assert waits.POD_REPLACEMENT.seconds == waits.POD_DELETION.seconds + waits.POD_STARTUP.seconds
    with pytest.raises(KeyError, match="no deadline named 'endpoint-propagation'"):
        waits.deadline("endpoint-propagation")


def test_a_timeout_names_its_deadline_by_label() -> None:
    timeout = waits.WaitTimeout(waits.label(waits.OLD_IP_RELEASE), 30, "the old IP", "<yaml>")

    assert timeout.name == "old-ip-release"
    assert str(timeout).startswith("timed out after 30s [old-ip-release] waiting for the old IP")
    assert waits.label("DATAPLANE_PROPAGATION") == str(waits.DATAPLANE_PROPAGATION)
