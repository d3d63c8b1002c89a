"""Scenario files: the default world, malformed and hostile input, the save → load round trip."""

from __future__ import annotations

import contextlib
import json
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.emulator import Emulator, ScenarioError, psid_for, scenario
from frontdesk.emulator.conversations import Message, Thread
from frontdesk.emulator.world import (
    App,
    AppSubscription,
    Business,
    Grant,
    LoginConfig,
    Page,
    Person,
    Token,
)

from .conftest import ADMIN, ANA, APP_ID, CHLOE, JOAO, PAGE, PAGE2, connect, say, send

# --- the default world ---------------------------------------------------------------------


def test_the_default_world_is_the_one_the_issue_describes() -> None:
    world, threads = scenario.build_world(scenario.default_scenario())
    assert list(world.apps) == [APP_ID]
    assert set(world.pages) == {PAGE, PAGE2}
    assert threads == []

    admins = [
        p for p in world.people if all("MANAGE" in pg.tasks_of(p) for pg in world.pages.values())
    ]
    assert admins == [ADMIN]
    assert all("MESSAGING" in page.tasks_of(ADMIN) for page in world.pages.values())

    users = [p for p in world.people if not any(pg.tasks_of(p) for pg in world.pages.values())]
    assert users == [JOAO, CHLOE, ANA]
    app = world.apps[APP_ID]
    assert [u for u in users if app.has_role(u)] == [ANA]
    assert app.roles[ANA] == "tester"


# --- malformed and hostile worlds ------------------------------------------------------------

PEOPLE = [{"id": "1", "name": "Ana"}, {"id": "2", "name": "Rui"}]
APP = {"id": "10", "name": "Bot", "secret": "s3cr3t"}
PAGE_ = {"id": "20", "name": "Cafe", "roles": {"1": ["MANAGE"]}}


def world_with(**parts: Any) -> dict[str, Any]:
    return {"people": PEOPLE, "apps": [APP], "pages": [PAGE_], **parts}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"aps": []}, "unknown top-level keys ['aps']"),
        ({"people": {"id": "1"}}, "people: must be a list"),
        ({"people": ["Ana"]}, "people[0]: must be a mapping"),
        ({"people": [{"id": "1", "nmae": "Ana"}]}, "people[0]: unknown keys ['nmae']"),
        ({"people": [{"id": "1"}]}, "people[0]: missing name"),
        ({"people": [{"id": "1", "name": "A", 7: 1}]}, "people[0]: unknown keys ['7']"),
        (
            {"people": [{"id": True, "name": "A"}]},
            "people[0].id: an id must be a string or a number",
        ),
        (
            {"people": [{"id": 1.5, "name": "A"}]},
            "people[0].id: an id must be a string or a number",
        ),
        ({"people": [{"id": ["1"], "name": "A"}]}, "people[0].id: an id must be a string"),
        ({"people": [{"id": "../etc", "name": "A"}]}, "people[0].id: an id is 1 to 64 letters"),
        ({"people": [{"id": "9" * 65, "name": "A"}]}, "people[0].id: an id is 1 to 64 letters"),
        ({"people": [{"id": "²", "name": "A"}]}, "people[0].id: an id is 1 to 64 letters"),
        ({"people": [{"id": "1", "name": ["A"]}]}, "people[0].name: must be a string"),
        ({"people": [{"id": "1", "name": "A", "timezone": "UTC"}]}, "timezone: must be a number"),
        ({"people": [*PEOPLE, {"id": "1", "name": "B"}]}, "people[2].id: 1 is already used"),
        (world_with(apps=[{**APP, "mode": "prod"}]), "apps[0].mode: one of development, live"),
        (world_with(apps=[{**APP, "roles": ["1"]}]), "apps[0].roles: must be a mapping"),
        (world_with(apps=[{**APP, "roles": {"1": "owner"}}]), "'owner' is not one of"),
        (world_with(apps=[{**APP, "roles": {"3": "tester"}}]), "apps[0].roles: no person 3"),
        (world_with(apps=[{**APP, "roles": {"1": 5}}]), "apps[0].roles: '5' is not one of"),
        (
            world_with(apps=[{**APP, "permissions": ["pages_messaging"]}]),
            "apps[0].permissions: must be a mapping",
        ),
        (
            world_with(apps=[{**APP, "permissions": {"pages_messaging": "full"}}]),
            "apps[0].permissions.pages_messaging: one of standard, advanced",
        ),
        (world_with(apps=[{**APP, "features": "human_agent"}]), "features: must be a list"),
        (world_with(apps=[{**APP, "id": "20"}]), "pages[0].id: 20 is already used by app 20"),
        (world_with(apps=[{**APP, "login_configs": [{"id": "5"}]}]), "login_configs[0]: missing"),
        (
            world_with(pages=[{**PAGE_, "roles": {"1": "MANAGE"}}]),
            "pages[0].roles.1: must be a list",
        ),
        (
            world_with(pages=[{**PAGE_, "roles": {"1": ["OWN"]}}]),
            "pages[0].roles.1: a list of tasks from",
        ),
        (world_with(pages=[{**PAGE_, "roles": {"7": ["MANAGE"]}}]), "pages[0].roles: no person 7"),
        (world_with(pages=[{**PAGE_, "published": "no"}]), "published: must be true or false"),
        (
            world_with(pages=[{**PAGE_, "subscribed_apps": {"99": ["messages"]}}]),
            "pages[0].subscribed_apps: no app 99",
        ),
        (
            world_with(pages=[{**PAGE_, "subscribed_apps": {"10": ["everything"]}}]),
            "subscribed_apps.10: a list of webhook fields",
        ),
        (world_with(pages=[{**PAGE_, "business_id": "30"}]), "business_id: no business 30"),
        (
            world_with(businesses=[{"id": "30", "name": "B", "people": ["8"]}]),
            "businesses[0].people: no person 8",
        ),
        (
            world_with(businesses=[{"id": "30", "name": "B", "page_ids": ["21"]}]),
            "page_ids: no page 21",
        ),
        (world_with(grants=[{"app_id": "11", "person_id": "1"}]), "grants[0].app_id: no app 11"),
        (
            world_with(grants=[{"app_id": "10", "person_id": "1", "permissions": {"x": "yes"}}]),
            "grants[0].permissions: permission → granted|declined|expired",
        ),
        (
            world_with(tokens=[{"value": "t", "kind": "root", "app_id": "10", "issued_at": 0}]),
            "tokens[0].kind: one of user_short, user_long, page, app",
        ),
        (
            world_with(
                tokens=[
                    {"value": "t", "kind": "page", "app_id": "10", "issued_at": 0, "page_id": "21"}
                ]
            ),
            "tokens[0].page_id: no page 21",
        ),
        (
            world_with(tokens=[{"value": "t", "kind": "page", "app_id": "10", "issued_at": "now"}]),
            "tokens[0].issued_at: must be a number",
        ),
        (
            world_with(threads=[{"page_id": "20", "person_id": "9"}]),
            "threads[0].person_id: no person 9",
        ),
        (
            world_with(threads=[{"page_id": "20", "person_id": "1", "psid": "123"}]),
            "threads[0]: psid is derived",
        ),
        (
            world_with(
                threads=[
                    {"page_id": "20", "person_id": "1", "messages": [{"mid": "m", "text": "x"}]}
                ]
            ),
            "threads[0].messages[0]: missing direction, timestamp",
        ),
        (
            world_with(
                threads=[
                    {
                        "page_id": "20",
                        "person_id": "1",
                        "messages": [{"mid": "m", "direction": "sideways", "timestamp": 1}],
                    }
                ]
            ),
            "threads[0].messages[0].direction: one of in, out",
        ),
        ({"people": [{"id": "1", "name": float("nan")}]}, "people[0].name: numbers must be finite"),
        ({"people": [{"id": "1", "name": "\ud800"}]}, "people[0].name: not valid Unicode text"),
        ({"people": [{"id": "1", "name": {1, 2}}]}, "people[0].name: a set is not allowed here"),
    ],
)
def test_a_malformed_world_is_refused_naming_the_place(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError) as refused:
        scenario.build_world(data)
    assert message in str(refused.value)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True)
)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("w.yaml", "people: [unclosed\n", "w.yaml: not valid YAML"),
        ("w.yaml", "- apps\n- people\n", "w.yaml: the top level must be a mapping"),
        ("w.yaml", "just words", "w.yaml: the top level must be a mapping"),
        ("w.json", "{'people': []}", "w.json: not valid JSON"),
        ("w.json", "[]", "w.json: the top level must be a mapping"),
        ("w.yaml", "x: !!python/object:os.system {}\n", "could not determine a constructor"),
        (
            "w.yaml",
            "x: !!python/object/apply:subprocess.check_output [[touch, /tmp/pwned]]\n",
            "w.yaml: not valid YAML",
        ),
        ("w.yaml", "x: !!python/name:os.system\n", "w.yaml: not valid YAML"),
        ("w.yaml", "people: " + nested(50_000), "w.yaml: nested too deeply"),
        ("w.json", '{"people": ' + nested(50_000) + "}", "w.json: nested too deeply"),
        ("w.json", '{"people": [{"id": ' + "1" * 5000 + "}]}", "w.json: not valid JSON"),
    ],
)
def test_text_that_is_not_a_world_is_refused(name: str, text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as refused:
        scenario.parse_text(text, name)
    assert message in str(refused.value)
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("people: " + nested(45), "people" + "[0]" * 40 + ": nested more than 40 levels deep"),
        (ALIAS_BOMB, "more than 2000000 values once YAML aliases are expanded"),
        ("people: [{id: '1', name: 2024-05-01}]", "people[0].name: a date is not allowed here"),
        ("people: [{id: '1', name: !!binary aGk=}]", "people[0].name: a bytes is not allowed"),
        ("people: [{id: '1', name: A, 1.5: 2}]", "people[0]: key 1.5 is not a string"),
    ],
)
def test_yaml_that_parses_but_is_not_plain_data_is_refused(text: str, message: str) -> None:
    data = scenario.parse_text(text, "w.yaml")
    with pytest.raises(ScenarioError) as refused:
        scenario.build_world(data)
    assert message in str(refused.value)


def test_an_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    file = tmp_path / "big.yaml"
    file.write_bytes(b"# " + b"x" * (5 * 1024 * 1024) + b"\n")
    with pytest.raises(ScenarioError, match=r"big\.yaml: larger than 5 MiB"):
        scenario.read(file)


def test_a_file_just_under_the_limit_is_read(tmp_path: Path) -> None:
    file = tmp_path / "padded.json"
    file.write_bytes(b'{"people": []}' + b" " * (5 * 1024 * 1024 - 14))
    assert scenario.read(file) == {"people": []}


def test_non_utf8_bytes_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "latin1.yaml"
    file.write_bytes("people: [{id: '1', name: João}]".encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"latin1\.yaml: not UTF-8 text"):
        scenario.read(file)


def test_a_missing_file_or_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        scenario.read(tmp_path / "nope.yaml")
    with pytest.raises(ScenarioError, match="cannot read"):
        scenario.read(tmp_path)


# --- save → load ---------------------------------------------------------------------------


def test_the_default_world_survives_dump_and_build() -> None:
    world, threads = scenario.build_world(scenario.default_scenario())
    dumped = scenario.dump_world(world, threads)
    assert scenario.dump_world(*scenario.build_world(dumped)) == dumped
    # Only what differs from the defaults is written, so saved files stay readable.
    assert "published" not in dumped["pages"][0]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
async def test_a_used_world_round_trips_through_a_file(
    emulator: Emulator, graph: httpx.AsyncClient, tmp_path: Path, suffix: str
) -> None:
    token = await connect(graph)
    await say(graph, "Olá 👋 / is the café open?")
    reply = {
        "recipient": {"id": psid_for(PAGE, JOAO)},
        "messaging_type": "RESPONSE",
        "message": {"text": "Sim, até às 19h", "metadata": "fd:7"},
    }
    assert (await send(graph, token, reply)).status_code == 200
    await emulator.meta.drain()
    meta = emulator.meta
    dumped = scenario.dump_world(meta.world, list(meta.threads.values()))
    file = tmp_path / f"world{suffix}"
    scenario.save(file, dumped)

    loaded = scenario.read(file)
    assert scenario.dump_world(*scenario.build_world(loaded)) == dumped

    async with Emulator(loaded) as again, again.client() as client:
        me = await client.get("/v25.0/me", params={"access_token": token})
        assert me.json()["id"] == PAGE
        convo = await client.get(
            "/_emulator/conversation", params={"page_id": PAGE, "person_id": JOAO}
        )
        texts = [(m["direction"], m["text"], m["metadata"]) for m in convo.json()["messages"]]
        assert texts == [
            ("in", "Olá 👋 / is the café open?", None),
            ("out", "Sim, até às 19h", "fd:7"),
        ]
        subscription = await client.get(
            f"/v25.0/{APP_ID}/subscriptions",
            params={"access_token": f"{APP_ID}|{emulator.meta.world.apps[APP_ID].secret}"},
        )
        assert subscription.json()["data"][0]["callback_url"] == "http://receiver.test/webhook"


# --- any input: a world or a ScenarioError, nothing else ------------------------------------

RECORDS = (App, AppSubscription, Business, Grant, LoginConfig, Message, Page, Person, Thread, Token)
FIELD_NAMES = sorted({f.name for record in RECORDS for f in fields(record)})
WORDS = ["1", "2", "3", "development", "live", "advanced", "tester", "MANAGE", "MESSAGING"]
WORDS += ["messages", "granted", "page", "user_long", "in", "out", "Ana"]

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(WORDS)
    | st.sampled_from([1, 2, 3])
)
keys = st.sampled_from(FIELD_NAMES) | st.sampled_from(WORDS) | st.text(max_size=6) | st.integers()
anything = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=24,
)
shapeless = st.dictionaries(
    st.sampled_from(scenario.TOP_LEVEL) | st.text(max_size=5),
    st.lists(st.dictionaries(keys, anything, max_size=8), max_size=3) | anything,
    max_size=6,
)


def mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a well-typed value, now and then anything at all."""
    return st.integers(0, 39).flatmap(lambda n: anything if n == 17 else good)


def record(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {k: mostly(v) for k, v in required.items()},
        optional={k: mostly(v) for k, v in optional.items()},
    )


# Few ids, so references often hit and sometimes miss.
people_ids = st.sampled_from(["1", "2", 3])
app_ids = st.sampled_from(["10", 11])
page_ids = st.sampled_from(["20", "21"])
names = st.text(max_size=12)
perms = st.sampled_from(["pages_messaging", "pages_show_list", "pages_manage_metadata"])
tasks = st.lists(st.sampled_from(["MANAGE", "MESSAGING", "MODERATE", "OWN"]), max_size=3)
fields_ = st.lists(st.sampled_from(["messages", "standby", "everything"]), max_size=3)
numbers = st.integers(min_value=0, max_value=2**41) | st.floats(0, 2e9)

people = record(
    {"id": people_ids, "name": names},
    {"locale": names, "timezone": numbers, "created_by_phone": st.booleans()},
)
apps = record(
    {"id": app_ids, "name": names, "secret": names},
    {
        "mode": st.sampled_from(["development", "live", "prod"]),
        "permissions": st.dictionaries(perms, st.sampled_from(["standard", "advanced", "full"])),
        "features": st.lists(st.sampled_from(["human_agent"])),
        "roles": st.dictionaries(people_ids, st.sampled_from(["tester", "developer", "owner"])),
        "login_configs": st.lists(record({"id": st.just("5"), "permissions": st.lists(perms)}, {})),
        "subscription": record(
            {"callback_url": names, "verify_token": names, "fields": fields_},
            {"active": st.booleans()},
        ),
    },
)
pages = record(
    {"id": page_ids, "name": names},
    {
        "published": st.booleans(),
        "restricted": st.booleans(),
        "roles": st.dictionaries(people_ids, tasks),
        "subscribed_apps": st.dictionaries(app_ids, fields_),
        "business_id": st.sampled_from(["30", "31"]),
        "blocked_by": st.lists(people_ids),
        "messenger_profile": st.dictionaries(st.text(max_size=5), anything, max_size=2),
    },
)
businesses = record(
    {"id": st.sampled_from(["30", "31"]), "name": names},
    {"people": st.lists(people_ids), "page_ids": st.lists(page_ids)},
)
grants = record(
    {"app_id": app_ids, "person_id": people_ids},
    {
        "permissions": st.dictionaries(perms, st.sampled_from(["granted", "declined", "maybe"])),
        "page_ids": st.lists(page_ids),
    },
)
tokens = record(
    {
        "value": names,
        "kind": st.sampled_from(["user_short", "user_long", "page", "app", "root"]),
        "app_id": app_ids,
        "issued_at": numbers,
    },
    {
        "person_id": people_ids,
        "page_id": page_ids,
        "expires_at": numbers,
        "scopes": st.lists(perms),
    },
)
messages = record(
    {"mid": names, "direction": st.sampled_from(["in", "out", "up"]), "timestamp": numbers},
    {
        "text": names,
        "attachments": st.lists(st.dictionaries(st.text(max_size=5), anything), max_size=2),
    },
)
threads = record(
    {"page_id": page_ids, "person_id": people_ids},
    {"messages": st.lists(messages, max_size=3), "last_user_at": numbers},
)


def by_id(record: dict[str, Any]) -> str:
    return str(record.get("id"))


near_worlds = st.fixed_dictionaries(
    {
        "people": st.lists(people, min_size=1, max_size=3, unique_by=by_id),
        "apps": st.lists(apps, min_size=1, max_size=2, unique_by=by_id),
        "pages": st.lists(pages, max_size=2, unique_by=by_id),
    },
    optional={
        "businesses": st.lists(businesses, max_size=2, unique_by=by_id),
        "grants": st.lists(grants, max_size=2),
        "tokens": st.lists(tokens, max_size=2),
        "threads": st.lists(threads, max_size=2),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapeless | near_worlds)
def test_any_data_builds_or_raises_scenario_error(data: dict[Any, Any]) -> None:
    try:
        world, threads = scenario.build_world(data)
    except ScenarioError as err:
        refusal = str(err)
        assert refusal, "every refusal says what is wrong"
        return
    # What builds also saves and loads back to the same world.
    dumped = scenario.dump_world(world, threads)
    assert scenario.dump_world(*scenario.build_world(json.loads(json.dumps(dumped)))) == dumped


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_any_text_parses_to_a_mapping_or_raises_scenario_error(text: str) -> None:
    for name in ("w.yaml", "w.json"):
        try:
            data = scenario.parse_text(text, name)
        except ScenarioError:
            continue
        assert isinstance(data, dict)
        with contextlib.suppress(ScenarioError):
            scenario.build_world(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_on_disk_read_or_raise_scenario_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "w.yaml"
        file.write_bytes(raw)
        try:
            data = scenario.read(file)
        except ScenarioError:
            return
    assert isinstance(data, dict)


def test_yaml_round_trip_keeps_unicode_readable(tmp_path: Path) -> None:
    world = world_with(people=[{"id": "1", "name": "João Ñandú 😀"}, {"id": "2", "name": "Rui"}])
    built = scenario.dump_world(*scenario.build_world(world))
    scenario.save(tmp_path / "w.yaml", built)
    text = (tmp_path / "w.yaml").read_text("utf-8")
    assert "João Ñandú 😀" in text
    assert yaml.safe_load(text)["people"][0]["name"] == "João Ñandú 😀"


def test_a_saved_world_resumes_at_its_emulated_time() -> None:
    import time

    from frontdesk.emulator import build_meta
    from frontdesk.emulator.scenario import dump_world

    meta = build_meta()
    meta.clock.advance(25 * 3600)
    saved = dump_world(meta.world, list(meta.threads.values()), meta.clock.now())
    resumed = build_meta(saved)
    assert resumed.clock.now() >= saved["clock"] > time.time() + 24 * 3600
    behind = build_meta({**saved, "clock": 1_000_000_000})  # an old save: wall time wins
    assert behind.clock.now() >= time.time() - 1
    with pytest.raises(ScenarioError, match="clock"):
        build_meta({**saved, "clock": "yesterday"})
