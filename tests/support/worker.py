"""A real Celery worker subprocess for pipeline tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from domain.jobs.queues import QUEUES

ROOT = Path(__file__).resolve().parents[2]


class CeleryWorker:
    """celery worker with the suite's own task module, started and stopped by pid."""

    def __init__(
        self, env: dict[str, str], name: str, include: tuple[str, ...] = ("tests.support.tasks",)
    ) -> None:
        self.env = env
        self.name = name
        self.include = include
        self.log = Path(tempfile.mkstemp(prefix=f"worker-{name}-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        """Start and wait until the worker says it is ready."""
        command = [
            str(Path(sys.executable).parent / "celery"),
            "-A", "workers.celery_app:celery_app", "worker",
            "-Q", ",".join(QUEUES),
            "-I", ",".join(self.include),
            "--pool", "prefork", "--concurrency", "2",
            "-n", f"{self.name}-{os.getpid()}@%h",
            "--without-mingle", "--without-gossip", "--loglevel", "INFO",
        ]  # fmt: skip
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        output = self.log.read_text(errors="replace")[-4000:]
        self.stop()  # a worker that never got ready must not outlive the test
        raise RuntimeError(f"worker did not start:\n{output}")

    def wait_until_ran(self, task_id: str, timeout: float = 60) -> None:
        """Wait until the worker logged that it ran the task (succeeded); fail if it raised."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if f"[{task_id}] succeeded in" in text:
                return
            if f"[{task_id}] raised" in text:
                raise AssertionError(f"task {task_id} raised:\n{text[-4000:]}")
            time.sleep(0.1)
        raise AssertionError(f"the worker never ran task {task_id}")

    def child_pids(self) -> list[int]:
        """The pool processes (they run the tasks)."""
        assert self.process is not None
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)],
            capture_output=True,
            text=True,
            check=False,
        )
        return [int(p) for p in out.stdout.split()]

    def stop(self) -> None:
        """Warm shutdown, then kill what is left of the process group; drop the log."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.unlink(missing_ok=True)
