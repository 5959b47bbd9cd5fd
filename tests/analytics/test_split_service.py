"""Split-test results from raw events, the page a step serves, and the split over 100,000."""

from __future__ import annotations

import math
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from scipy import integrate, stats

from domain.analytics import split_service as splits
from domain.analytics.split_models import AbTest, AbTestVariant
from domain.analytics.split_schemas import SplitTestPatch
from domain.pages import service as pages
from domain.shared.db import set_clock, unit_of_work, utcnow
from domain.shared.errors import AppError, Conflict
from tests.support.funnels import ok
from tests.support.split_tests import SPLITS, body, create, exposure, goal, patch, record, setup

Z = 1.959963984540054  # z_(0.975)


def _started(
    client: Any, h: dict[str, str], s: Any, percents: tuple[float, ...] = (50, 50)
) -> tuple[dict[str, Any], datetime]:
    """A test started a day ago (the injected clock), so its events are in the past."""
    test = create(client, h, body(s, percents))
    day_ago = utcnow() - timedelta(days=1)
    set_clock(lambda: day_ago)
    try:
        started = ok(patch(client, h, test["id"], status="running"))
    finally:
        set_clock(None)
    return started, datetime.fromisoformat(started["started_at"])


def _worked_example_events(test: dict[str, Any], s: Any, base: datetime) -> list[dict[str, Any]]:
    """Control 100 of 1,000, treatment 130 of 1,000, and events that must not count."""
    f, step, order = test["funnel_id"], test["step_id"], s.funnel["steps"][1]["id"]
    sec = timedelta(seconds=1)
    events = [exposure(f"c-{i}", test, 0, base) for i in range(1000)]
    events += [exposure(f"t-{i}", test, 1, base) for i in range(1000)]
    events += [goal(f"c-{i}", f, step, base + sec) for i in range(90)]
    # the custom goal at the step counts as the step's conversion too
    events += [goal(f"c-{i}", f, step, base + sec, "conversion") for i in range(90, 100)]
    events += [goal(f"t-{i}", f, step, base + 2 * sec) for i in range(130)]
    # not conversions: an opt-in before the exposure, at another step, a mere view
    events += [goal(f"c-{i}", f, step, base - sec) for i in range(100, 110)]
    events += [goal(f"c-{i}", f, order, base + sec) for i in range(110, 120)]
    events += [goal(f"c-{i}", f, step, base + sec, "page_view") for i in range(120, 130)]
    # a visitor counts once, for the variant of their first exposure
    events += [exposure(f"c-{i}", test, 1, base + 5 * sec) for i in range(50)]
    events += [exposure(f"c-{i}", test, 0, base + 6 * sec) for i in range(10)]
    # not exposures of this test: before it started, of another test
    events += [exposure(f"x-{i}", test, 1, base - timedelta(hours=2)) for i in range(20)]
    events += [goal(f"x-{i}", f, step, base + sec) for i in range(20)]
    other = {**test, "id": str(uuid.uuid4())}
    events += [exposure(f"y-{i}", other, 0, base) for i in range(10)]
    return events


def _beats(a: tuple[int, int], b: tuple[int, int]) -> float:
    """P(p_b > p_a) = integral of pdf_b * cdf_a, Beta(1, 1) priors (an independent check)."""
    pa = stats.beta(1 + a[0], 1 + a[1] - a[0])
    pb = stats.beta(1 + b[0], 1 + b[1] - b[0])
    value, _ = integrate.quad(lambda x: pb.pdf(x) * pa.cdf(x), 0, 1, epsabs=1e-13, limit=200)
    return value


def test_results_match_the_worked_example(client: Any, tenant: Any, other_tenant: Any) -> None:
    h = tenant.headers
    s = setup(client, h)
    test, started = _started(client, h, s)
    base = started + timedelta(hours=1)
    record(tenant.account_id, _worked_example_events(test, s, base))
    # another account's events naming this test count for nothing
    record(other_tenant.account_id, [exposure(f"o-{i}", test, 1, base) for i in range(30)])

    got = ok(client.get(f"{SPLITS}/{test['id']}", headers=h))["results"]
    control, treatment = got["variants"]
    assert (control["exposures"], control["conversions"]) == (1000, 100)
    assert (treatment["exposures"], treatment["conversions"]) == (1000, 130)

    # by hand: v = 0.1*0.9/1000 + 0.13*0.87/1000; relative se by the delta method
    pc, pt, n = 0.10, 0.13, 1000
    v = pc * (1 - pc) / n + pt * (1 - pt) / n
    se = math.sqrt(v)
    rel_se = math.sqrt((pt * (1 - pt) / n) / pc**2 + pt**2 * (pc * (1 - pc) / n) / pc**4)
    tau2 = 0.02**2
    log_lambda = 0.5 * math.log(v / (v + tau2)) + tau2 * 0.03**2 / (2 * v * (v + tau2))
    half = math.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / 0.05) + math.log((v + tau2) / v)))
    wilson_half = Z * math.sqrt(pc * (1 - pc) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    expected = {
        "rate": pt,
        "absolute_lift": 0.03,
        "relative_lift": 0.3,
        "p_value": math.erfc(0.03 / se / math.sqrt(2)),
        "always_valid_p_value": math.exp(-log_lambda),
        "chance_to_beat_control": _beats((100, 1000), (130, 1000)),
    }
    for key, value in expected.items():
        assert math.isclose(treatment[key], value, rel_tol=1e-9, abs_tol=1e-9), key
    intervals = {
        "absolute_lift_ci": (0.03 - Z * se, 0.03 + Z * se),
        "relative_lift_ci": (0.3 - Z * rel_se, 0.3 + Z * rel_se),
        "always_valid_lift_ci": (0.03 - half, 0.03 + half),
    }
    for key, (low, high) in intervals.items():
        assert math.isclose(treatment[key]["low"], low, abs_tol=1e-9), key
        assert math.isclose(treatment[key]["high"], high, abs_tol=1e-9), key
    centre = (pc + Z * Z / (2 * n)) / (1 + Z * Z / n)
    assert math.isclose(control["rate_ci"]["low"], centre - wilson_half, abs_tol=1e-9)
    assert control["absolute_lift"] is None
    assert control["p_value"] is None
    # the worked example's rounded figures (docs/split-tests.md)
    assert round(treatment["p_value"], 3) == 0.035
    assert round(treatment["always_valid_p_value"], 3) == 0.396
    assert round(treatment["chance_to_beat_control"], 3) == 0.982
    assert got["srm"] == {"p_value": 1.0, "flagged": False}
    assert (got["status"], got["winner_variant_id"]) == ("no_winner_yet", None)
    assert got["decision_method"] == "msprt_normal_mixture"
    assert (got["alpha"], got["tau"], got["min_sample"], got["prior"]) == (0.05, 0.02, 100, [1, 1])


def test_a_clear_winner_is_called_and_charted(client: Any, tenant: Any) -> None:
    h = tenant.headers
    s = setup(client, h)
    test, started = _started(client, h, s)
    at = started + timedelta(minutes=5)
    f, step = test["funnel_id"], test["step_id"]
    events = [exposure(f"c-{i}", test, 0, at) for i in range(300)]
    events += [exposure(f"t-{i}", test, 1, at) for i in range(300)]
    events += [goal(f"c-{i}", f, step, at + timedelta(seconds=1)) for i in range(15)]
    events += [goal(f"t-{i}", f, step, at + timedelta(seconds=1)) for i in range(90)]
    record(tenant.account_id, events)
    got = ok(client.get(f"{SPLITS}/{test['id']}", headers=h))["results"]
    assert (got["status"], got["winner_variant_id"]) == ("winner", test["variants"][1]["id"])
    assert got["variants"][1]["always_valid_p_value"] <= got["alpha_per_comparison"]

    r = client.get(f"{SPLITS}/{test['id']}/chart.svg", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.lstrip().startswith("<?xml")
    assert "<svg" in r.text
    assert "Control (control)" in r.text
    assert "Headline (winner)" in r.text


def test_an_srm_is_flagged_and_blocks_the_call(client: Any, tenant: Any) -> None:
    h = tenant.headers
    s = setup(client, h)
    test, started = _started(client, h, s)
    at = started + timedelta(minutes=5)
    f, step = test["funnel_id"], test["step_id"]
    events = [exposure(f"c-{i}", test, 0, at) for i in range(200)]
    events += [exposure(f"t-{i}", test, 1, at) for i in range(400)]
    events += [goal(f"t-{i}", f, step, at + timedelta(seconds=1)) for i in range(200)]
    record(tenant.account_id, events)
    got = ok(client.get(f"{SPLITS}/{test['id']}", headers=h))["results"]
    assert got["srm"]["flagged"] is True
    assert got["srm"]["p_value"] < 0.001
    assert (got["status"], got["winner_variant_id"]) == ("sample_ratio_mismatch", None)


def test_variant_for_serves_the_split_then_nothing_paused_then_the_winner(
    client: Any, tenant: Any
) -> None:
    h = tenant.headers
    s = setup(client, h)
    test, _ = _started(client, h, s, (30, 70))
    ids = [uuid.UUID(test[k]) for k in ("funnel_id", "step_id")]

    def served(visitor: str) -> splits.ServedVariant | None:
        with unit_of_work() as session:
            return splits.variant_for(session, tenant.account_id, ids[0], ids[1], visitor)

    for i in range(20):
        got = served(f"v-{i}")
        want = ok(client.get(f"{SPLITS}/{test['id']}/assignment?visitor_id=v-{i}", headers=h))
        assert got is not None
        assert str(got.variant_id) == want["variant_id"]
        assert (str(got.page_id), got.page_version) == (want["page_id"], want["page_version"])
        assert got.page_version is not None
    with unit_of_work() as session:
        other_step = uuid.UUID(s.funnel["steps"][1]["id"])
        assert splits.variant_for(session, tenant.account_id, ids[0], other_step, "v-0") is None
        assert splits.variant_for(session, uuid.uuid4(), ids[0], ids[1], "v-0") is None
    ok(patch(client, h, test["id"], status="paused"))
    assert served("v-0") is None
    winner = test["variants"][0]
    ok(patch(client, h, test["id"], winner_variant_id=winner["id"]))
    assert {str(served(f"v-{i}").variant_id) for i in range(20)} == {winner["id"]}  # type: ignore[union-attr]
    # a later test of the step takes over; completed without a winner, it serves nothing
    later = create(client, h, body(s, (50, 50)))
    ok(patch(client, h, later["id"], status="running"))
    assert {str(served(f"v-{i}").test_id) for i in range(5)} == {later["id"]}  # type: ignore[union-attr]
    ok(patch(client, h, later["id"], status="completed"))
    assert served("v-0") is None


def test_the_services_assignment_matches_the_split_over_100000_visitors() -> None:
    test = AbTest(id=uuid.uuid4(), winner_variant_id=None)
    percents = (50, 30, 20)
    variants = [
        AbTestVariant(id=uuid.uuid4(), position=i, percent=p) for i, p in enumerate(percents)
    ]
    counts = {v.id: 0 for v in variants}
    for n in range(100_000):
        counts[splits._assigned(test, variants, f"visitor-{n}").id] += 1
    observed = [counts[v.id] for v in variants]
    expected = [1000 * p for p in percents]
    assert stats.chisquare(observed, expected).pvalue > 0.001
    assert all(abs(o - e) / e < 0.02 for o, e in zip(observed, expected, strict=True))


def _race(first: Any, second: Any) -> Exception | None:
    """Run first in a transaction held open a moment, second meanwhile; second's error."""
    inside = threading.Event()

    def hold() -> None:
        with unit_of_work() as session:
            first(session)
            inside.set()
            time.sleep(0.5)

    thread = threading.Thread(target=hold)
    thread.start()
    assert inside.wait(10)
    try:
        with unit_of_work() as session:
            second(session)
    except AppError as exc:
        return exc
    finally:
        thread.join()
    return None


def test_a_start_and_a_page_delete_racing_never_leave_a_test_without_its_page(
    client: Any, tenant: Any
) -> None:
    h, account = tenant.headers, tenant.account_id
    s = setup(client, h)
    tests = [uuid.UUID(create(client, h, body(s))["id"]) for _ in range(2)]
    page_id = uuid.UUID(s.pages[1])

    def start(test_id: uuid.UUID) -> Any:
        data = SplitTestPatch(status="running")
        return lambda session: splits.update(
            session, account_id=account, test_id=test_id, data=data
        )

    def delete(session: Any) -> None:
        pages.delete(session, account_id=account, page_id=page_id)

    # the start holds the page row: the delete waits, then sees the running test
    error = _race(start(tests[0]), delete)
    assert isinstance(error, Conflict)
    assert error.code == "page_in_use"
    ok(patch(client, h, str(tests[0]), status="completed"))
    # the delete goes first: the start waits, then finds the page gone
    error = _race(delete, start(tests[1]))
    assert isinstance(error, Conflict)
    assert error.code == "page_not_published"
    assert ok(client.get(f"{SPLITS}/{tests[1]}", headers=h))["status"] == "draft"
