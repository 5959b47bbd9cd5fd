"""Coverage of a full `./dev test` run: pytest-cov's arguments, the per-package table, floors.

The measuring itself is configured in pyproject.toml ([tool.coverage.run]); this module
names where the data goes, sums coverage's JSON report per package (api, each domain
context, workers, devtools) and checks the floors of [tool.coverage.thresholds].
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT = REPO_ROOT / "test-output" / "coverage"
DATA_FILE = OUTPUT / ".coverage"
JSON_REPORT = OUTPUT / "coverage.json"

# Names a floor may use besides a package label: everything measured, and every domain package.
TOTAL = "total"
DOMAIN = "domain"


@dataclass
class Figures:
    """Line and branch counts of some files, summed."""

    statements: int = 0
    covered_lines: int = 0
    branches: int = 0
    covered_branches: int = 0

    def add(self, summary: dict[str, Any]) -> None:
        """Add one file's summary from coverage's JSON report."""
        self.statements += int(summary["num_statements"])
        self.covered_lines += int(summary["covered_lines"])
        self.branches += int(summary.get("num_branches", 0))
        self.covered_branches += int(summary.get("covered_branches", 0))

    @property
    def percent(self) -> float:
        """Coverage's own figure: covered lines and branches over all lines and branches."""
        possible = self.statements + self.branches
        covered = self.covered_lines + self.covered_branches
        return 100.0 if possible == 0 else 100.0 * covered / possible


def pytest_arguments() -> list[str]:
    """What makes pytest-cov measure a run: no terminal report (ours is shorter), a JSON one."""
    return ["--cov", "--cov-report=", f"--cov-report=json:{JSON_REPORT}"]


def environment() -> dict[str, str]:
    """The pytest process's environment: one absolute data file, so every process (each
    with its own working directory) writes its parallel file beside it and pytest-cov
    combines them all at the end."""
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir(parents=True)
    return {**os.environ, "COVERAGE_FILE": str(DATA_FILE)}


def package_of(path: str) -> str:
    """The table row of a measured file: `api`, `domain/<context>`, `workers`, `devtools`."""
    parts = Path(path).parts
    if parts[0] == DOMAIN and len(parts) > 2:
        return f"{DOMAIN}/{parts[1]}"
    if parts[0] == "beat_schedule.py":
        return "workers"  # the beat schedule is the workers' configuration
    return parts[0]  # domain/models.py and domain/__init__.py: the row `domain`


def figures_by_package(report: dict[str, Any]) -> dict[str, Figures]:
    """Per package, plus `domain` (all of it) and `total`, from coverage's JSON report."""
    sums: dict[str, Figures] = {}
    for path, data in report["files"].items():
        package = package_of(path)
        for name in {package, TOTAL, DOMAIN if package.startswith(DOMAIN) else package}:
            sums.setdefault(name, Figures()).add(data["summary"])
    return sums


def thresholds(pyproject: Path = REPO_ROOT / "pyproject.toml") -> dict[str, float]:
    """The floors of [tool.coverage.thresholds]: row label (or `total`, `domain`) → percent."""
    with pyproject.open("rb") as fh:
        config = tomllib.load(fh)
    table = config.get("tool", {}).get("coverage", {}).get("thresholds", {})
    return {str(name): float(value) for name, value in table.items()}


def table(sums: dict[str, Figures], floors: dict[str, float]) -> list[str]:
    """The per-package table, domain subtotal and total last; a floor beside its row."""
    rows = sorted(name for name in sums if name not in (TOTAL, DOMAIN))
    domain_rows = [r for r in rows if r.startswith(f"{DOMAIN}/")]
    order = [r for r in rows if r < DOMAIN] + domain_rows + [DOMAIN]
    order += [r for r in rows if r > DOMAIN and r not in domain_rows] + [TOTAL]
    header = f"{'package':<18}{'lines':>13}{'branches':>13}{'cover':>8}{'floor':>8}"
    lines = [header, "-" * len(header)]
    for name in order:
        f = sums.get(name)
        if f is None:
            continue
        label = {DOMAIN: "domain (all)", TOTAL: "TOTAL"}.get(name, name)
        floor = f"{floors[name]:.0f}%" if name in floors else ""
        lines.append(
            f"{label:<18}{f.covered_lines:>6}/{f.statements:<6}{f.covered_branches:>6}/"
            f"{f.branches:<6}{f.percent:>7.1f}%{floor:>8}"
        )
    return lines


def failures(sums: dict[str, Figures], floors: dict[str, float]) -> list[str]:
    """Every floor not met, said in words."""
    missed = []
    for name, floor in floors.items():
        if name not in sums:
            missed.append(f"{name}: a floor for a package that was not measured")
        elif sums[name].percent < floor:
            figure = sums[name].percent
            missed.append(f"{name} coverage {figure:.1f}% is below its floor of {floor:g}%")
    return missed


def report_and_check() -> int:
    """Print the table of the finished run; 1 if a floor is not met or nothing was measured."""
    if not JSON_REPORT.exists():
        print(f"==> coverage: no report at {JSON_REPORT}", flush=True)
        return 1
    sums = figures_by_package(json.loads(JSON_REPORT.read_text()))
    floors = thresholds()
    print("==> coverage (lines and branches; code run in workers and servers included)")
    for line in table(sums, floors):
        print(f"    {line}")
    print(
        "    per file: .venv/bin/coverage report -m"
        f" --data-file={DATA_FILE.relative_to(REPO_ROOT)} --include='domain/*'"
    )
    missed = failures(sums, floors)
    for message in missed:
        print(f"==> coverage: {message}", flush=True)
    return 1 if missed else 0
