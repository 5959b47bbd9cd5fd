"""`./dev test` makes Debian's chromium available for the browser tests when it can."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devtools import __main__ as dev


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """apt-get runs recorded instead of run; CHROMIUM_PATH points at a missing file."""
    seen: list[list[str]] = []

    def call(argv: list[str], env: dict[str, str] | None = None) -> int:
        assert env is not None
        assert env["DEBIAN_FRONTEND"] == "noninteractive"
        seen.append(argv)
        return 0

    monkeypatch.setenv("CHROMIUM_PATH", str(tmp_path / "chromium"))
    monkeypatch.setattr(dev.subprocess, "call", call)
    monkeypatch.setattr(dev.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(dev.os, "geteuid", lambda: 0)
    return seen


def test_nothing_happens_when_chromium_is_there(
    calls: list[list[str]], tmp_path: Path, capsys: Any
) -> None:
    (tmp_path / "chromium").touch()
    dev.ensure_chromium()
    assert calls == []
    assert capsys.readouterr().out == ""


def test_root_with_apt_installs_it_and_says_so(calls: list[list[str]], capsys: Any) -> None:
    dev.ensure_chromium()
    assert calls == [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium"],
    ]
    assert "apt-get install -y -qq chromium" in capsys.readouterr().out


def test_without_root_it_explains_and_continues(
    calls: list[list[str]], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setattr(dev.os, "geteuid", lambda: 1000)
    dev.ensure_chromium()
    assert calls == []
    assert "apt-get install chromium" in capsys.readouterr().out


def test_a_failed_install_explains_and_continues(
    calls: list[list[str]], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    def fail(argv: list[str], env: dict[str, str] | None = None) -> int:
        calls.append(argv)
        return 100

    monkeypatch.setattr(dev.subprocess, "call", fail)
    dev.ensure_chromium()
    assert calls == [["apt-get", "update", "-qq"]]
    assert "failed (exit 100)" in capsys.readouterr().out
