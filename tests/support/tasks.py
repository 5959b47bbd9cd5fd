"""A task of the suite's own, to prove the job pipeline before modules have real ones."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from domain.events import catalogue
from domain.jobs.models import Job
from domain.shared import events
from domain.shared.remote import FinalRemoteError, RetryableRemoteError
from workers.tasks.base import job_task


class Recorded(events.EventPayload):
    """testing.recorded"""

    attempt: int


catalogue.register(
    events.EventType("testing.recorded", "The suite's task ran.", Recorded, context="testing")
)


@job_task("testing.record")
def record(session: Session, job: Job) -> dict[str, Any]:
    """Append a 'testing.recorded' event: counting them shows how often the work took effect."""
    args = job.arguments
    events.record(
        session,
        account_id=job.account_id,
        type="testing.recorded",
        subject_id=job.id,
        payload={"attempt": job.attempts},
    )
    if args.get("sleep") and job.attempts == 1:
        Path(args["pid_file"]).write_text(str(os.getpid()))
        time.sleep(float(args["sleep"]))
    if args.get("fail") == "retryable" and job.attempts < int(args.get("succeed_on", 10**6)):
        raise RetryableRemoteError(
            "remote answered 503", status=503, retry_after=args.get("retry_after")
        )
    if args.get("fail") == "final":
        raise FinalRemoteError("remote answered 400", status=400)
    return {"recorded": True, "attempt": job.attempts}
