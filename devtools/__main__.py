"""`python -m devtools up|test [pytest args]` (what `./dev` runs inside .venv)."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from devtools import up

USAGE = """usage: python -m devtools COMMAND

  up                  start PostgreSQL + Redis (embedded unless DATABASE_URL / REDIS_URL
                      are set), migrate, then API, worker, beat and Flower; Ctrl-C stops all
  test [pytest args]  ruff, mypy, then pytest (embedded servers unless the URLs are set)
"""


def ruff_format_enforced() -> bool:
    """Whether pyproject opts into `ruff format` (a [tool.ruff.format] table)."""
    with (up.REPO_ROOT / "pyproject.toml").open("rb") as fh:
        config = tomllib.load(fh)
    return "format" in config.get("tool", {}).get("ruff", {})


def run_tests(pytest_args: list[str]) -> int:
    """Run every check (a lint failure does not hide test results); 1 if any failed."""
    # `python -m` so each tool is the one in our venv and pytest sees the repo on sys.path.
    steps = [("ruff check", ["ruff", "check", "."])]
    if ruff_format_enforced():
        steps.append(("ruff format", ["ruff", "format", "--check", "."]))
    steps += [("mypy", ["mypy"]), ("pytest", ["pytest", *pytest_args])]
    failed = []
    for name, argv in steps:
        print(f"==> {' '.join(argv)}", flush=True)
        try:
            code = subprocess.call([sys.executable, "-m", *argv], cwd=up.REPO_ROOT)
        except KeyboardInterrupt:
            return 130
        if code != 0:
            failed.append(f"{name} (exit {code})")
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
    if command == "test":
        return run_tests(rest)
    print(USAGE, end="", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
