"""Scenarios: a world (apps, people, Pages, roles) loaded from YAML/JSON and saved back."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

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
T = TypeVar("T")


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
        raw = file.read_bytes()
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
    try:
        data = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ScenarioError(
            f"{name}: not valid {'JSON' if name.endswith('.json') else 'YAML'}: {err}"
        ) from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{name}: the top level must be a mapping of apps, people, pages…")
    return data


def _build(cls: type[T], raw: Any, where: str, **extra: Any) -> T:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be a mapping")
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(raw) - known
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}")
    values = dict(raw)
    values.update(extra)
    for key in ("id", "app_id", "person_id", "page_id"):
        if key in values and values[key] is not None:
            values[key] = _id(values[key], f"{where}.{key}")
    try:
        return cls(**values)
    except TypeError as err:
        raise ScenarioError(f"{where}: {err}") from err


def _id(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise ScenarioError(f"{where}: an id must be a string or a number")
    text = str(value)
    if len(text) > 64:
        raise ScenarioError(f"{where}: an id is at most 64 characters")
    return text


def _mapping(value: object, where: str) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: must be a mapping")
    return value


def _seq(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ScenarioError(f"{where}: must be a list")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise ScenarioError(f"{key}: must be a list")
    return value


def build_world(data: dict[str, Any]) -> tuple[World, list[Thread]]:
    """Build and check a world; every reference must point at something that exists."""
    world = World()
    for i, raw in enumerate(_list(data, "people")):
        person = _build(Person, raw, f"people[{i}]")
        world.people[person.id] = person
    for i, raw in enumerate(_list(data, "apps")):
        where = f"apps[{i}]"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: must be a mapping")
        raw = dict(raw)
        configs = [
            _build(LoginConfig, c, f"{where}.login_configs[{j}]")
            for j, c in enumerate(raw.pop("login_configs", []) or [])
        ]
        sub = raw.pop("subscription", None)
        subscription = _build(AppSubscription, sub, f"{where}.subscription") if sub else None
        app = _build(App, raw, where, login_configs=configs, subscription=subscription)
        if app.mode not in ("development", "live"):
            raise ScenarioError(f"{where}.mode: development or live")
        if any(
            v not in ("standard", "advanced")
            for v in _mapping(app.permissions, f"{where}.permissions").values()
        ):
            raise ScenarioError(f"{where}.permissions: a mapping of permission → standard|advanced")
        app.roles = {
            _id(k, f"{where}.roles"): str(v)
            for k, v in _mapping(app.roles, f"{where}.roles").items()
        }
        for person_id, role in app.roles.items():
            if person_id not in world.people:
                raise ScenarioError(f"{where}.roles: no person {person_id}")
            if role not in APP_ROLES:
                raise ScenarioError(f"{where}.roles: {role!r} is not one of {', '.join(APP_ROLES)}")
        world.apps[app.id] = app
    for i, raw in enumerate(_list(data, "businesses")):
        business = _build(Business, raw, f"businesses[{i}]")
        business.people = [
            _id(p, f"businesses[{i}].people") for p in _seq(business.people, "people")
        ]
        business.page_ids = [
            _id(p, f"businesses[{i}].page_ids") for p in _seq(business.page_ids, "page_ids")
        ]
        world.businesses[business.id] = business
    for i, raw in enumerate(_list(data, "pages")):
        where = f"pages[{i}]"
        page = _build(Page, raw, where)
        roles: dict[str, list[str]] = {}
        for person_id, tasks in _mapping(page.roles, f"{where}.roles").items():
            pid = _id(person_id, f"{where}.roles")
            if pid not in world.people:
                raise ScenarioError(f"{where}.roles: no person {pid}")
            if not isinstance(tasks, list) or any(t not in ALL_TASKS for t in tasks):
                raise ScenarioError(
                    f"{where}.roles.{pid}: a list of tasks from {', '.join(ALL_TASKS)}"
                )
            roles[pid] = list(tasks)
        page.roles = roles
        for app_id, subscribed in _mapping(
            page.subscribed_apps, f"{where}.subscribed_apps"
        ).items():
            if str(app_id) not in world.apps:
                raise ScenarioError(f"{where}.subscribed_apps: no app {app_id}")
            if not isinstance(subscribed, list) or any(f not in PAGE_FIELDS for f in subscribed):
                raise ScenarioError(f"{where}.subscribed_apps.{app_id}: a list of webhook fields")
        page.subscribed_apps = {
            str(k): list(v)
            for k, v in _mapping(page.subscribed_apps, f"{where}.subscribed_apps").items()
        }
        if page.business_id is not None:
            page.business_id = _id(page.business_id, f"{where}.business_id")
            owner = world.businesses.get(page.business_id)
            if owner is None:
                raise ScenarioError(f"{where}.business_id: no business {page.business_id}")
            if page.id not in owner.page_ids:
                owner.page_ids.append(page.id)
        world.pages[page.id] = page
    for i, raw in enumerate(_list(data, "grants")):
        grant = _build(Grant, raw, f"grants[{i}]")
        world.grants[(grant.app_id, grant.person_id)] = grant
    for i, raw in enumerate(_list(data, "tokens")):
        token = _build(Token, raw, f"tokens[{i}]")
        world.tokens[token.value] = token
    threads = []
    for i, raw in enumerate(_list(data, "threads")):
        where = f"threads[{i}]"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: must be a mapping")
        raw = dict(raw)
        messages = [
            _build(Message, m, f"{where}.messages[{j}]")
            for j, m in enumerate(raw.pop("messages", []) or [])
        ]
        thread = _build(Thread, raw, where, messages=messages)
        if thread.page_id not in world.pages or thread.person_id not in world.people:
            raise ScenarioError(f"{where}: unknown page or person")
        thread.psid = psid_for(thread.page_id, thread.person_id)
        threads.append(thread)
    numeric = [
        int(k) for k in [*world.apps, *world.people, *world.pages, *world.businesses] if k.isdigit()
    ]
    world._next_id = max([world._next_id, *numeric])  # noqa: SLF001 - continue after loaded ids
    return world, threads


def dump_world(world: World, threads: list[Thread]) -> dict[str, Any]:
    """Everything needed to start again where we stopped, tokens and transcripts included."""
    return {
        "apps": [_clean(asdict(a)) for a in world.apps.values()],
        "people": [_clean(asdict(p)) for p in world.people.values()],
        "businesses": [_clean(asdict(b)) for b in world.businesses.values()],
        "pages": [_clean(asdict(p)) for p in world.pages.values()],
        "grants": [asdict(g) for g in world.grants.values()],
        "tokens": [asdict(t) for t in world.tokens.values()],
        "threads": [_thread(t) for t in threads if t.messages or t.last_user_at],
    }


def _thread(thread: Thread) -> dict[str, Any]:
    data = asdict(thread)
    data.pop("psid")
    return data


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v not in (None, [], {}, "") or k in ("id", "name")}


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
