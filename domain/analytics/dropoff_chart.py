"""The drop-off report as an SVG chart: each step's unique visitors in funnel order."""

from __future__ import annotations

import io

import matplotlib as mpl
from matplotlib.figure import Figure

from domain.analytics.report_schemas import DropoffsOut


def dropoffs_svg(report: DropoffsOut) -> str:
    """Bars of unique visitors per step, labelled with the conversion from the step before."""
    steps = report.steps
    labels = [f"{step.position + 1}. {step.name}" for step in steps]
    # svg.fonttype none keeps labels as <text>; a fixed hash salt and no date make the same
    # report give the same bytes; no mathtext, so a "$7 offer" step name stays text.
    with mpl.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": "dropoffs", "text.parse_math": False}
    ):
        # Figure() without pyplot: no global state and no GUI backend, safe in a threaded server.
        figure = Figure(figsize=(max(6.4, 1.3 * len(steps)), 4.2))
        axes = figure.add_subplot()
        heights = [step.unique_visitors for step in steps]
        bars = axes.bar(range(len(steps)), heights, color="tab:blue")
        for bar, step in zip(bars, steps, strict=True):
            note = (
                "" if step.conversion_rate is None else f"{step.conversion_rate:.0%} from previous"
            )
            axes.annotate(
                f"{step.unique_visitors}\n{note}".strip(),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        axes.set_xticks(range(len(steps)), labels, rotation=20, ha="right")
        axes.set_ylabel("unique visitors")
        axes.set_title(
            f"{report.date_from} to {report.date_to} ({report.freshness.time_zone})", fontsize=9
        )
        axes.set_ylim(0, max(heights, default=0) * 1.25 + 1)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()
