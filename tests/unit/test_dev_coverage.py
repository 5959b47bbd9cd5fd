"""`./dev test` measures coverage on a full run only, sums it per package, holds it to floors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools import __main__ as dev
from devtools import covreport


def _summary(statements: int, covered: int, branches: int, covered_branches: int) -> Any:
    return {
        "summary": {
            "num_statements": statements,
            "covered_lines": covered,
            "num_branches": branches,
            "covered_branches": covered_branches,
        }
    }


REPORT = {
    "files": {
        "api/main.py": _summary(10, 9, 4, 3),
        "api/routes/orders.py": _summary(10, 10, 0, 0),
        "domain/orders/service.py": _summary(100, 90, 20, 10),
        "domain/orders/models.py": _summary(20, 20, 0, 0),
        "domain/shared/db.py": _summary(30, 30, 10, 10),
        "domain/models.py": _summary(5, 5, 0, 0),
        "workers/tasks/base.py": _summary(50, 40, 10, 5),
        "beat_schedule.py": _summary(3, 3, 0, 0),
        "devtools/up.py": _summary(200, 100, 50, 20),
    }
}


def test_files_are_summed_per_package_with_coverages_own_formula() -> None:
    sums = covreport.figures_by_package(REPORT)
    assert set(sums) == {
        "api",
        "domain",
        "domain/orders",
        "domain/shared",
        "workers",
        "devtools",
        "total",
    }
    orders = sums["domain/orders"]
    assert (orders.statements, orders.covered_lines) == (120, 110)
    assert (orders.branches, orders.covered_branches) == (20, 10)
    assert orders.percent == pytest.approx(100 * (110 + 10) / (120 + 20))
    # domain/models.py belongs to no context: it counts in `domain` (all of it) only.
    assert sums["domain"].statements == 120 + 30 + 5
    assert sums["workers"].statements == 53  # the beat schedule is the workers' configuration
    assert sums["total"].statements == sum(
        f["summary"]["num_statements"] for f in REPORT["files"].values()
    )


def test_a_figure_below_its_floor_and_a_floor_for_nothing_are_failures() -> None:
    sums = covreport.figures_by_package(REPORT)
    floors = {"total": 50.0, "domain": 95.0, "domain/shared": 100.0, "domain/nowhere": 1.0}
    missed = covreport.failures(sums, floors)
    assert len(missed) == 2
    assert missed[0].startswith("domain coverage 89.2% is below its floor of 95%")
    assert "domain/nowhere" in missed[1]
    assert covreport.failures(sums, {"total": 50.0}) == []


def test_the_table_has_a_row_per_package_then_the_domain_and_the_total() -> None:
    lines = covreport.table(covreport.figures_by_package(REPORT), {"domain": 95.0})
    labels = [line.split()[0] for line in lines[2:]]
    assert labels == [
        "api",
        "devtools",
        "domain/orders",
        "domain/shared",
        "domain",
        "workers",
        "TOTAL",
    ]
    assert lines[2 + labels.index("domain")].rstrip().endswith("95%")


def test_the_floors_are_read_from_pyproject(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.coverage.thresholds]\ntotal = 85\ndomain = 95\n")
    assert covreport.thresholds(pyproject) == {"total": 85.0, "domain": 95.0}
    assert covreport.thresholds() == covreport.thresholds(dev.up.REPO_ROOT / "pyproject.toml")


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, str] | None]]:
    """Every tool run recorded instead of run (all succeed); the floors report as given."""
    seen: list[tuple[list[str], dict[str, str] | None]] = []

    def call(argv: list[str], cwd: Any = None, env: dict[str, str] | None = None) -> int:
        seen.append((argv, env))
        return 0

    monkeypatch.setattr(dev, "ensure_chromium", lambda: None)
    monkeypatch.setattr(dev.subprocess, "call", call)
    monkeypatch.setattr(covreport, "environment", lambda: {"COVERAGE_FILE": "/x/.coverage"})
    return seen


def test_a_full_run_measures_and_fails_below_a_floor(
    runs: list[tuple[list[str], dict[str, str] | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(covreport, "report_and_check", lambda: 1)
    assert dev.run_tests([]) == 1
    argv, env = runs[-1]
    assert argv[2:4] == ["pytest", "--cov"]
    assert env == {"COVERAGE_FILE": "/x/.coverage"}
    monkeypatch.setattr(covreport, "report_and_check", lambda: 0)
    assert dev.run_tests([]) == 0


def test_a_subset_is_neither_measured_nor_held_to_the_floors(
    runs: list[tuple[list[str], dict[str, str] | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never() -> int:
        raise AssertionError("a subset must not be held to the floors")

    monkeypatch.setattr(covreport, "report_and_check", never)
    assert dev.run_tests(["-k", "auth", "-x"]) == 0
    argv, env = runs[-1]
    assert argv[2:] == ["pytest", "-k", "auth", "-x"]
    assert env is None


def test_the_report_prints_the_table_and_fails_below_a_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "coverage.json"
    monkeypatch.setattr(covreport, "JSON_REPORT", report)
    assert covreport.report_and_check() == 1  # no report: the run measured nothing
    report.write_text(json.dumps(REPORT))
    monkeypatch.setattr(covreport, "thresholds", lambda: {"total": 50.0})
    assert covreport.report_and_check() == 0
    assert "TOTAL" in capsys.readouterr().out
    monkeypatch.setattr(covreport, "thresholds", lambda: {"domain": 95.0})
    assert covreport.report_and_check() == 1
    assert "domain coverage 89.2% is below its floor of 95%" in capsys.readouterr().out


def test_every_process_writes_beside_one_absolute_data_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "coverage"
    (output / "old").mkdir(parents=True)  # a previous run's leftovers go
    monkeypatch.setattr(covreport, "OUTPUT", output)
    monkeypatch.setattr(covreport, "DATA_FILE", output / ".coverage")
    env = covreport.environment()
    assert env["COVERAGE_FILE"] == str(output / ".coverage")
    assert list(output.iterdir()) == []
