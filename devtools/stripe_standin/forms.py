"""Stripe's form encoding: nested keys in, typed parameters out, with Stripe's 400s.

Stripe reads `application/x-www-form-urlencoded` bodies (and query strings) whose keys
nest with brackets: `metadata[order_id]=7`, `payment_method_types[0]=card` (what
stripe-python sends), `payment_method_types[]=card` (what Stripe.js and curl send),
`automatic_payment_methods[enabled]=true`. An empty value means "unset" (`metadata=`
clears all metadata, `metadata[key]=` removes one key).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from devtools.stripe_standin.errors import ParamError

__all__ = ["Schema", "parse_form", "require", "validate"]

# A schema maps a parameter name to its kind: "string", "integer", "boolean", "metadata",
# "string_list", "off_session", "any", "unsupported" (real Stripe takes it, the stand-in
# answers a 400 saying so), a set of allowed strings, or a nested schema dict.
Schema = Mapping[str, Any]

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_INTEGER = re.compile(r"-?\d+")


def _split_key(key: str) -> list[str]:
    """`a[b][0][]` -> ["a", "b", "0", ""]; a key that does not parse is one literal name."""
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    rest = "[" + rest
    tokens = _BRACKETS.findall(rest)
    if "".join(f"[{t}]" for t in tokens) != rest or not head:
        return [key]
    return [head, *tokens]


def _listify(node: Any) -> Any:
    """Turn dicts whose keys are all array indexes into lists, depth first."""
    if isinstance(node, list):
        return [_listify(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def parse_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build nested parameters from decoded form pairs the way Stripe's API reads them."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        tokens = _split_key(key)
        node: Any = root
        for depth, token in enumerate(tokens):
            last = depth == len(tokens) - 1
            shown = tokens[0] + "".join(f"[{t}]" for t in tokens[1 : depth + 1])
            if token == "":
                if not last or not isinstance(node, list):
                    raise ParamError(f"Invalid array: {key}", param=shown)
                node.append(value)
                break
            if not isinstance(node, dict):
                raise ParamError(f"Invalid hash: {key}", param=shown)
            if last:
                if isinstance(node.get(token), dict | list):
                    raise ParamError(f"Invalid hash: {key}", param=shown)
                node[token] = value
                break
            following = tokens[depth + 1]
            child = node.get(token)
            if child is None or child == "":
                child = [] if following == "" else {}
                node[token] = child
            elif following == "" and not isinstance(child, list):
                raise ParamError(f"Invalid array: {key}", param=shown)
            elif following != "" and not isinstance(child, dict):
                raise ParamError(f"Invalid hash: {key}", param=shown)
            node = child
    result: dict[str, Any] = _listify(root)
    return result


def _check_metadata(value: Any, param: str) -> dict[str, str] | None:
    if value is None or value == "":
        return None  # "metadata=" clears all keys on update
    if not isinstance(value, dict):
        raise ParamError(f"Invalid object: {param} must be a hash", param=param)
    if len(value) > 50:
        raise ParamError("Metadata can have at most 50 keys.", param=param)
    for key, item in value.items():
        if len(key) > 40:
            raise ParamError(
                f"Metadata keys can have up to 40 characters; {key!r} is too long.",
                param=f"{param}[{key}]",
            )
        if not isinstance(item, str):
            raise ParamError(f"Invalid string: {param}[{key}]", param=f"{param}[{key}]")
        if len(item) > 500:
            raise ParamError(
                "Metadata values can have up to 500 characters.", param=f"{param}[{key}]"
            )
    return dict(value)


def _check(kind: Any, value: Any, param: str) -> Any:
    if isinstance(kind, Mapping):
        if value == "":
            return None
        if not isinstance(value, dict):
            raise ParamError(f"Invalid object: {param} must be a hash", param=param)
        return validate(value, kind, prefix=param)
    if kind == "metadata":
        return _check_metadata(value, param)
    if kind == "any":
        return value
    if kind == "unsupported":
        raise ParamError(
            f"The Stripe stand-in (devtools/stripe_standin) does not implement the "
            f"parameter {param}; real Stripe accepts it.",
            param=param,
        )
    if kind == "string_list":
        if value == "":
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ParamError(f"Invalid array: {param}", param=param)
        return list(value)
    if not isinstance(value, str):
        raise ParamError(f"Invalid {param}: expected a single value, not a hash", param=param)
    if value == "":
        return None  # Stripe's "unset" for optional scalars
    if kind == "string":
        return value
    if kind == "integer":
        if not _INTEGER.fullmatch(value):
            raise ParamError(
                f"Invalid integer: {value}", param=param, code="parameter_invalid_integer"
            )
        return int(value)
    if kind == "boolean":
        if value not in ("true", "false"):
            raise ParamError(f"Invalid boolean: {value}", param=param)
        return value == "true"
    if kind == "off_session":  # a boolean, or one_off / recurring
        if value in ("true", "false"):
            return value == "true"
        if value in ("one_off", "recurring"):
            return True
        raise ParamError(f"Invalid boolean: {value}", param=param)
    if isinstance(kind, set | frozenset):
        if value not in kind:
            allowed = ", ".join(sorted(kind))
            raise ParamError(f"Invalid {param}: must be one of {allowed}", param=param)
        return value
    raise AssertionError(f"unknown schema kind {kind!r}")


def validate(params: Mapping[str, Any], schema: Schema, *, prefix: str = "") -> dict[str, Any]:
    """Check params against schema: unknown names, types; returns the typed values.

    A name present with an empty value maps to None, which an update reads as "unset".
    """
    out: dict[str, Any] = {}
    for name, value in params.items():
        param = f"{prefix}[{name}]" if prefix else name
        if name not in schema:
            raise ParamError(
                f"Received unknown parameter: {param}", param=param, code="parameter_unknown"
            )
        out[name] = _check(schema[name], value, param)
    return out


def require(params: Mapping[str, Any], *names: str) -> None:
    """Stripe's `parameter_missing` for the first absent (or empty) required parameter."""
    for name in names:
        if params.get(name) is None:
            raise ParamError(
                f"Missing required param: {name}.", param=name, code="parameter_missing"
            )
