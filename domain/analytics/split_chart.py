"""The split test's chart: each variant's rate with its interval, as SVG text."""

from __future__ import annotations

import io

import matplotlib as mpl
from matplotlib.figure import Figure

from domain.analytics.split_results import SplitTestResult


def rates_chart_svg(result: SplitTestResult) -> str:
    """Horizontal points with Wilson intervals, one row per variant, control first."""
    rows = list(reversed(result.variants))  # barh-style: first variant at the top
    labels = [_label(r.key, r.is_control, r.key == result.winner) for r in rows]
    # svg.fonttype none keeps labels as <text> (searchable, small); a fixed hash salt and no
    # date make the same result give the same bytes; no mathtext, so "$7 offer" stays text.
    with mpl.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": "split-test", "text.parse_math": False}
    ):
        # Figure() without pyplot: no global state, safe in a threaded server.
        figure = Figure(figsize=(6.4, 0.6 * len(rows) + 1.2))
        axes = figure.add_subplot()
        for y, row in enumerate(rows):
            if row.rate is None or row.rate_ci is None:
                continue
            error = [[row.rate - row.rate_ci.low], [row.rate_ci.high - row.rate]]
            colour = "tab:green" if row.key == result.winner else "tab:blue"
            axes.errorbar([row.rate], [y], xerr=error, fmt="o", capsize=4, color=colour)
        control_rate = result.variants[0].rate
        if control_rate is not None:
            # the control's rate as a reference line: lifts read as distance from it
            axes.axvline(control_rate, linestyle="--", linewidth=0.8, color="grey")
        axes.set_yticks(range(len(rows)), labels)
        axes.set_ylim(-0.7, len(rows) - 0.3)
        axes.set_xlabel(f"conversion rate ({1 - result.alpha:.0%} Wilson interval)")
        axes.xaxis.set_major_formatter(mpl.ticker.PercentFormatter(xmax=1))
        axes.grid(axis="x", alpha=0.3)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _label(key: str, is_control: bool, is_winner: bool) -> str:
    """A row's label: the variant's key, marked when it is the control or the winner."""
    text = key
    if is_control:
        text += " (control)"
    if is_winner:
        text += " (winner)"
    return text
