"""Pictures of a run: node-pair matrices as coloured grids, convergence timings across the run.

matplotlib (the optional extra ``report``: ``pip install 'pytest-podnet[report]'``) with its Agg
backend: files only, no display, no fonts or styles fetched from anywhere. The data comes from the
JSON verdict (``checks[].matrices`` and the ``*_s`` timings in ``checks[].values``), so a
picture always shows what the verdict says. Without matplotlib a run attaches no pictures and
``podnet report`` says how to get them; nothing else changes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

#: Cell colours by matrix mark (``matrix.OK``, ``NATED``, ``UNREACHABLE``, ``NOT_COVERED``).
MARK_COLOURS: Final[Mapping[str, str]] = {
    ".": "#2e9d4f",
    "N": "#e8a33d",
    "X": "#d7301f",
    "-": "#e6e6e6",
}
MARK_MEANINGS: Final[Mapping[str, str]] = {
    ".": "source IP kept",
    "N": "source IP rewritten (NAT)",
    "X": "unreachable",
    "-": "not covered",
}
#: A measured value whose name ends so is a duration in seconds (``ready_to_listed_s``).
TIMING_SUFFIX: Final = "_s"
CONVERGENCE_FILE: Final = "convergence.png"
INSTALL_HINT: Final = "pip install 'pytest-podnet[report]' (matplotlib) for the pictures"


def available() -> bool:
    """Whether matplotlib is installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def matrix_png(data: Mapping[str, Any]) -> bytes:
    """One matrix (``PairMatrix.to_json``) as a grid: rows source node, columns destination."""
    from matplotlib.colors import ListedColormap

    plt = _pyplot()
    nodes: list[str] = list(data["nodes"])
    marks: list[list[str]] = data["marks"]
    order = list(MARK_COLOURS)
    grid = [[order.index(mark) if mark in order else 0 for mark in row] for row in marks]
    size = max(3.0, 1.2 + 1.1 * len(nodes))
    fig, ax = plt.subplots(figsize=(size + 2.6, size))
    try:
        ax.imshow(
            grid,
            cmap=ListedColormap([MARK_COLOURS[m] for m in order]),
            vmin=0,
            vmax=len(order) - 1,
        )
        for i, row in enumerate(marks):
            for j, mark in enumerate(row):
                ax.text(j, i, mark, ha="center", va="center", fontsize=14, color="black")
        ax.set_xticks(range(len(nodes)), nodes, rotation=30, ha="right")
        ax.set_yticks(range(len(nodes)), nodes)
        ax.set_xlabel("destination node")
        ax.set_ylabel("source node")
        ax.set_title(_wrap(str(data["what"]), 40), fontsize=10)
        handles = [
            plt.matplotlib.patches.Patch(color=MARK_COLOURS[m], label=f"{m}  {MARK_MEANINGS[m]}")
            for m in order
        ]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
        return _png(fig)
    finally:
        plt.close(fig)


def timings(checks: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[str, float]]]:
    """Every ``*_s`` value of the checks: transition -> [(check, seconds)], in check order."""
    found: dict[str, list[tuple[str, float]]] = {}
    for check in checks:
        for name, value in (check.get("values") or {}).items():
            if name.endswith(TIMING_SUFFIX) and isinstance(value, int | float):
                found.setdefault(name, []).append((_short(check["nodeid"]), float(value)))
    return found


def convergence_png(checks: Sequence[Mapping[str, Any]]) -> bytes | None:
    """Seconds per transition (one row each), one dot per check that measured it; None when
    no check measured a timing."""
    found = timings(checks)
    if not found:
        return None
    plt = _pyplot()
    transitions = sorted(found)
    names = list(dict.fromkeys(check for points in found.values() for check, _ in points))
    fig, ax = plt.subplots(figsize=(10, 1.6 + 0.55 * len(transitions)))
    try:
        colours = plt.get_cmap("tab10")
        for row, transition in enumerate(transitions):
            for check, seconds in found[transition]:
                index = names.index(check)
                ax.scatter(
                    seconds,
                    row,
                    color=colours(index % 10),
                    s=48,
                    zorder=3,
                    label=check if row == _first_row(found, transitions, check) else None,
                )
        ax.set_yticks(range(len(transitions)), [t.removesuffix(TIMING_SUFFIX) for t in transitions])
        ax.set_xlabel("seconds")
        ax.set_xlim(left=0)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title("convergence timings across the run (one dot per check)", fontsize=10)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
        return _png(fig)
    finally:
        plt.close(fig)


def attach_matrix(data: Mapping[str, Any]) -> None:
    """Attach the matrix picture to the running check's allure result. Nothing without
    matplotlib, or when no Allure results are written (drawing costs a fraction of a second per
    matrix); the matrix is attached as text by ``Podnet.record`` either way."""
    import allure
    from allure_commons import plugin_manager

    if not plugin_manager.hook.attach_data.get_hookimpls() or not available():
        return

    allure.attach(
        matrix_png(data),
        name=f"matrix {data['what']}",
        attachment_type=allure.attachment_type.PNG,
    )


def matrix_file_name(nodeid: str, what: str) -> str:
    return f"matrix-{_slug(_short(nodeid))}-{_slug(what)}.png"


def write_pictures(document: Mapping[str, Any], directory: str | Path) -> list[Path]:
    """Every picture of a JSON verdict into ``directory``: one per matrix, and the run's
    convergence timings; returns the files written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    checks = document.get("checks", [])
    for check in checks:
        for data in check.get("matrices", []):
            path = out / matrix_file_name(check["nodeid"], data["what"])
            path.write_bytes(matrix_png(data))
            written.append(path)
    convergence = convergence_png(checks)
    if convergence is not None:
        path = out / CONVERGENCE_FILE
        path.write_bytes(convergence)
        written.append(path)
    return written


def _first_row(found: Mapping[str, list[tuple[str, float]]], rows: list[str], check: str) -> int:
    """The first row where ``check`` has a dot (its legend entry is made there, once)."""
    return next(i for i, t in enumerate(rows) if any(c == check for c, _ in found[t]))


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _short(nodeid: str) -> str:
    return nodeid.rsplit("::", 1)[-1]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:80]


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])
