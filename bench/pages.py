"""Benchmark: rendering a 500-element page, and the funnel list with 10,000 funnels.

Run with `.venv/bin/python -m bench.pages` (about 1-2 minutes) or `--quick` (fewer
iterations, well under a minute). Progress goes to stderr; the tables go to stdout.

1. Page rendering, in-process: a valid 500-node element tree (sections > rows > columns >
   every content element type) is validated (`parse_tree`) and rendered with the function
   publish uses (`render_nodes`) and the one preview uses (`render_page`, validate + render).
   Baseline: `json.dumps` of the same tree. Aim: a 500-element page renders in under 50 ms.
2. The funnel list endpoint over real HTTP: PostgreSQL and Redis (embedded in a temp dir
   unless DATABASE_URL / REDIS_URL are set; then a database of our own is created on that
   server and dropped afterwards), `uvicorn api.main:app` started as `./dev up` starts it
   (a subprocess of our own, rate limits off), two accounts registered through the API,
   10,000 funnels for one and 3,000 for the other bulk-loaded with COPY, then
   GET /api/v1/funnels measured with a keep-alive httpx client. Baseline: the statement the
   paginator runs (the page and its COUNT(*) as a scalar subquery), compiled from the same
   SQLAlchemy statement and executed through psycopg directly. Aim: within 3x of the bare query.
   A breakdown table times the pieces of one request in-process (auth query, count,
   page query, response building, JSON) to show where the remaining time goes.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import math
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench._servers import ROOT, BenchServers, psycopg_conninfo
from devtools.embedded import free_port

RENDER_AIM_MS = 50.0
LIST_AIM_RATIO = 3.0
TREE_NODES = 500
FUNNELS_MAIN = 10_000
FUNNELS_OTHER = 3_000
PAGE_SIZE = 20
DEEP_PAGE = 400
DEEP_OFFSET = (DEEP_PAGE - 1) * PAGE_SIZE  # 7,980 of 10,000
SEARCH_TERM = "webinar"


def log(message: str) -> None:
    """Progress, on stderr (stdout carries only the tables)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- statistics


@dataclass
class Sample:
    """Timings of one case, in milliseconds."""

    times_ms: list[float]

    @property
    def n(self) -> int:
        """How many timed iterations."""
        return len(self.times_ms)

    @property
    def p50(self) -> float:
        """Median."""
        return statistics.median(self.times_ms)

    @property
    def p99(self) -> float:
        """99th percentile, nearest rank."""
        ordered = sorted(self.times_ms)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def measure_pair(
    a: Callable[[], object], b: Callable[[], object], n: int, warmup: int
) -> tuple[Sample, Sample]:
    """Time a and b alternately (same conditions for both on a noisy machine)."""
    for _ in range(warmup):
        a()
        b()
    times_a: list[float] = []
    times_b: list[float] = []
    for _ in range(n):
        start = time.perf_counter_ns()
        a()
        middle = time.perf_counter_ns()
        b()
        end = time.perf_counter_ns()
        times_a.append((middle - start) / 1e6)
        times_b.append((end - middle) / 1e6)
    return Sample(times_a), Sample(times_b)


def measure(fn: Callable[[], object], n: int, warmup: int) -> Sample:
    """Time n calls of fn after warmup untimed ones."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return Sample(times)


@dataclass
class Row:
    """One line of a table."""

    case: str
    sample: Sample
    baseline: Sample | None = None

    @property
    def ratio(self) -> float | None:
        """p50 over the baseline's p50."""
        if self.baseline is None or self.baseline.p50 <= 0:
            return None
        return self.sample.p50 / self.baseline.p50


def table(title: str, rows: Sequence[Row]) -> str:
    """A markdown table: case | n | p50 ms | p99 ms | baseline p50 ms | ratio."""
    header = ["case", "n", "p50 ms", "p99 ms", "baseline p50 ms", "ratio"]
    body = [
        [
            r.case,
            str(r.sample.n),
            f"{r.sample.p50:.3f}",
            f"{r.sample.p99:.3f}",
            "-" if r.baseline is None else f"{r.baseline.p50:.3f}",
            "-" if r.ratio is None else f"{r.ratio:.2f}x",
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([f"### {title}", "", fmt(header), rule, *(fmt(b) for b in body)])


# --------------------------------------------------------------------------- 1. rendering

# A content mix like a long sales page: mostly copy, headlines and media, some conversion.
CONTENT_CYCLE = (
    "headline",
    "text",
    "image",
    "text",
    "button",
    "testimonial",
    "video",
    "text",
    "pricing",
    "divider",
    "form",
    "headline",
    "countdown",
    "image",
    "order_form",
    "text",
)
COLUMNS_CYCLE = (3, 2, 4, 1)
SECTIONS = 16
ROWS_PER_SECTION = 2


def _content_props(kind: str, i: int) -> dict[str, Any]:
    """Valid props of one content element, varied by i."""
    if kind == "headline":
        return {"text": f"Headline number {i}: grow faster", "level": 1 + i % 4, "align": "left"}
    if kind == "text":
        return {
            "html": f"<p>Paragraph {i} of our <strong>proven</strong> system, with "
            f'<em>emphasis</em> and a <a href="https://example.com/p/{i}">link</a>.</p>'
            "<ul><li>First benefit</li><li>Second benefit</li><li>Third benefit</li></ul>"
            "<blockquote>A short quote <b>in bold</b> and <i>italics</i>.</blockquote>",
            "align": "left",
        }
    if kind == "image":
        return {"src": f"https://cdn.example.com/img/{i}.png", "alt": f"Image {i}", "width": 640}
    if kind == "video":
        if i % 3 == 2:
            return {"provider": "file", "source": f"https://cdn.example.com/v/{i}.mp4"}
        provider = "youtube" if i % 3 == 0 else "vimeo"
        return {"provider": provider, "source": f"vid{i}", "caption": "Watch this"}
    if kind == "button":
        return {"label": f"Get it now {i}", "href": "#order", "style": "primary"}
    if kind == "form":
        return {
            "fields": [
                {"name": "email", "label": "Email", "type": "email", "required": True},
                {"name": "first_name", "label": "First name"},
                {"name": "phone", "label": "Phone", "type": "tel"},
            ],
            "submit_label": "Send me the guide",
        }
    if kind == "order_form":
        return {"heading": "Complete your order", "collect_phone": i % 2 == 0}
    if kind == "countdown":
        return {"ends_at": "2099-01-01T00:00:00+00:00", "expired_text": "Too late"}
    if kind == "testimonial":
        return {
            "quote": f"It changed my business ({i}).",
            "author": "Ada",
            "role": "Founder",
            "avatar": f"https://cdn.example.com/a/{i}.png",
            "rating": 1 + i % 5,
        }
    if kind == "pricing":
        return {
            "plan": f"Plan {i}",
            "price_cents": 4900 + i,
            "currency": "USD",
            "features": ["All lessons", "Community", "Coaching calls", "Lifetime updates"],
            "cta_label": "Join",
            "cta_href": "#order",
            "highlighted": i % 2 == 0,
        }
    if kind == "divider":
        return {"style": "dashed", "spacing": "small"}
    raise ValueError(kind)


def large_tree(total: int = TREE_NODES) -> list[dict[str, Any]]:
    """A valid element tree of exactly `total` nodes using every content element type."""
    sections: list[dict[str, Any]] = []
    columns: list[list[dict[str, Any]]] = []  # each column's children, filled below
    layout = 0
    for s in range(SECTIONS):
        rows = []
        for r in range(ROWS_PER_SECTION):
            count = COLUMNS_CYCLE[(s * ROWS_PER_SECTION + r) % len(COLUMNS_CYCLE)]
            cols = []
            for c in range(count):
                children: list[dict[str, Any]] = []
                columns.append(children)
                width = 12 // count if c % 2 == 0 else None
                cols.append(
                    {
                        "id": f"col-{s}-{r}-{c}",
                        "type": "column",
                        "props": {"width": width},
                        "children": children,
                    }
                )
            rows.append(
                {"id": f"row-{s}-{r}", "type": "row", "props": {"gap": "medium"}, "children": cols}
            )
            layout += 1 + count
        sections.append(
            {
                "id": f"section-{s}",
                "type": "section",
                "props": {
                    "padding": "medium",
                    "anchor": f"part-{s}",
                    "background_color": "#f5f7fa" if s % 2 else None,
                },
                "children": rows,
            }
        )
        layout += 1
    content = total - layout
    if content < len(set(CONTENT_CYCLE)):
        raise ValueError(f"{total} nodes leave too little room for content")
    for i in range(content):
        kind = CONTENT_CYCLE[i % len(CONTENT_CYCLE)]
        columns[i % len(columns)].append(
            {"id": f"{kind}-{i}", "type": kind, "props": _content_props(kind, i)}
        )
    return sections


def _count(nodes: list[dict[str, Any]]) -> int:
    return sum(1 + _count(n.get("children", [])) for n in nodes)


def bench_render(n: int) -> tuple[list[Row], list[str]]:
    """Validation and rendering of the 500-element page; the aim note."""
    from domain.pages.elements import CONTENT_TYPES, parse_tree, walk_nodes
    from domain.pages.render import render_nodes, render_page, sanitize_rich_text
    from domain.pages.schemas import Seo

    tree = large_tree()
    assert _count(tree) == TREE_NODES, _count(tree)
    nodes = parse_tree(tree)
    kinds = {node.type for node in walk_nodes(nodes)}
    assert set(CONTENT_TYPES) <= kinds, set(CONTENT_TYPES) - kinds
    seo_raw = {"title": "Big page", "description": "A long sales page"}
    html = render_nodes(nodes, name="Big page", seo=Seo.model_validate(seo_raw, strict=False))
    log(
        f"render: {TREE_NODES}-node tree, {len(json.dumps(tree))} bytes of JSON, "
        f"{len(html)} bytes of HTML"
    )
    texts = [node.props for node in walk_nodes(nodes) if node.type == "text"]
    warm = max(5, n // 20)

    def publish_path() -> str:
        # What domain.pages.service.publish does with a validated tree.
        return render_nodes(nodes, name="Big page", seo=Seo.model_validate(seo_raw, strict=False))

    def preview_path() -> str:
        # What domain.pages.service.preview does with the stored draft.
        return render_page(name="Big page", elements=tree, seo=seo_raw, device="desktop")

    def sanitize_only() -> None:
        for props in texts:
            sanitize_rich_text(props.html)  # type: ignore[attr-defined]

    baseline = measure(lambda: json.dumps(tree), n, warm)
    rows = [
        Row(
            f"validate: parse_tree ({TREE_NODES} nodes)",
            measure(lambda: parse_tree(tree), n, warm),
            baseline,
        ),
        Row(
            "render: render_nodes (publish path, tree already validated)",
            measure(publish_path, n, warm),
            baseline,
        ),
        Row(
            f"  of which nh3 sanitize of the {len(texts)} text nodes",
            measure(sanitize_only, n, warm),
            baseline,
        ),
        Row("preview: render_page (validate + render)", measure(preview_path, n, warm), baseline),
        Row("baseline: json.dumps of the same tree", baseline, baseline),
    ]
    # The p99 outliers above are CPython's full (generation 2) collections walking every
    # object the process holds. gc.freeze() after start-up moves those into a permanent
    # generation; measured here, then undone so nothing else runs frozen.
    gen2_ms: list[float] = []
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started.append(time.perf_counter())
            elif started:
                gen2_ms.append((time.perf_counter() - started.pop()) * 1000)

    gc.callbacks.append(on_gc)
    try:
        measure(preview_path, n, warm)
        unfrozen_gen2 = list(gen2_ms)
        gc.collect()
        gc.freeze()
        gen2_ms.clear()
        frozen = measure(preview_path, n, warm)
    finally:
        gc.unfreeze()
        gc.callbacks.remove(on_gc)
    rows.append(Row("preview again, after gc.freeze() (no full-GC pauses)", frozen, baseline))
    notes = [
        f"Baseline: json.dumps of the same {TREE_NODES}-node tree (merely serializing it); "
        "ratio = p50 / baseline p50.",
        f"Full (gen 2) GC pauses during {n} previews: "
        + (", ".join(f"{ms:.1f}" for ms in unfrozen_gen2) or "none")
        + " ms; after gc.freeze(): "
        + (", ".join(f"{ms:.1f}" for ms in gen2_ms) or "none")
        + " ms.",
        f"Aim: a {TREE_NODES}-element page renders in under {RENDER_AIM_MS:.0f} ms.",
    ]
    for row in rows:
        if row.case.startswith(("render:", "preview")):
            verdict = (
                "met"
                if row.sample.p99 < RENDER_AIM_MS
                else ("met at p50 only" if row.sample.p50 < RENDER_AIM_MS else "NOT met")
            )
            notes.append(
                f"  {row.case.split(' (')[0].split(':')[0]}: p50 {row.sample.p50:.2f} ms = "
                f"{row.sample.p50 / RENDER_AIM_MS:.2f} of the aim, p99 {row.sample.p99:.2f} ms "
                f"= {row.sample.p99 / RENDER_AIM_MS:.2f} of the aim -> {verdict}"
            )
    return rows, notes


# --------------------------------------------------------------------------- 2. funnel list


@dataclass
class Api:
    """The API server we started."""

    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def stop(self) -> None:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def api_env(servers: BenchServers) -> dict[str, str]:
    """The environment of the API process (and of the in-process breakdown)."""
    return {
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        # Production refuses the development key; a bench run gets a Fernet key of its own.
        "INTEGRATIONS_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "DATABASE_URL": servers.database_url,
        "REDIS_URL": servers.redis_url,
        "RATE_LIMIT_ENABLED": "false",
        "ACCESS_TOKEN_TTL_SECONDS": "3600",
        "ASSET_DIR": str(Path(servers.work_dir) / "assets"),
    }


def start_api(servers: BenchServers, env_extra: dict[str, str], app: str = "api.main:app") -> Api:
    """`uvicorn api.main:app` (or app) as ./dev up runs it, on a free port; output to a log."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    env.update(env_extra)
    log_path = Path(servers.work_dir) / "api.log"
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    api = Api(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{api.base_url}/health", timeout=1).status_code == 200:
                return api
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            api.stop()
            raise RuntimeError(f"the API did not answer in 60 s:\n{log_path.read_text()}")
        time.sleep(0.1)


def register(client: httpx.Client, name: str) -> tuple[uuid.UUID, dict[str, str]]:
    """A new account through the API: its id and its owner's Authorization header."""
    body = {
        "email": f"owner-{uuid.uuid4().hex[:12]}@example.com",
        "password": "correct horse battery staple",
        "account_name": name,
    }
    r = client.post("/api/v1/auth/register", json=body)
    if r.status_code != 201:
        raise RuntimeError(f"register: {r.status_code} {r.text}")
    data = r.json()
    return uuid.UUID(data["account"]["id"]), {"Authorization": f"Bearer {data['access_token']}"}


ADJECTIVES = ("Spring", "Summer", "Evergreen", "Flash", "Holiday", "Launch", "VIP", "Founders")
KINDS = (
    ("webinar", "webinar"),
    ("sales", "sales"),
    ("lead magnet", "lead_generation"),
    ("product launch", "product_launch"),
    ("membership", "membership"),
    ("tripwire", "tripwire"),
    ("challenge", "lead_generation"),
    ("masterclass", "sales"),
)
STATUSES = ("draft",) * 10 + ("active",) * 5 + ("paused",) * 3 + ("archived",) * 2


def seed_funnels(conninfo: str, accounts: Sequence[tuple[uuid.UUID, int]]) -> None:
    """Bulk-load funnels with COPY; the accounts' creation times interleave over a year."""
    rng = random.Random(42)
    now = datetime.now(UTC)
    with psycopg.connect(conninfo) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY funnels (id, account_id, name, slug, funnel_type, description, status, "
                "settings, version, published_version, published_at, archived_at, created_at, "
                "updated_at) FROM STDIN"
            ) as copy,
        ):
            for account_id, count in accounts:
                for i in range(count):
                    label, funnel_type = KINDS[i % len(KINDS)]
                    status = STATUSES[rng.randrange(len(STATUSES))]
                    created = now - timedelta(seconds=rng.randrange(365 * 86400))
                    published = status in ("active", "paused", "archived")
                    copy.write_row(
                        (
                            uuid.uuid4(),
                            account_id,
                            f"{ADJECTIVES[i % len(ADJECTIVES)]} {label} funnel {i:05d}",
                            f"funnel-{i:05d}",
                            funnel_type,
                            "A funnel seeded for the benchmark" if i % 3 else None,
                            status,
                            "{}",
                            1 + i % 7,
                            1 if published else None,
                            created + timedelta(days=1) if published else None,
                            created + timedelta(days=2) if status == "archived" else None,
                            created,
                            created + timedelta(hours=1),
                        )
                    )
        conn.commit()
    # Steady state: autovacuum would have run on a table this size long ago. Without it the
    # visibility map is empty and the COUNT's index-only scan fetches every heap row.
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) funnels")


@dataclass
class ListCase:
    """One request of the list endpoint and its repository arguments."""

    label: str
    params: dict[str, str | int]
    page: int
    status: str | None = None
    search: str | None = None


def compiled_queries(account_id: uuid.UUID, case: ListCase) -> list[tuple[str, dict[str, Any]]]:
    """The one statement list_funnels + paginate run (page rows + total), compiled for psycopg."""
    from sqlalchemy import func, select
    from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg

    from domain.funnels.models import Funnel
    from domain.shared.db import like_pattern

    # The same statement as domain.funnels.repository.list_funnels builds.
    stmt = select(Funnel).where(Funnel.account_id == account_id)
    if case.status is not None:
        stmt = stmt.where(Funnel.status == case.status)
    if case.search:
        stmt = stmt.where(Funnel.name.ilike(like_pattern(case.search)))
    stmt = stmt.order_by(Funnel.created_at.desc(), Funnel.id)
    # ... and domain.shared.db.paginate runs it with the count as a scalar subquery.
    count = select(func.count()).select_from(stmt.order_by(None).subquery())
    page = (
        stmt.add_columns(count.scalar_subquery())
        .offset((case.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    compiled = page.compile(dialect=pg_psycopg.dialect())  # type: ignore[no-untyped-call]
    return [(str(compiled), dict(compiled.params))]


def bench_list(
    servers: BenchServers, n: int, warmup: int
) -> tuple[list[Row], list[str], list[Row]]:
    """The list endpoint over HTTP vs its bare queries, and the in-process breakdown."""
    env = api_env(servers)
    api = start_api(servers, env)
    log(f"api: pid {api.proc.pid} at {api.base_url}")
    try:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            main_id, headers = register(client, "Bench Main")
            other_id, _ = register(client, "Bench Other")
            t0 = time.perf_counter()
            seed_funnels(servers.conninfo, [(main_id, FUNNELS_MAIN), (other_id, FUNNELS_OTHER)])
            log(
                f"seeded {FUNNELS_MAIN} + {FUNNELS_OTHER} funnels in "
                f"{time.perf_counter() - t0:.1f} s"
            )
            cases = [
                ListCase(f"list page=1 size={PAGE_SIZE}", {"page": 1, "page_size": PAGE_SIZE}, 1),
                ListCase(
                    f"list status=draft search={SEARCH_TERM} page=1",
                    {"status": "draft", "search": SEARCH_TERM, "page": 1, "page_size": PAGE_SIZE},
                    1,
                    status="draft",
                    search=SEARCH_TERM,
                ),
                ListCase(
                    f"list page={DEEP_PAGE} size={PAGE_SIZE} (offset {DEEP_OFFSET})",
                    {"page": DEEP_PAGE, "page_size": PAGE_SIZE},
                    DEEP_PAGE,
                ),
            ]
            rows: list[Row] = []
            notes: list[str] = []
            floor = measure(lambda: client.get("/health"), n, warmup)
            rows.append(Row("GET /health (HTTP floor: no DB, no auth)", floor))
            with psycopg.connect(servers.conninfo, autocommit=True) as conn:
                version = conn.execute("SHOW server_version").fetchone()
                notes.append(f"PostgreSQL {version[0] if version else '?'}")
                for case in cases:
                    first = client.get("/api/v1/funnels", params=case.params, headers=headers)
                    if first.status_code != 200:
                        raise RuntimeError(f"{case.label}: {first.status_code} {first.text}")
                    body = first.json()
                    queries = compiled_queries(main_id, case)
                    cur = conn.execute(*queries[0])
                    assert cur.description is not None
                    id_col = [d.name for d in cur.description].index("id")
                    bare_rows = cur.fetchall()
                    bare_ids = [str(r[id_col]) for r in bare_rows]
                    # The total rides along as the last column of every row.
                    assert body["total"] == bare_rows[0][-1], (body["total"], bare_rows[0][-1])
                    # The bare queries answer the very rows the API answered, in its order.
                    assert bare_ids == [i["id"] for i in body["items"]], case.label
                    ids = {i["id"] for i in body["items"]}
                    assert (
                        len(ids)
                        == len(body["items"])
                        == min(PAGE_SIZE, max(0, body["total"] - (case.page - 1) * PAGE_SIZE))
                    )
                    log(
                        f"{case.label}: total {body['total']}, {len(body['items'])} items, "
                        f"{len(first.content)} bytes"
                    )

                    def request(case: ListCase = case) -> None:
                        r = client.get("/api/v1/funnels", params=case.params, headers=headers)
                        r.raise_for_status()

                    def bare(queries: list[tuple[str, dict[str, Any]]] = queries) -> None:
                        conn.execute(*queries[0]).fetchall()

                    api_sample, bare_sample = measure_pair(request, bare, n, warmup)
                    rows.append(Row(f"GET {case.label}", api_sample, bare_sample))
                    rows.append(
                        Row(f"  bare query, page + count ({case.label})", bare_sample, bare_sample)
                    )
                sql, params = compiled_queries(main_id, cases[0])[0]
                notes.append("Baseline SQL (page=1), run through psycopg directly:")
                notes.append(f"  {sql.replace(chr(10), ' ')}")
                plan = conn.execute(
                    f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) {sql}", params
                ).fetchall()
                notes.append("  plan:")
                notes.extend(f"    {line[0]}" for line in plan)
    finally:
        api.stop()
        log("api stopped")
    breakdown = bench_breakdown(env, main_id, cases[0], n, warmup)
    return rows, notes, breakdown


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def bench_breakdown(
    env: dict[str, str], account_id: uuid.UUID, case: ListCase, n: int, warmup: int
) -> list[Row]:
    """The pieces of one list request, timed in-process with the app's own code."""
    from domain.shared import db as dbmod
    from domain.shared.settings import get_settings

    with _environ(env):
        get_settings.cache_clear()
        dbmod.dispose_engine()
        try:
            return _breakdown_rows(account_id, case, n, warmup)
        finally:
            dbmod.dispose_engine()
            get_settings.cache_clear()


def _breakdown_rows(account_id: uuid.UUID, case: ListCase, n: int, warmup: int) -> list[Row]:
    from fastapi.responses import JSONResponse
    from sqlalchemy import func, select, text

    from domain.accounts.models import AuthSession, User
    from domain.accounts.repository import get_active_user_in_session
    from domain.funnels import repository as repo
    from domain.funnels.models import Funnel
    from domain.funnels.schemas import FunnelSummaryOut
    from domain.shared.db import unit_of_work
    from domain.shared.schemas import PageParams, page_of
    from domain.shared.settings import get_settings

    params = PageParams(page=case.page, page_size=PAGE_SIZE)
    with unit_of_work() as session:
        user_id, session_id = session.execute(
            select(User.id, AuthSession.id)
            .join(AuthSession, AuthSession.user_id == User.id)
            .where(User.account_id == account_id)
        ).one()
        rows, total = repo.list_funnels(
            session, account_id, params, status=case.status, funnel_type=None, search=case.search
        )
        page = page_of(FunnelSummaryOut, rows, total, params)

    def uow_only() -> None:
        with unit_of_work() as s:
            s.execute(text("SELECT 1"))

    def auth_query() -> None:
        with unit_of_work() as s:
            get_active_user_in_session(
                s, user_id=user_id, account_id=account_id, session_id=session_id
            )

    def list_only() -> None:
        with unit_of_work() as s:
            repo.list_funnels(
                s, account_id, params, status=case.status, funnel_type=None, search=case.search
            )

    def count_only() -> None:
        with unit_of_work() as s:
            stmt = select(Funnel).where(Funnel.account_id == account_id)
            s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))

    def build() -> None:
        page_of(FunnelSummaryOut, rows, total, params)

    def serialize() -> None:
        # What FastAPI does with the route's return value: validate it against the
        # response_model, dump it in JSON mode, then JSONResponse renders json.dumps.
        JSONResponse(type(page).model_validate(page).model_dump(mode="json"))

    def whole() -> None:
        # One unit of work, as the request has: auth, COUNT + page, build, serialize.
        with unit_of_work() as s:
            get_active_user_in_session(
                s, user_id=user_id, account_id=account_id, session_id=session_id
            )
            found, count = repo.list_funnels(
                s, account_id, params, status=case.status, funnel_type=None, search=case.search
            )
        JSONResponse(page_of(FunnelSummaryOut, found, count, params).model_dump(mode="json"))

    def roundtrip() -> None:
        raw.execute("SELECT 1").fetchone()

    raw = psycopg.connect(psycopg_conninfo(get_settings().sqlalchemy_url), autocommit=True)
    full = measure(whole, n, warmup)
    pieces = [
        ("  one DB roundtrip (psycopg SELECT 1, autocommit)", roundtrip),
        ("  unit of work only (pool checkout + pre-ping, SELECT 1, commit)", uow_only),
        ("  auth query (user + login session) in its own unit of work", auth_query),
        ("  list_funnels via the ORM (COUNT + page) in a unit of work", list_only),
        ("    of which COUNT(*) alone via the ORM (own unit of work)", count_only),
        (f"  page_of: {len(rows)} FunnelSummaryOut from ORM rows", build),
        ("  response: re-validate + model_dump(json) + JSONResponse", serialize),
    ]
    out = [Row("in-process: one request's work (auth + COUNT + page + build + JSON)", full, full)]
    try:
        out.extend(Row(label, measure(fn, n, warmup), full) for label, fn in pieces)
    finally:
        raw.close()
    return out


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run both benchmarks and print the tables."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.pages", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer iterations (under a minute)")
    args = parser.parse_args(argv)
    renders, requests, warmup = (60, 100, 15) if args.quick else (200, 300, 30)
    started = time.perf_counter()

    log(f"rendering: {renders} iterations per case")
    render_rows, render_notes = bench_render(renders)

    log("starting servers (embedded unless DATABASE_URL / REDIS_URL are set)")
    servers = BenchServers()
    try:
        servers.start()
        log(
            f"servers up; postgres {'embedded' if servers.postgres_embedded else 'external'}, "
            f"redis {'embedded' if servers.redis_embedded else 'external'}"
        )
        list_rows, list_notes, breakdown = bench_list(servers, requests, warmup)
    finally:
        servers.stop()
        log("servers stopped, temp dirs removed")
    gc.collect()

    pg = list_notes.pop(0)
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, {pg}"
        f" ({'embedded' if servers.postgres_embedded else 'DATABASE_URL'}), "
        f"mode: {'--quick' if args.quick else 'full'}"
    )
    print()
    print(table(f"Rendering a {TREE_NODES}-element page (in-process)", render_rows))
    print()
    print("\n".join(render_notes))
    print()
    title = (
        f"GET /api/v1/funnels, {FUNNELS_MAIN:,} funnels in the account "
        f"(+{FUNNELS_OTHER:,} in another), uvicorn + keep-alive httpx"
    )
    print(table(title, list_rows))
    print()
    print(
        "Baseline: the bare statement the endpoint runs (the page SELECT ... LIMIT/OFFSET with "
        "its COUNT(*) as a scalar subquery) through psycopg; ratio = API p50 / bare p50."
    )
    print(f"Aim: within {LIST_AIM_RATIO:.0f}x of the bare query.")
    for row in list_rows:
        if row.case.startswith("GET list") and row.ratio is not None:
            verdict = "met" if row.ratio <= LIST_AIM_RATIO else "NOT met"
            print(f"  {row.case[4:]}: {row.ratio:.2f}x -> {verdict}")
    print()
    print(
        table("Where one list request's time goes (page=1, in-process, same database)", breakdown)
    )
    print()
    print("ratio here = share of the in-process total (p50 / total p50).")
    print()
    print("\n".join(list_notes))
    print()
    print(f"total bench time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
