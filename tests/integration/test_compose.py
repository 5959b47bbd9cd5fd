"""docker-compose.yml, the Dockerfile and .env.example agree with the code they ship.

No Docker engine is needed: every command's executable must be a console script of the
project's dependencies, every module path it names must import, the image must contain every
top-level package those modules import, and .env.example must document exactly the settings.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import TypeAdapter

from domain.jobs.queues import QUEUES
from domain.shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
README = ROOT / "README.md"
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what a container's API must listen on

SERVICES = {"postgres", "redis", "migrate", "api", "worker", "beat", "flower"}
APP_SERVICES = {"migrate", "api", "worker", "beat", "flower"}


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _commands() -> dict[str, list[str]]:
    """The list-form commands of the app services."""
    return {
        name: service["command"]
        for name, service in _services().items()
        if name in APP_SERVICES and isinstance(service.get("command"), list)
    }


def _module_path(argv: list[str]) -> str | None:
    """The "<module>:<attribute>" an app command runs, if it names one."""
    executable = argv[0]
    if executable == "uvicorn":
        return next((arg for arg in argv[1:] if not arg.startswith("-")), None)
    if executable == "celery":
        return argv[argv.index("-A") + 1]
    return None


def _runtime_requirements() -> set[str]:
    """Normalized names of the project's runtime dependencies (no extras)."""
    with (ROOT / "pyproject.toml").open("rb") as fh:
        deps = tomllib.load(fh)["project"]["dependencies"]
    names = set()
    for dep in deps:
        match = re.match(r"[A-Za-z0-9._-]+", dep)
        assert match, dep
        names.add(re.sub(r"[-_.]+", "-", match.group(0)).lower())
    return names


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        pairs.append((instruction.upper(), args.strip()))
    return pairs


def _copied_paths() -> set[str]:
    """Every source path of the Dockerfile's COPY instructions, as 'name' (no ./ or /)."""
    paths: set[str] = set()
    for instruction, args in _dockerfile_instructions():
        if instruction != "COPY":
            continue
        words = json.loads(args) if args.startswith("[") else shlex.split(args)
        sources = [word for word in words if not word.startswith("--")][:-1]
        paths.update(source.removeprefix("./").rstrip("/") for source in sources)
    return paths


def _local_top_level(names: list[str]) -> set[str]:
    """The repository's top-level packages/modules among dotted module names."""
    found = set()
    for name in names:
        top = name.partition(".")[0]
        if (ROOT / top / "__init__.py").is_file() or (ROOT / f"{top}.py").is_file():
            found.add(top)
    return found


_IMPORT_PROBE = """
import importlib, json, sys
module, attribute = sys.argv[1].split(":")
obj = getattr(importlib.import_module(module), attribute)
loader = getattr(obj, "loader", None)
if loader is not None:  # a Celery app: also the task modules a worker imports at start
    loader.import_default_modules()
print(json.dumps(sorted(sys.modules)))
"""


def _imported_local_packages(module_path: str) -> set[str]:
    """Top-level repository packages a fresh interpreter loads to import module_path."""
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, module_path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return _local_top_level(json.loads(result.stdout.strip().splitlines()[-1]))


def _alembic_local_packages() -> set[str]:
    """Top-level repository packages the migrations import (env.py and every revision)."""
    names: list[str] = []
    for path in (ROOT / "migrations").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.append(node.module)
    return _local_top_level(names)


def _env_example_entries() -> dict[str, str | None]:
    """NAME -> default from .env.example; None for a commented-out `# NAME=` (unset)."""
    entries: dict[str, str | None] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if not match:
            continue
        name = match.group(2)
        assert name not in entries, f"{name} is listed twice in .env.example"
        entries[name] = None if match.group(1) else match.group(3)
    return entries


def _setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


# --- docker-compose.yml --------------------------------------------------------------------


def test_compose_has_every_service() -> None:
    assert set(_services()) >= SERVICES


def test_app_services_use_list_form_commands() -> None:
    assert set(_commands()) == APP_SERVICES


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_command_executable_is_a_console_script_of_a_dependency(service: str) -> None:
    executable = _commands()[service][0]
    assert (Path(sys.executable).parent / executable).exists(), f"no {executable} in the venv"
    scripts = entry_points(group="console_scripts", name=executable)
    assert scripts, f"{executable} is not an installed console script"
    distributions = {
        re.sub(r"[-_.]+", "-", script.dist.name).lower()
        for script in scripts
        if script.dist is not None
    }
    assert distributions & _runtime_requirements(), (
        f"{executable} comes from {distributions}, not a runtime dependency of the project"
    )


@pytest.mark.parametrize("service", ["api", "worker", "beat", "flower"])
def test_command_module_path_imports(service: str) -> None:
    module_path = _module_path(_commands()[service])
    assert module_path is not None
    module, _, attribute = module_path.partition(":")
    assert attribute, f"{module_path} names no attribute"
    assert hasattr(importlib.import_module(module), attribute)


def test_api_command_serves_on_all_interfaces() -> None:
    argv = _commands()["api"]
    assert argv[:2] == ["uvicorn", "api.main:app"]
    assert argv[argv.index("--host") + 1] == ALL_INTERFACES
    assert argv[argv.index("--port") + 1] == "8000"


def test_worker_consumes_every_queue() -> None:
    workers = {
        name: argv for name, argv in _commands().items() if argv[0] == "celery" and "worker" in argv
    }
    assert workers
    for name, argv in workers.items():
        queues = argv[argv.index("-Q") + 1].split(",")
        assert len(queues) == len(set(queues)), name
        assert set(queues) == set(QUEUES), name


def test_beat_and_flower_subcommands() -> None:
    commands = _commands()
    assert commands["beat"][:4] == ["celery", "-A", "workers.celery_app:celery_app", "beat"]
    assert commands["flower"][:4] == ["celery", "-A", "workers.celery_app:celery_app", "flower"]


def test_migrate_runs_alembic_upgrade_head_before_the_api() -> None:
    services = _services()
    assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"].get("restart", "no") == "no"
    for name in ("api", "worker", "beat"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_app_services_build_the_dockerfile() -> None:
    assert DOCKERFILE.is_file()
    for name in sorted(APP_SERVICES):
        build = _services()[name]["build"]
        if isinstance(build, str):
            build = {"context": build}
        context = (ROOT / build.get("context", ".")).resolve()
        assert context == ROOT, name
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE, name


def test_app_services_share_the_production_environment() -> None:
    for name in sorted(APP_SERVICES):
        env = _services()[name]["environment"]
        assert env["ENVIRONMENT"] == "production", name
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://"), name
        assert "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["REDIS_URL"].startswith("redis://redis:6379/"), name
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), name
        # Production refuses the development key, so compose must demand a real one.
        keys = env["INTEGRATIONS_ENCRYPTION_KEYS"]
        assert keys.startswith("${INTEGRATIONS_ENCRYPTION_KEYS:?"), name
        assert set(env) <= _setting_names(), name


def test_servers_have_healthchecks_and_volumes() -> None:
    services = _services()
    assert services["postgres"]["image"].startswith("postgres:")
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["redis"]["image"].startswith("redis:")
    command = services["redis"]["command"]
    # The analytics stream's 202 promises an entry on disk (docs/analytics.md, "Ingestion").
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "always"
    assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    volumes = set(_compose()["volumes"])
    for name in ("postgres", "redis"):
        mounts = {mount.split(":")[0] for mount in services[name]["volumes"]}
        assert mounts & volumes, f"{name} keeps no data in a named volume"


def test_flower_requires_authentication_and_refuses_to_start_without_it() -> None:
    argv = _commands()["flower"]
    auth = [arg for arg in argv if arg.startswith("--basic_auth=")]
    assert len(auth) == 1, "Flower shows every tenant's task arguments: it needs a login"
    # ${VAR:?message}: docker compose refuses to start while the credentials are unset or empty.
    assert re.fullmatch(r"--basic_auth=\$\{FLOWER_BASIC_AUTH:\?[^}]+\}", auth[0]), auth[0]
    for mapping in _services()["flower"].get("ports", []):
        host = str(mapping).rsplit(":", 2)[0] if str(mapping).count(":") >= 2 else ""
        assert host == "127.0.0.1", f"Flower is published beyond the host: {mapping}"


def _interpolate(arg: str, env: dict[str, str]) -> str:
    """arg with ${NAME:?message} filled in from env, as docker compose does (KeyError if unset)."""
    return re.sub(r"\$\{([A-Z_]+):\?[^}]*\}", lambda m: env[m.group(1)], arg)


def test_flower_started_as_compose_starts_it_asks_for_the_login(servers: Any) -> None:
    from devtools.embedded import free_port

    port = free_port()
    env = {"FLOWER_BASIC_AUTH": "ops:correct-horse-battery"}
    argv = [_interpolate(arg, env) for arg in _commands()["flower"]]
    argv = [f"--port={port}" if a.startswith("--port=") else a for a in argv]
    argv = ["--address=127.0.0.1" if a.startswith("--address=") else a for a in argv]
    executable = str(Path(sys.executable).parent / argv[0])
    process = subprocess.Popen(
        [executable, *argv[1:]],
        cwd=ROOT,
        env={**os.environ, "CELERY_BROKER_URL": servers.redis_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/tasks"
        deadline = time.monotonic() + 60
        while True:
            try:
                anonymous = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, "Flower exited"
                assert time.monotonic() < deadline, "Flower did not start"
                time.sleep(0.2)
        assert anonymous.status_code == 401
        assert httpx.get(url, auth=("ops", "wrong"), timeout=5).status_code == 401
        assert httpx.get(url, auth=("ops", "correct-horse-battery"), timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=20)


# --- Dockerfile ----------------------------------------------------------------------------


def _dockerfile_env() -> dict[str, str]:
    """The image's ENV settings (KEY=VALUE pairs of every ENV instruction)."""
    env: dict[str, str] = {}
    for instruction, args in _dockerfile_instructions():
        if instruction == "ENV":
            for word in shlex.split(args):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def test_the_image_runs_as_production_unless_told_otherwise() -> None:
    # Development accepts the default SECRET_KEY: an image started without ENVIRONMENT must not.
    assert _dockerfile_env().get("ENVIRONMENT") == "production"


def test_dockerfile_copies_every_package_the_commands_import() -> None:
    copied = _copied_paths()
    needed: set[str] = {"pyproject.toml"}
    for argv in _commands().values():
        module_path = _module_path(argv)
        if module_path is not None:
            needed |= _imported_local_packages(module_path)
        if argv[0] == "alembic":
            needed |= {"alembic.ini", "migrations"} | _alembic_local_packages()
    missing = set()
    for name in needed:
        if name not in copied and f"{name}.py" not in copied:
            missing.add(name)
    assert not missing, f"the Dockerfile does not COPY {sorted(missing)}"


def test_dockerfile_shape() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    by_name: dict[str, list[str]] = {}
    for instruction, args in instructions:
        by_name.setdefault(instruction, []).append(args)
    assert any("pip install" in run and "[dev]" not in run for run in by_name["RUN"])
    users = by_name.get("USER", [])
    assert users, "the image must not run as root"
    assert users[-1] not in ("root", "0")
    assert "8000" in by_name["EXPOSE"][-1].split()
    cmd = json.loads(by_name["CMD"][-1])
    assert cmd[:2] == ["uvicorn", "api.main:app"]
    assert cmd[cmd.index("--host") + 1] == ALL_INTERFACES


# --- .env.example and README ---------------------------------------------------------------


def test_env_example_names_every_setting_and_nothing_else() -> None:
    assert set(_env_example_entries()) == _setting_names()


def test_env_example_defaults_match_the_settings() -> None:
    for name, value in _env_example_entries().items():
        field = Settings.model_fields[name.lower()]
        if value is None:
            assert field.default is None, f"{name} is commented out but has a default"
            continue
        assert field.annotation is not None, name
        parsed = TypeAdapter(field.annotation).validate_python(value)
        assert parsed == field.default, f"{name}={value} but the default is {field.default!r}"


def test_readme_configuration_table_names_every_setting() -> None:
    text = README.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", section, flags=re.MULTILINE))
    assert rows == _setting_names()
