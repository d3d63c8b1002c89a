"""The rule bot's editor: the example to start from, saves that are versions (and problems at
their line and field, nothing saved), rollback, export, a rule edited in the form, "Try it"
running the draft, roles, and hostile input."""

from __future__ import annotations

import html
import json
import re

import pytest
import yaml
from sqlalchemy import select

from frontdesk.core.people import Role
from frontdesk.store import bots
from frontdesk.store.tables import jobs

from .conftest import Browser, Site, csrf_of

pytestmark = pytest.mark.db

TINY = """\
name: Tiny
rules:
  - name: Hours
    when:
      keywords:
        contains: [hours]
    do:
      - text: "We open at nine."
"""


async def ours(site: Site, role: Role = Role.OWNER) -> tuple[Browser, int]:
    owner = await site.member("Ours", "owner@ours.test")
    channel_id = await site.channel(owner.workspace_id, "111", "Our Page")
    if role is not Role.OWNER:
        await site.member("Ours", "someone@ours.test", role)
        return await site.signed_in("someone@ours.test"), channel_id
    return await site.signed_in("owner@ours.test"), channel_id


async def save(browser: Browser, channel_id: int, source: str, **extra: str) -> object:
    page = f"/channels/{channel_id}/bot"
    return await browser.submit(page, page, {"source": source, "format": "yaml", **extra})


def textarea(page: str) -> str:
    found = re.search(r'<textarea id="f-source"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no editor on the page"
    return html.unescape(found.group(1))


async def test_a_channel_without_a_bot_starts_from_the_shop_assistant(site: Site) -> None:
    browser, channel_id = await ours(site)
    page = await browser.get(f"/channels/{channel_id}/bot")
    assert page.status_code == 200
    assert "name: Shop assistant" in textarea(page.text)
    assert "Versions" not in page.text


async def test_every_save_is_a_version_and_a_rollback_brings_one_back(site: Site) -> None:
    browser, channel_id = await ours(site)
    answer = await save(browser, channel_id, TINY, note="first")
    assert answer.status_code == 303  # type: ignore[attr-defined]
    await save(browser, channel_id, TINY.replace("nine", "ten"))
    page = (await browser.get(f"/channels/{channel_id}/bot")).text
    assert "We open at ten." in textarea(page)
    assert "Version 2 as YAML" in page
    assert "Hours" in page
    assert "contains: hours" in page
    rolled = await browser.post(
        f"/channels/{channel_id}/bot/versions/1/rollback", {"csrf_token": csrf_of(page)}
    )
    assert rolled.status_code == 303
    page = (await browser.get(f"/channels/{channel_id}/bot?done=rolled")).text
    assert "We open at nine." in textarea(page)
    assert "Version 3 as YAML" in page
    async with site.engine.connect() as conn:
        bot = await bots.of_channel(conn, channel_id)
        assert bot is not None
        history = await bots.versions(conn, bot.id)
    assert [(v.number, v.note) for v in history] == [
        (3, "Rollback to version 1"),
        (2, None),
        (1, "first"),
    ]


async def test_problems_are_shown_at_their_line_and_nothing_is_saved(site: Site) -> None:
    browser, channel_id = await ours(site)
    broken = TINY.replace('- text: "We open at nine."', "- goto: nowhere")
    answer = await save(browser, channel_id, broken)
    assert answer.status_code == 400  # type: ignore[attr-defined]
    text = answer.text  # type: ignore[attr-defined]
    assert "Line 8, <code>rules[0].do[0].goto</code>: names no flow" in text
    assert "goto: nowhere" in textarea(text)  # what was typed is kept
    async with site.engine.connect() as conn:
        assert await bots.of_channel(conn, channel_id) is None


async def test_export_gives_the_source_or_the_other_format(site: Site) -> None:
    browser, channel_id = await ours(site)
    await save(browser, channel_id, TINY)
    as_yaml = await browser.get(f"/channels/{channel_id}/bot/export")
    assert as_yaml.text == TINY
    assert 'filename="bot-111-v1.yaml"' in as_yaml.headers["content-disposition"]
    as_json = await browser.get(f"/channels/{channel_id}/bot/export?format=json")
    assert json.loads(as_json.text) == yaml.safe_load(TINY)


async def test_a_rule_edited_in_the_form_is_saved_as_a_version(site: Site) -> None:
    browser, channel_id = await ours(site)
    await save(browser, channel_id, TINY)
    form = await browser.get(f"/channels/{channel_id}/bot/rules/0")
    assert 'value="hours"' in form.text
    answer = await browser.post(
        f"/channels/{channel_id}/bot/rules/0",
        {
            "csrf_token": csrf_of(form.text),
            "name": "Opening hours",
            "contains": "hours, open",
            "postback": "HOURS",
            "a0_kind": "text",
            "a0_value": "We open at eight, {{first_name|friend}}.",
            "a0_chips": "Returns=RETURNS; Bogus",
            "a1_kind": "tag",
            "a1_value": "asked_hours",
        },
    )
    assert answer.status_code == 303, answer.text
    async with site.engine.connect() as conn:
        bot = await bots.of_channel(conn, channel_id)
        assert bot is not None
        current = await bots.current(conn, bot.id)
    assert current is not None
    assert current.number == 2
    assert current.definition["rules"][0] == {
        "name": "Opening hours",
        "when": {"keywords": {"contains": ["hours", "open"]}, "postback": ["HOURS"]},
        "do": [
            {
                "text": "We open at eight, {{first_name|friend}}.",
                "quick_replies": [{"title": "Returns", "payload": "RETURNS"}],
            },
            {"tag": "asked_hours"},
        ],
    }
    # A new rule goes at the end.
    form = await browser.get(f"/channels/{channel_id}/bot/rules/1")
    answer = await browser.post(
        f"/channels/{channel_id}/bot/rules/1",
        {
            "csrf_token": csrf_of(form.text),
            "default": "always",
            "a0_kind": "text",
            "a0_value": "Sorry?",
        },
    )
    assert answer.status_code == 303, answer.text


async def test_a_rule_form_that_makes_an_invalid_bot_is_refused(site: Site) -> None:
    browser, channel_id = await ours(site)
    await save(browser, channel_id, TINY)
    form = await browser.get(f"/channels/{channel_id}/bot/rules/0")
    answer = await browser.post(
        f"/channels/{channel_id}/bot/rules/0",
        {
            "csrf_token": csrf_of(form.text),
            "regex": "(unclosed",
            "a0_kind": "goto",
            "a0_value": "x",
        },
    )
    assert answer.status_code == 400
    assert "is not a regular expression" in answer.text
    assert "names no flow" in answer.text
    assert (await browser.get(f"/channels/{channel_id}/bot/rules/7")).status_code == 404


async def try_it(
    browser: Browser, channel_id: int, source: str, **fields: str
) -> dict[str, object]:
    page = (await browser.get(f"/channels/{channel_id}/bot")).text
    answer = await browser.post(
        f"/channels/{channel_id}/bot/try",
        {"csrf_token": csrf_of(page), "source": source, "format": "yaml", **fields},
    )
    result: dict[str, object] = answer.json()
    return result


async def test_try_it_runs_the_draft_without_saving_it(site: Site) -> None:
    browser, channel_id = await ours(site)
    result = await try_it(browser, channel_id, TINY, text="your hours?", first="1")
    assert result["ok"] is True
    assert result["replies"] == [{"text": "We open at nine.", "quick_replies": []}]
    assert result["trace"] == ['Rule "Hours" fired.']
    async with site.engine.connect() as conn:
        assert await bots.of_channel(conn, channel_id) is None


async def test_try_it_carries_a_question_across_turns_and_plays_waits(site: Site) -> None:
    browser, channel_id = await ours(site)
    source = """\
name: Quiz
rules:
  - when: {keywords: {is: [go]}}
    do:
      - ask: "Your email?"
        field: email
        expect: email
        retry: "Not an email."
      - wait: 2s
      - text: "Kept {{email}}"
"""
    first = await try_it(browser, channel_id, source, text="go")
    assert first["replies"] == [
        {"text": "Your email?", "quick_replies": [{"title": "user_email", "payload": ""}]}
    ]
    memory = json.dumps(first["memory"])
    second = await try_it(browser, channel_id, source, text="nope", memory=memory)
    assert [r.get("text") for r in second["replies"]] == ["Not an email.", "Your email?"]  # type: ignore[union-attr]
    third = await try_it(
        browser, channel_id, source, text="a@b.pt", memory=json.dumps(second["memory"])
    )
    assert third["replies"] == [{"typing": 2.0}, {"text": "Kept a@b.pt", "quick_replies": []}]


@pytest.mark.parametrize(
    "memory",
    ["[]", "{", '{"state": 1, "fields": {}, "tags": []}', '{"fields": {"a": 1}}', "x" * 20000],
)
async def test_try_it_starts_afresh_from_a_hostile_memory(site: Site, memory: str) -> None:
    browser, channel_id = await ours(site)
    result = await try_it(browser, channel_id, TINY, text="hours", memory=memory)
    assert result["replies"] == [{"text": "We open at nine.", "quick_replies": []}]


async def test_try_it_reports_a_broken_draft(site: Site) -> None:
    browser, channel_id = await ours(site)
    result = await try_it(browser, channel_id, "name: [", text="hi")
    assert result["ok"] is False
    assert result["problems"] == [
        "line 1, (the file): is not valid YAML: expected the node content, but found '<stream end>'"
    ]


async def test_an_agent_may_look_but_not_try_or_change(site: Site) -> None:
    owner, channel_id = await ours(site)
    await save(owner, channel_id, TINY)
    await site.member("Ours", "agent@ours.test", Role.AGENT)
    agent = await site.signed_in("agent@ours.test")
    page = await agent.get(f"/channels/{channel_id}/bot")
    assert page.status_code == 200
    assert "Save as a new version" not in page.text
    assert "Roll back" not in page.text
    assert "Try it" not in page.text  # a draft runs in the server: only its editors try it
    tried = await agent.post(
        f"/channels/{channel_id}/bot/try",
        {"csrf_token": csrf_of(page.text), "source": TINY, "format": "yaml", "text": "hours"},
    )
    assert tried.status_code == 403
    refused = await agent.post(
        f"/channels/{channel_id}/bot",
        {"csrf_token": csrf_of(page.text), "source": TINY, "format": "yaml"},
    )
    assert refused.status_code == 403
    assert (await agent.get(f"/channels/{channel_id}/bot/rules/0")).status_code == 403


async def test_saving_a_linked_bot_pushes_its_profile_again(site: Site) -> None:
    browser, channel_id = await ours(site)
    await save(browser, channel_id, TINY)
    async with site.engine.begin() as conn:
        await bots.link_rules(conn, channel_id, site.clock())
    await save(
        browser, channel_id, TINY.replace("name: Tiny", "name: Tiny\nprofile: {greeting: Hi}")
    )
    async with site.engine.connect() as conn:
        kinds = (await conn.execute(select(jobs.c.kind))).scalars().all()
    assert kinds.count("messenger_profile") == 1


async def test_an_oversized_source_is_refused(site: Site) -> None:
    browser, channel_id = await ours(site)
    answer = await save(browser, channel_id, "# " + "x" * 70_000)
    assert answer.status_code in (400, 413)  # type: ignore[attr-defined]
    async with site.engine.connect() as conn:
        assert await bots.of_channel(conn, channel_id) is None
