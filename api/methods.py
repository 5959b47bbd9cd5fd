"""Which methods a path allows: the Allow header of a 405, and a 405 where a fixed path is meant."""

from __future__ import annotations

from typing import Any

from fastapi import routing
from starlette.routing import Match
from starlette.types import Scope


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """The methods of the most specific routes matching this path (fewest path parameters).

    `/api/v1/funnels/templates` is the templates route's path, not a funnel id: PATCH on it
    is a 405 (Allow: GET), not the 422 of PATCH /api/v1/funnels/{funnel_id}.
    """
    iterate = getattr(routing, "iter_route_contexts", None)
    routes = iterate(app.routes) if iterate is not None else app.routes
    matching: list[tuple[int, set[str]]] = []
    for route in routes:
        methods = getattr(route, "methods", None)
        if not methods:
            continue
        match, _ = route.matches(scope)
        if match != Match.NONE:
            matching.append((len(getattr(route, "param_convertors", {}) or {}), set(methods)))
    if not matching:
        return []
    fewest = min(params for params, _ in matching)
    return sorted(set().union(*(methods for params, methods in matching if params == fewest)))
