"""Scenarios: a world (apps, people, Pages, roles) loaded from YAML/JSON and saved back."""

from __future__ import annotations

import json
import math
import re
from dataclasses import MISSING, asdict, fields
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from .conversations import Message, Thread
from .world import (
    ALL_TASKS,
    APP_ROLES,
    PAGE_FIELDS,
    App,
    AppSubscription,
    Business,
    Grant,
    LoginConfig,
    Page,
    Person,
    Token,
    World,
    psid_for,
)

MAX_SCENARIO_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 40
"""Deeper than any world needs (a template button in a message in a thread is ~8 levels)."""
MAX_NODES = 2_000_000
TOP_LEVEL = ("apps", "people", "businesses", "pages", "grants", "tokens", "threads", "clock")
ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
T = TypeVar("T")
_HINTS: dict[type, dict[str, Any]] = {}


class ScenarioError(ValueError):
    """The scenario file is not a world we can build; the message says where and why."""


def default_scenario() -> dict[str, Any]:
    text = (
        resources.files("frontdesk.emulator").joinpath("scenarios/default.yaml").read_text("utf-8")
    )
    return parse_text(text, "default.yaml")


def read(path: str | Path) -> dict[str, Any]:
    file = Path(path)
    try:
        # Read at most one byte past the limit: a scenario may also be a pipe or a device.
        with file.open("rb") as stream:
            raw = stream.read(MAX_SCENARIO_BYTES + 1)
    except OSError as err:
        raise ScenarioError(f"{file}: cannot read ({err.strerror})") from err
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{file}: larger than {MAX_SCENARIO_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(f"{file}: not UTF-8 text") from err
    return parse_text(text, str(file))


def parse_text(text: str, name: str) -> dict[str, Any]:
    """Parse YAML (safe tags only: no `!!python/...`) or JSON into the top-level mapping."""
    kind = "JSON" if name.endswith(".json") else "YAML"
    try:
        data = json.loads(text) if kind == "JSON" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ScenarioError(f"{name}: not valid {kind}: {err}") from err
    except RecursionError as err:
        raise ScenarioError(f"{name}: nested too deeply") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{name}: the top level must be a mapping of apps, people, pages…")
    return data


def _check_plain(data: Any) -> None:
    """Only mappings, lists, strings, numbers, booleans and null, of bounded depth and size.

    YAML aliases can make a small file expand into a huge tree, and YAML has dates, sets and
    binary besides; none of that is a world, so it is refused here, with the place named.
    """
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    nodes = 0
    while stack:
        value, where, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ScenarioError(f"more than {MAX_NODES} values once YAML aliases are expanded")
        if depth > MAX_DEPTH:
            raise ScenarioError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, bool) or not isinstance(key, str | int):
                    raise ScenarioError(f"{where or 'top level'}: key {key!r} is not a string")
                _check_text(str(key), where or "top level")
                stack.append((item, f"{where}.{key}" if where else str(key), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ScenarioError(f"{where}: numbers must be finite")
        elif value is not None and not isinstance(value, bool | int | float):
            raise ScenarioError(
                f"{where}: a {type(value).__name__} is not allowed here "
                "(quote dates and other special YAML values)"
            )


def _string_keys(value: Any) -> Any:
    """YAML reads unquoted numeric keys as numbers; a world's keys are text, as when saved."""
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        # JSON's "\ud800" escapes decode to lone surrogates, which cannot be saved again.
        raise ScenarioError(f"{where}: not valid Unicode text") from err


def _conform(value: Any, hint: Any, where: str) -> Any:
    """`value` as the type `hint` describes (numbers may stand for strings), or ScenarioError."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any or hint is object:
        return value
    if origin is Literal:
        if value not in args:
            raise ScenarioError(f"{where}: one of {', '.join(map(str, args))}")
        return value
    if origin in (Union, UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options[:-1]:
            try:
                return _conform(value, option, where)
            except ScenarioError:
                continue
        return _conform(value, options[-1], where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{where}: must be true or false")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{where}: must be a number")
        if hint is int and not isinstance(value, int):
            raise ScenarioError(f"{where}: must be a whole number")
        return hint(value)
    if hint is str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ScenarioError(f"{where}: must be a string")
        return str(value)
    if origin is list:
        if not isinstance(value, list):
            raise ScenarioError(f"{where}: must be a list")
        return [_conform(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ScenarioError(f"{where}: must be a mapping")
        return {
            _conform(k, args[0], f"{where}"): _conform(v, args[1], f"{where}.{k}")
            for k, v in value.items()
        }
    if isinstance(hint, type) and isinstance(value, hint):
        return value  # a nested record _build made already
    raise ScenarioError(f"{where}: must be a {getattr(hint, '__name__', hint)}")


def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of a record (cached: a transcript builds thousands of them)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


def _build(cls: type[T], raw: Any, where: str, **extra: Any) -> T:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be a mapping")
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(map(str, raw)) - set(known) - set(extra)
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}")
    hints = _hints(cls)
    values = {str(k): v for k, v in raw.items()}
    values.update(extra)
    missing = [
        f.name
        for f in known.values()
        if f.name not in values and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise ScenarioError(f"{where}: missing {', '.join(missing)}")
    for key, value in values.items():
        if key in ("id", "app_id", "person_id", "page_id") and value is not None:
            values[key] = _id(value, f"{where}.{key}")
        else:
            values[key] = _conform(value, hints[key], f"{where}.{key}")
    return cls(**values)


def _id(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ScenarioError(f"{where}: an id must be a string or a number")
    text = str(value)
    if not ID.fullmatch(text):
        raise ScenarioError(f"{where}: an id is 1 to 64 letters, digits, '.', '_' or '-'")
    return text


def _ids(values: list[str], where: str) -> list[str]:
    return [_id(v, f"{where}[{i}]") for i, v in enumerate(values)]


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ScenarioError(f"{key}: must be a list")
    return value


def _register(seen: dict[str, str], kind: str, object_id: str, where: str) -> None:
    """Ids are unique across the whole world, as Graph object ids are."""
    if object_id in seen:
        raise ScenarioError(f"{where}.id: {object_id} is already used by {seen[object_id]}")
    seen[object_id] = f"{kind} {object_id}"


def build_world(data: dict[str, Any]) -> tuple[World, list[Thread]]:
    """Build and check a world; every reference must point at something that exists.

    Raises ScenarioError naming the place (`pages[1].roles`) for anything else.
    """
    if not isinstance(data, dict):
        raise ScenarioError("the top level must be a mapping of apps, people, pages…")
    _check_plain(data)
    data = _string_keys(data)
    unknown = set(data) - set(TOP_LEVEL)
    if unknown:
        raise ScenarioError(f"unknown top-level keys {sorted(unknown)}: use {', '.join(TOP_LEVEL)}")
    world = World()
    seen: dict[str, str] = {}
    for i, raw in enumerate(_list(data, "people")):
        person = _build(Person, raw, f"people[{i}]")
        _register(seen, "person", person.id, f"people[{i}]")
        world.people[person.id] = person
    for i, raw in enumerate(_list(data, "apps")):
        app = _build_app(world, raw, f"apps[{i}]")
        _register(seen, "app", app.id, f"apps[{i}]")
        world.apps[app.id] = app
    for i, raw in enumerate(_list(data, "businesses")):
        where = f"businesses[{i}]"
        business = _build(Business, raw, where)
        _register(seen, "business", business.id, where)
        business.people = _ids(business.people, f"{where}.people")
        business.page_ids = _ids(business.page_ids, f"{where}.page_ids")
        for person_id in business.people:
            if person_id not in world.people:
                raise ScenarioError(f"{where}.people: no person {person_id}")
        world.businesses[business.id] = business
    for i, raw in enumerate(_list(data, "pages")):
        page = _build_page(world, raw, f"pages[{i}]")
        _register(seen, "page", page.id, f"pages[{i}]")
        world.pages[page.id] = page
    for business in world.businesses.values():
        for page_id in business.page_ids:
            if page_id not in world.pages:
                raise ScenarioError(f"businesses ({business.id}).page_ids: no page {page_id}")
    for i, raw in enumerate(_list(data, "grants")):
        where = f"grants[{i}]"
        grant = _build(Grant, raw, where)
        _known(world, grant.app_id, grant.person_id, None, where)
        grant.page_ids = _ids(grant.page_ids, f"{where}.page_ids")
        grant.business_ids = _ids(grant.business_ids, f"{where}.business_ids")
        if any(s not in ("granted", "declined", "expired") for s in grant.permissions.values()):
            raise ScenarioError(f"{where}.permissions: permission → granted|declined|expired")
        world.grants[(grant.app_id, grant.person_id)] = grant
    for i, raw in enumerate(_list(data, "tokens")):
        where = f"tokens[{i}]"
        token = _build(Token, raw, where)
        if not token.value:
            raise ScenarioError(f"{where}.value: must not be empty")
        _known(world, token.app_id, token.person_id, token.page_id, where)
        world.tokens[token.value] = token
    threads = []
    for i, raw in enumerate(_list(data, "threads")):
        where = f"threads[{i}]"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: must be a mapping")
        raw = dict(raw)
        if "psid" in raw:
            raise ScenarioError(f"{where}: psid is derived from page_id and person_id, not given")
        messages = [
            _build(Message, m, f"{where}.messages[{j}]")
            for j, m in enumerate(_conform(raw.pop("messages", None) or [], list[Any], where))
        ]
        thread = _build(Thread, raw, where, messages=messages, psid="")
        _known(world, None, thread.person_id, thread.page_id, where)
        thread.psid = psid_for(thread.page_id, thread.person_id)
        threads.append(thread)
    numeric = [int(k) for k in seen if k.isascii() and k.isdigit()]
    world._next_id = max([world._next_id, *numeric])  # noqa: SLF001 - continue after loaded ids
    return world, threads


def _build_app(world: World, raw: Any, where: str) -> App:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be a mapping")
    raw = dict(raw)
    configs = [
        _build(LoginConfig, c, f"{where}.login_configs[{j}]")
        for j, c in enumerate(_conform(raw.pop("login_configs", None) or [], list[Any], where))
    ]
    sub = raw.pop("subscription", None)
    subscription = _build(AppSubscription, sub, f"{where}.subscription") if sub else None
    app = _build(App, raw, where, login_configs=configs, subscription=subscription)
    app.roles = {_id(k, f"{where}.roles"): v for k, v in app.roles.items()}
    for person_id, role in app.roles.items():
        if person_id not in world.people:
            raise ScenarioError(f"{where}.roles: no person {person_id}")
        if role not in APP_ROLES:
            raise ScenarioError(f"{where}.roles: {role!r} is not one of {', '.join(APP_ROLES)}")
    return app


def _build_page(world: World, raw: Any, where: str) -> Page:
    page = _build(Page, raw, where)
    roles: dict[str, list[str]] = {}
    for person_id, tasks in page.roles.items():
        pid = _id(person_id, f"{where}.roles")
        if pid not in world.people:
            raise ScenarioError(f"{where}.roles: no person {pid}")
        if any(t not in ALL_TASKS for t in tasks):
            raise ScenarioError(f"{where}.roles.{pid}: a list of tasks from {', '.join(ALL_TASKS)}")
        roles[pid] = list(tasks)
    page.roles = roles
    for app_id, subscribed in page.subscribed_apps.items():
        if app_id not in world.apps:
            raise ScenarioError(f"{where}.subscribed_apps: no app {app_id}")
        if any(f not in PAGE_FIELDS for f in subscribed):
            raise ScenarioError(f"{where}.subscribed_apps.{app_id}: a list of webhook fields")
    page.blocked_by = _ids(page.blocked_by, f"{where}.blocked_by")
    if page.business_id is not None:
        page.business_id = _id(page.business_id, f"{where}.business_id")
        owner = world.businesses.get(page.business_id)
        if owner is None:
            raise ScenarioError(f"{where}.business_id: no business {page.business_id}")
        if page.id not in owner.page_ids:
            owner.page_ids.append(page.id)
    return page


def _known(
    world: World, app_id: str | None, person_id: str | None, page_id: str | None, where: str
) -> None:
    if app_id is not None and app_id not in world.apps:
        raise ScenarioError(f"{where}.app_id: no app {app_id}")
    if person_id is not None and person_id not in world.people:
        raise ScenarioError(f"{where}.person_id: no person {person_id}")
    if page_id is not None and page_id not in world.pages:
        raise ScenarioError(f"{where}.page_id: no page {page_id}")


def saved_clock(data: dict[str, Any]) -> float | None:
    """The emulated time a saved world stopped at, so expiries and windows carry on from there."""
    value = data.get("clock")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 2**40:
        raise ScenarioError("clock: seconds since the epoch")
    return float(value)


def dump_world(world: World, threads: list[Thread], now: float | None = None) -> dict[str, Any]:
    """Everything needed to start again where we stopped, tokens and transcripts included."""
    clock = {} if now is None else {"clock": now}
    return {
        **clock,
        "apps": [_clean(a) for a in world.apps.values()],
        "people": [_clean(p) for p in world.people.values()],
        "businesses": [_clean(b) for b in world.businesses.values()],
        "pages": [_clean(p) for p in world.pages.values()],
        "grants": [asdict(g) for g in world.grants.values()],
        "tokens": [asdict(t) for t in world.tokens.values()],
        "threads": [_thread(t) for t in threads if t.messages or t.last_user_at],
    }


def _thread(thread: Thread) -> dict[str, Any]:
    data = asdict(thread)
    data.pop("psid")
    return data


def _clean(record: Any) -> dict[str, Any]:
    """The record's fields, leaving out those still at their default (short, readable files)."""
    data = asdict(record)
    for f in fields(record):
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if (
            default is not MISSING
            and data[f.name] == default
            and type(data[f.name]) is type(default)
        ):
            del data[f.name]
    return data


def save(path: str | Path, data: dict[str, Any]) -> None:
    file = Path(path)
    text = (
        json.dumps(data, indent=2)
        if file.suffix == ".json"
        else yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    )
    tmp = file.with_suffix(file.suffix + ".tmp")
    tmp.write_text(text, "utf-8")
    tmp.replace(file)
