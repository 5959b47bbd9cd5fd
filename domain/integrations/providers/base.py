"""What every email-provider adapter shares: the contact shapes, the interface, one HTTP call.

A call is paced by a `limits` rate limiter, classified with domain/shared/remote.py (4xx
final except 408/429; 5xx and network retryable; 429 waits Retry-After) and retried in
place briefly (in_call_retry; a long Retry-After is left to the job). The provider's own
error message is kept; the credential never appears in a message or a log line.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import httpx
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_attempt

from domain.shared.remote import (
    FinalRemoteError,
    RemoteError,
    RetryableRemoteError,
    backoff_seconds,
    classify_exception,
    classify_status,
)

log = logging.getLogger(__name__)

ContactOutcome = Literal["ok", "failed", "retry"]
REDACTED = "[redacted]"


@dataclass(frozen=True)
class Contact:
    """One person as we push them: email, names, provider field values, tags."""

    email: str
    first_name: str = ""
    last_name: str = ""
    # keys are the provider's own field names or ids (Mailchimp merge tags, SendGrid
    # custom field ids, ActiveCampaign field ids): the integration's field mapping chose them
    fields: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContactResult:
    """What became of one contact: ok, failed for good (provider's message), or retry later."""

    email: str
    outcome: ContactOutcome
    message: str | None = None
    provider_id: str | None = None
    # a 429's Retry-After, seconds: the job waits at least this long before the retry
    retry_after: float | None = None


@dataclass(frozen=True)
class ProviderList:
    """A list (Mailchimp audience) a client can pick."""

    id: str
    name: str


class EmailProvider(Protocol):
    """What a sync, a connection test and an erasure job call on a provider."""

    name: str
    batch_size: int

    def check_connection(self) -> None:
        """Raise RemoteError (final on bad credentials) unless the credentials work."""

    def list_lists(self) -> list[ProviderList]:
        """The account's lists (audiences)."""

    def upsert_contacts(self, contacts: Sequence[Contact]) -> list[ContactResult]:
        """Create or update contacts in batches; one result per contact, in order."""

    def add_tags(self, email: str, tags: Sequence[str]) -> None:
        """Tag one contact."""

    def delete_contact(self, email: str) -> bool:
        """Erase one person at the provider; False if they were not there."""

    def close(self) -> None:
        """Release the HTTP connections."""


def batches(items: Sequence[Contact], size: int) -> Iterator[Sequence[Contact]]:
    """Consecutive slices of at most size items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Pacer:
    """A per-credential request rate (`limits` moving window); waits until a slot is free.

    Memory storage paces one process; pass a Redis storage to pace all workers together.
    """

    def __init__(
        self,
        rate: str,
        key: str,
        storage: Storage | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """rate: a `limits` string ("5/second"); key: whose budget (never the raw secret)."""
        self.item: RateLimitItem = parse(rate)
        self.limiter = MovingWindowRateLimiter(storage or MemoryStorage())
        self.key = key
        self.sleep = sleep

    def wait(self) -> None:
        """Take one request slot, sleeping until the window has one."""
        while not self.limiter.hit(self.item, self.key):
            reset_at, _remaining = self.limiter.get_window_stats(self.item, self.key)
            self.sleep(min(1.0, max(0.01, reset_at - time.time())))


def secret_key(provider: str, secret: str) -> str:
    """A rate-limit key per credential that does not reveal it."""
    return f"{provider}:{hashlib.sha256(secret.encode()).hexdigest()[:16]}"


class HttpAdapter:
    """One provider's HTTP client: base URL, auth headers, pacing, classified errors."""

    name: ClassVar[str] = "provider"
    retry_attempts: ClassVar[int] = 3

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        secret: str,
        rate: str,
        auth: httpx.Auth | None = None,
        timeout: float = 10.0,
        rate_storage: Storage | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """secret: the credential, kept only to scrub it from any message."""
        self._secret = secret
        self.pacer = Pacer(rate, secret_key(self.name, secret), rate_storage)
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=dict(headers),
            auth=auth,
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        """Release the HTTP connections."""
        self.http.close()

    def __repr__(self) -> str:
        """Never the credential."""
        return f"<{type(self).__name__} {self.http.base_url}>"

    def scrub(self, text: str) -> str:
        """text without the credential, should a remote or a library echo it."""
        return text.replace(self._secret, REDACTED) if self._secret else text

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> httpx.Response:
        """One request, paced and retried briefly on retryable failures; raises RemoteError.

        missing_ok: a 404 is returned to the caller instead of raised (erasure, lookups).
        """
        once = in_call_retry(self.retry_attempts)(self._call_once)
        response: httpx.Response = once(method, path, json, params, missing_ok)
        return response

    def _call_once(
        self,
        method: str,
        path: str,
        json: Any,
        params: Mapping[str, Any] | None,
        missing_ok: bool,
    ) -> httpx.Response:
        """One attempt."""
        self.pacer.wait()
        try:
            response = self.http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            failure = classify_exception(exc)
            raise type(failure)(
                self.scrub(f"{self.name} {method} {path}: {failure}"), status=failure.status
            ) from None
        log.info("%s %s %s -> %s", self.name, method, path, response.status_code)
        self.observe(response)
        if missing_ok and response.status_code == 404:
            return response
        error = classify_status(response.status_code, response.headers)
        if error is not None:
            detail = self.error_detail(response)
            message = f"{self.name} {method} {path} answered {response.status_code}: {detail}"
            raise type(error)(
                self.scrub(message), status=error.status, retry_after=error.retry_after
            )
        return response

    def error_detail(self, response: httpx.Response) -> str:
        """The provider's own words about an error (overridden per provider)."""
        return response.text[:300]

    def observe(self, response: httpx.Response) -> None:
        """Look at every answer (rate-limit headers); nothing by default."""


# A Retry-After longer than this is not waited out inside a call: the job waits for it.
MAX_IN_CALL_WAIT = 5.0


def _retry_here(error: BaseException) -> bool:
    """Retryable, and soon enough to wait for in the call."""
    return isinstance(error, RetryableRemoteError) and (
        error.retry_after is None or error.retry_after <= MAX_IN_CALL_WAIT
    )


def _in_call_wait(state: RetryCallState) -> float:
    """The remote's Retry-After, else a short jittered backoff."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, RemoteError) and error.retry_after is not None:
        return error.retry_after
    return backoff_seconds(state.attempt_number, base=0.2, cap=2.0)


def in_call_retry(attempts: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A few quick tries of one request; a long Retry-After ends them at once (the job waits)."""
    decorator: Callable[[Callable[..., Any]], Callable[..., Any]] = retry(
        retry=retry_if_exception(_retry_here),
        wait=_in_call_wait,
        stop=stop_after_attempt(attempts),
        reraise=True,
    )
    return decorator


def json_of(response: httpx.Response) -> Any:
    """The body as JSON; an unreadable body is a retryable fault of the remote."""
    try:
        return response.json()
    except ValueError:
        raise RetryableRemoteError(
            f"unreadable answer ({response.status_code})", status=response.status_code
        ) from None


def is_auth_failure(error: RemoteError) -> bool:
    """Bad or insufficient credentials: every further call would fail the same way."""
    return isinstance(error, FinalRemoteError) and error.status in (401, 403)


def push_in_batches(
    contacts: Sequence[Contact],
    size: int,
    push: Callable[[Sequence[Contact]], list[ContactResult]],
) -> list[ContactResult]:
    """Push batch by batch; a batch that fails as a whole marks its contacts.

    Bad credentials raise (the sync marks the integration). After a retryable failure the
    remaining batches are not tried (the provider is struggling or limiting us): they come
    back "retry", so the next run pushes exactly those.
    """
    results: list[ContactResult] = []
    stop: RemoteError | None = None
    for batch in batches(contacts, size):
        if stop is not None:
            results += [
                ContactResult(c.email, "retry", f"not sent: {stop}", retry_after=stop.retry_after)
                for c in batch
            ]
            continue
        try:
            results += push(batch)
        except RemoteError as error:
            if is_auth_failure(error):
                raise
            outcome: ContactOutcome = "retry" if error.retryable else "failed"
            results += [
                ContactResult(c.email, outcome, str(error), retry_after=error.retry_after)
                for c in batch
            ]
            if error.retryable:
                stop = error
    return results


def tagged(
    contact: Contact, provider_id: str | None, tag: Callable[[str, Sequence[str]], None]
) -> ContactResult:
    """The result of a contact upserted already, once its tags are applied.

    The upsert itself succeeded, so a tag failure concerns this contact only.
    """
    if contact.tags:
        try:
            tag(contact.email, contact.tags)
        except RemoteError as error:
            if is_auth_failure(error):
                raise
            outcome: ContactOutcome = "retry" if error.retryable else "failed"
            return ContactResult(contact.email, outcome, f"tags: {error}", provider_id)
    return ContactResult(contact.email, "ok", provider_id=provider_id)
