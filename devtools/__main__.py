"""`python -m devtools up|demo|test [args]` (what `./dev` runs inside .venv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from devtools import covreport, demo, up

USAGE = """usage: python -m devtools COMMAND

  up                  start PostgreSQL + Redis (embedded unless DATABASE_URL / REDIS_URL
                      are set), migrate, then API, worker, beat and Flower; Ctrl-C stops all
  demo [--seconds N] [--rate R] [--seed S]
                      `up` with the Stripe stand-in in Stripe's place, a demo account and a
                      live funnel, and simulated visitors going through it until Ctrl-C
  test [pytest args]  ruff, mypy, then pytest (embedded servers unless the URLs are set);
                      installs Debian's chromium for the browser tests first if missing
                      and run as root (CHROMIUM_PATH names another binary). With no
                      pytest args: the whole suite with line and branch coverage, the
                      per-package table, and a failure below the floors in pyproject.toml
"""


def ruff_format_enforced() -> bool:
    """Whether pyproject opts into `ruff format` (a [tool.ruff.format] table)."""
    with (up.REPO_ROOT / "pyproject.toml").open("rb") as fh:
        config = tomllib.load(fh)
    return "format" in config.get("tool", {}).get("ruff", {})


DEBIAN_CHROMIUM = "/usr/bin/chromium"


def ensure_chromium() -> None:
    """Install Debian's chromium for the browser tests when it is missing and root can.

    Playwright's own browser download does not work everywhere, so the tests drive the
    system's (CHROMIUM_PATH, default /usr/bin/chromium). Without it they fail, saying so.
    """
    path = os.environ.get("CHROMIUM_PATH") or DEBIAN_CHROMIUM
    if Path(path).exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(
            f"==> {path} is missing and cannot be installed here (needs root and apt-get);"
            " the browser tests will fail: install Debian's chromium (apt-get install"
            " chromium) or set CHROMIUM_PATH to a Chromium binary",
            flush=True,
        )
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium"],
    ):
        print(f"==> {path} is missing: DEBIAN_FRONTEND=noninteractive {' '.join(argv)}", flush=True)
        code = subprocess.call(argv, env=env)
        if code != 0:
            print(
                f"==> {' '.join(argv)} failed (exit {code}); the browser tests will fail:"
                " install chromium by hand or set CHROMIUM_PATH",
                flush=True,
            )
            return
    if not Path(path).exists():
        print(f"==> chromium installed but {path} is still missing; set CHROMIUM_PATH", flush=True)


def run_tests(pytest_args: list[str]) -> int:
    """Run every check (a lint failure does not hide test results); 1 if any failed.

    Only a run with no pytest arguments (the whole suite, as CI runs it) measures coverage
    and holds it to its floors: a subset would miss them by design, and measuring slows the
    edit-test loop. Pass --cov yourself to see a subset's coverage (no floors apply then).
    """
    ensure_chromium()
    full_run = not pytest_args
    # `python -m` so each tool is the one in our venv and pytest sees the repo on sys.path.
    steps = [("ruff check", ["ruff", "check", "."])]
    if ruff_format_enforced():
        steps.append(("ruff format", ["ruff", "format", "--check", "."]))
    pytest_argv = ["pytest", *(covreport.pytest_arguments() if full_run else pytest_args)]
    steps += [("mypy", ["mypy"]), ("pytest", pytest_argv)]
    failed = []
    for name, argv in steps:
        print(f"==> {' '.join(argv)}", flush=True)
        env = covreport.environment() if argv is pytest_argv and full_run else None
        try:
            code = subprocess.call([sys.executable, "-m", *argv], cwd=up.REPO_ROOT, env=env)
        except KeyboardInterrupt:
            return 130
        if code != 0:
            failed.append(f"{name} (exit {code})")
    if full_run and covreport.report_and_check() != 0:
        failed.append("coverage (below a floor)")
    if failed:
        print(f"==> FAILED: {', '.join(failed)}", flush=True)
        return 1
    print("==> all checks passed", flush=True)
    return 0


def main(argv: list[str]) -> int:
    """Dispatch a command line."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "up" and not rest:
        return up.main()
    if command == "demo":
        return demo.main(rest)
    if command == "test":
        return run_tests(rest)
    print(USAGE, end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
