"""The rule bot's editor: its rules in order, its YAML or JSON with every problem at its line and
field, a form for one rule's triggers and actions, every save a version with rollback, export,
and "Try it", which runs the draft through the same engine as the worker, without Messenger.

Everyone of the workspace may look and try; owners and admins save, roll back and edit rules.
The bot is reached through its channel (`access_channel`), never by its own id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from frontdesk.core import Contact, EventKind, HistoryLine, InboundEvent
from frontdesk.core.handlers import CallResult, Memory, Outcome, Resumed, Turn
from frontdesk.core.models import Author, Reply
from frontdesk.core.rules import Bot, respond
from frontdesk.store import bots
from frontdesk.store.channels import ChannelSummary
from frontdesk.web.access import NotFound, access_channel
from frontdesk.web.botfile import FORMATS, BotFileError, Format, Located, dump, load
from frontdesk.workers import botprofile

from .context import Ask, Console
from .pages import redirect

NOTICES = {
    "saved": "Saved as a new version. The channel's conversations use it from their next message.",
    "rolled": "That version is the bot again, saved as a new version.",
    "rule": "The rule was saved as a new version.",
}
SOURCE_LIMIT = 60 * 1024
"""What the editor takes (the console's forms are 64 KiB at most): larger bots are
imported by file and edited as YAML elsewhere."""
MEMORY_LIMIT = 16 * 1024
TRY_TURNS = 5
"""Continuations (waits) "Try it" plays through in one go."""
TRY_PSID = "0000000000000000"
RULE_ACTIONS = 12
SIMPLE = ("text", "goto", "handoff", "tag", "untag", "resolve")
TRIGGER_LISTS = ("contains", "is", "starts_with", "postback", "quick_reply", "ref", "attachment")


def example_source() -> str:
    """The shop assistant's YAML: where a channel without a bot starts."""
    examples = resources.files("frontdesk.handlers") / "examples"
    return (examples / "shop-assistant.yaml").read_text("utf-8")


@dataclass(frozen=True)
class Loaded:
    channel: ChannelSummary
    bot: bots.BotRecord | None
    version: bots.Version | None


async def _load(console: Console, ask: Ask, *, manage: bool = False) -> Loaded:
    async with console.engine.begin() as conn:
        channel = await access_channel(
            conn, ask.user, ask.request.path_params["channel_id"], manage=manage
        )
        bot = await bots.of_channel(conn, channel.id)
        version = None if bot is None else await bots.current(conn, bot.id)
    return Loaded(channel, bot, version)


def _summary(rule: dict[str, Any]) -> tuple[str, str]:
    """A rule's triggers and actions in a few words, for the list."""
    when = rule.get("when", {})
    parts = []
    for kind, value in when.items():
        if kind == "keywords":
            for how, words in value.items():
                parts.append(f"{how.replace('_', ' ')}: {', '.join(words)}")
        elif isinstance(value, list):
            parts.append(f"{kind.replace('_', ' ')}: {', '.join(map(str, value))}")
        elif value is True:
            parts.append(kind)
        else:
            parts.append(f"{kind}: {value}")
    actions = [next(iter(action)) for action in rule.get("do", ())]
    return "; ".join(parts), ", ".join(actions)


async def _render(
    console: Console,
    ask: Ask,
    loaded: Loaded,
    *,
    status: int = 200,
    source: str | None = None,
    fmt: str = "yaml",
    problems: list[Located] | None = None,
) -> Response:
    async with console.engine.begin() as conn:
        history = [] if loaded.bot is None else await bots.versions(conn, loaded.bot.id)
    version = loaded.version
    definition = version.definition if version else {}
    if source is None:
        source = version.source if version else example_source()
        fmt = version.format if version else "yaml"
    rules = [
        (index, rule, *_summary(rule)) for index, rule in enumerate(definition.get("rules", ()))
    ]
    return ask.render(
        console,
        "bot.html",
        status,
        nav="channels",
        channel=loaded.channel,
        bot=loaded.bot,
        version=version,
        versions=history,
        rules=rules,
        source=source,
        format=fmt,
        formats=FORMATS,
        problems=problems or [],
        may_manage=ask.user.role.manages_workspace,
        notice=NOTICES.get(ask.request.query_params.get("done", "")),
    )


async def show(console: Console, ask: Ask) -> Response:
    return await _render(console, ask, await _load(console, ask))


def _read_source(ask: Ask) -> tuple[str, Format]:
    form = ask.form
    fmt = form.choice("format", FORMATS)
    source = form.text("source", SOURCE_LIMIT, strip=False)
    return source, "json" if fmt == "json" else "yaml"


async def save(console: Console, ask: Ask) -> Response:
    loaded = await _load(console, ask, manage=True)
    source, fmt = _read_source(ask)
    note = ask.form.text("note", 200, required=False)
    if not ask.form.ok:
        return await _render(console, ask, loaded, status=400, source=source, fmt=fmt)
    try:
        found = load(source, "draft", fmt)
    except BotFileError as err:
        return await _render(
            console, ask, loaded, status=400, source=source, fmt=fmt, problems=err.problems
        )
    async with console.engine.begin() as conn:
        await botprofile.save(
            conn,
            loaded.channel.id,
            fmt=fmt,
            source=source,
            definition=found.data,
            now=console.clock(),
            author_id=ask.user.id,
            note=note or None,
        )
    return redirect(f"/channels/{loaded.channel.id}/bot?done=saved")


async def rollback(console: Console, ask: Ask) -> Response:
    loaded = await _load(console, ask, manage=True)
    number = ask.request.path_params["number"]
    async with console.engine.begin() as conn:
        old = None if loaded.bot is None else await bots.version(conn, loaded.bot.id, number)
        if old is None:
            raise NotFound(f"version {number}")
        await botprofile.save(
            conn,
            loaded.channel.id,
            fmt=old.format,
            source=old.source,
            definition=old.definition,
            now=console.clock(),
            author_id=ask.user.id,
            note=f"Rollback to version {old.number}",
        )
    return redirect(f"/channels/{loaded.channel.id}/bot?done=rolled")


async def export(console: Console, ask: Ask) -> Response:
    loaded = await _load(console, ask)
    if loaded.version is None:
        raise NotFound("a bot")
    wanted = ask.request.query_params.get("format", loaded.version.format)
    fmt: Format = "json" if wanted == "json" else "yaml"
    if fmt == loaded.version.format:
        text = loaded.version.source
    else:
        text = dump(loaded.version.definition, fmt)
    name = f"bot-{loaded.channel.page_id}-v{loaded.version.number}.{fmt}"
    return Response(
        text,
        media_type="application/json" if fmt == "json" else "application/yaml",
        headers={
            "content-disposition": f'attachment; filename="{name}"',
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
        },
    )


# --- Try it ----------------------------------------------------------------------------------


def _memory(raw: str) -> Memory:
    """The trial conversation's memory as the page sent it back; anything odd starts afresh."""
    if not raw or len(raw) > MEMORY_LIMIT:
        return Memory()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return Memory()
    if not isinstance(data, dict):
        return Memory()
    state = data.get("state")
    fields = data.get("fields")
    tags = data.get("tags")
    if not isinstance(state, dict | type(None)) or not isinstance(fields, dict):
        return Memory()
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return Memory()
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        return Memory()
    return Memory(state, fields, frozenset(tags))


def _shown(reply: Reply) -> dict[str, Any]:
    """A reply as the "Try it" chat draws it."""
    out: dict[str, Any] = {
        "quick_replies": [
            {"title": chip.title or chip.content_type, "payload": chip.payload or chip.title}
            for chip in reply.quick_replies
        ]
    }
    if reply.text is not None:
        out["text"] = reply.text
    elif reply.attachment is not None:
        out["media"] = {"kind": reply.attachment.kind, "url": reply.attachment.url}
    elif reply.template is not None:
        template: Any = reply.template
        if template.get("template_type") == "button":
            out["text"] = template.get("text")
            out["buttons"] = list(template.get("buttons", ()))
        else:
            out["cards"] = list(template.get("elements", ()))
    return out


def _remembered(memory: Memory, outcome: Outcome) -> Memory:
    fields = dict(memory.fields)
    for name, value in outcome.fields.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    state = memory.state if outcome.state is None else outcome.state
    return Memory(state, fields, (memory.tags | outcome.add_tags) - outcome.remove_tags)


def _event(ask: Ask) -> InboundEvent:
    form = ask.form
    text = form.text("text", 2000, required=False) or None
    payload = form.text("payload", 1000, required=False) or None
    kind = form.raw("kind")
    if kind == "postback" and payload:
        return InboundEvent(EventKind.POSTBACK, text=text, payload=payload)
    if kind == "quick_reply" and payload:
        return InboundEvent(EventKind.QUICK_REPLY, text=text, payload=payload)
    return InboundEvent(EventKind.MESSAGE, text=text or "")


def _play(
    bot: Bot, event: InboundEvent, memory: Memory, first: bool, now: datetime
) -> dict[str, Any]:
    contact = Contact(TRY_PSID, name="Try It")
    history = () if first else (HistoryLine(Author.CONTACT, "…"),)
    replies: list[dict[str, Any]] = []
    trace: list[str] = []
    handoff = None
    resolved = False
    resumed: Resumed | None = None
    for _ in range(TRY_TURNS):
        turn = Turn("try", "try", contact, event, history, now, memory=memory, resumed=resumed)
        run = respond(bot, turn)
        outcome = run.outcome
        trace += run.trace
        replies += [_shown(reply) for reply in outcome.replies]
        memory = _remembered(memory, outcome)
        handoff = handoff or (outcome.handoff.reason if outcome.handoff else None)
        resolved = resolved or outcome.resolve
        later = outcome.later
        if later is None:
            break
        result = None
        if later.call is not None:
            trace.append(f"Try it makes no HTTP calls: {later.call.url} is treated as failed.")
            result = CallResult(error="Try it makes no HTTP calls")
        else:
            replies.append({"typing": later.delay})
        resumed = Resumed(later.token, result)
        event = InboundEvent(EventKind.RESUME)
    return {
        "ok": True,
        "replies": replies,
        "trace": trace,
        "handoff": handoff,
        "resolved": resolved,
        "memory": {
            "state": memory.state,
            "fields": dict(memory.fields),
            "tags": sorted(memory.tags),
        },
    }


async def try_it(console: Console, ask: Ask) -> Response:
    # Those who may change the bot may try drafts: a draft runs in this process.
    loaded = await _load(console, ask, manage=True)
    source, fmt = _read_source(ask)
    event = _event(ask)
    if not ask.form.ok:
        return JSONResponse({"ok": False, "problems": list(ask.form.errors.values())}, 400)
    try:
        found = load(source, "try", fmt)
    except BotFileError as err:
        problems = [str(p) for p in err.problems]
        return JSONResponse({"ok": False, "problems": problems}, 400)
    now = datetime.fromtimestamp(console.clock(), UTC)
    memory = _memory(ask.form.raw("memory"))
    first = ask.form.raw("first") == "1"
    del loaded  # access was checked; the draft is what runs
    return JSONResponse(_play(found.bot, event, memory, first, now))


# --- one rule, in a form ---------------------------------------------------------------------


def _words(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _chips(value: str) -> list[dict[str, str]]:
    """ "Hours=HOURS; My order=ORDER" → quick replies."""
    out = []
    for part in value.split(";"):
        if "=" in part:
            title, _, payload = part.partition("=")
            if title.strip() and payload.strip():
                out.append({"title": title.strip(), "payload": payload.strip()})
    return out


def _rule_fields(rule: dict[str, Any]) -> dict[str, Any]:
    """The form's values for a rule."""
    when = rule.get("when", {})
    values: dict[str, Any] = {"name": rule.get("name", "")}
    keywords = when.get("keywords", {})
    for how in ("contains", "is", "starts_with"):
        values[how] = ", ".join(keywords.get(how, ()))
    for kind in ("postback", "quick_reply", "ref", "attachment"):
        values[kind] = ", ".join(when.get(kind, ()))
    values["regex"] = when.get("regex", "")
    values["default"] = when.get("default", "")
    values["welcome"] = bool(when.get("welcome"))
    values["location"] = bool(when.get("location"))
    rows = []
    for action in rule.get("do", ()):
        kind = next(iter(action))
        if kind in SIMPLE and set(action) <= {kind, "quick_replies", "reason"}:
            value = "" if kind == "resolve" else str(action[kind])
            chips = "; ".join(
                f"{c['title']}={c['payload']}" for c in action.get("quick_replies", ())
            )
            rows.append({"kind": kind, "value": value, "chips": chips, "kept": None})
        else:
            rows.append({"kind": "keep", "value": "", "chips": "", "kept": dump(action).strip()})
    return {"values": values, "rows": rows}


def _rule_from_form(ask: Ask, original: dict[str, Any]) -> dict[str, Any]:
    form = ask.form
    when: dict[str, Any] = {}
    keywords = {how: _words(form.raw(how)) for how in ("contains", "is", "starts_with")}
    keywords = {how: words for how, words in keywords.items() if words}
    if keywords:
        when["keywords"] = keywords
    for kind in ("postback", "quick_reply", "ref", "attachment"):
        if _words(form.raw(kind)):
            when[kind] = _words(form.raw(kind))
    for kind in ("regex", "default"):
        if form.raw(kind).strip():
            when[kind] = form.raw(kind).strip()
    for kind in ("welcome", "location"):
        if form.raw(kind) == "on":
            when[kind] = True
    actions: list[dict[str, Any]] = []
    kept = list(original.get("do", ()))
    for row in range(RULE_ACTIONS):
        kind = form.raw(f"a{row}_kind")
        value = form.raw(f"a{row}_value").strip()
        if kind == "keep" and row < len(kept):
            actions.append(kept[row])
        elif kind == "resolve":
            actions.append({"resolve": True})
        elif kind in SIMPLE and value:
            action: dict[str, Any] = {kind: value}
            chips = _chips(form.raw(f"a{row}_chips"))
            if kind == "text" and chips:
                action["quick_replies"] = chips
            if kind == "handoff" and row < len(kept) and "reason" in kept[row]:
                action["reason"] = kept[row]["reason"]
            actions.append(action)
    rule: dict[str, Any] = {}
    name = form.text("name", 100, required=False)
    if name:
        rule["name"] = name
    rule["when"] = when
    if "if" in original:
        rule["if"] = original["if"]
    rule["do"] = actions
    return rule


async def rule_page(console: Console, ask: Ask) -> Response:
    loaded = await _load(console, ask, manage=True)
    return _render_rule(console, ask, loaded, None, [])


def _target(loaded: Loaded, ask: Ask) -> tuple[int, dict[str, Any]]:
    rules = list((loaded.version.definition if loaded.version else {}).get("rules", ()))
    index = int(ask.request.path_params["index"])
    if not 0 <= index <= len(rules):
        raise NotFound(f"rule {index}")
    return index, (rules[index] if index < len(rules) else {"when": {}, "do": []})


def _render_rule(
    console: Console,
    ask: Ask,
    loaded: Loaded,
    shown: dict[str, Any] | None,
    problems: list[Located],
    status: int = 200,
) -> Response:
    index, rule = _target(loaded, ask)
    filled = _rule_fields(shown or rule)
    rows = filled["rows"] + [
        {"kind": "", "value": "", "chips": "", "kept": None}
        for _ in range(max(0, min(2, RULE_ACTIONS - len(filled["rows"]))))
    ]
    return ask.render(
        console,
        "bot_rule.html",
        status,
        nav="channels",
        channel=loaded.channel,
        index=index,
        new=loaded.version is None or index >= len(loaded.version.definition.get("rules", ())),
        rule=filled["values"],
        rows=rows[:RULE_ACTIONS],
        conditions=dump(rule["if"]).strip() if "if" in rule else "",
        too_long=len(rule.get("do", ())) > RULE_ACTIONS,
        simple=SIMPLE,
        problems=problems,
    )


async def save_rule(console: Console, ask: Ask) -> Response:
    loaded = await _load(console, ask, manage=True)
    index, original = _target(loaded, ask)
    if len(original.get("do", ())) > RULE_ACTIONS:
        return _render_rule(console, ask, loaded, None, [], 400)
    rule = _rule_from_form(ask, original)
    base = dict(loaded.version.definition) if loaded.version else {"name": "Bot", "rules": []}
    rules = list(base.get("rules", ()))
    if index < len(rules):
        rules[index] = rule
    else:
        rules.append(rule)
    definition = {**base, "rules": rules}
    fmt: Format = "json" if loaded.version and loaded.version.format == "json" else "yaml"
    source = dump(definition, fmt)
    try:
        found = load(source, "draft", fmt)
    except BotFileError as err:
        return _render_rule(console, ask, loaded, rule, err.problems, 400)
    async with console.engine.begin() as conn:
        await botprofile.save(
            conn,
            loaded.channel.id,
            fmt=fmt,
            source=source,
            definition=found.data,
            now=console.clock(),
            author_id=ask.user.id,
            note=f"Rule {index + 1} edited in the form",
        )
    return redirect(f"/channels/{loaded.channel.id}/bot?done=rule")


def routes(page: Callable[..., Route]) -> list[Route]:
    """The editor's routes, made by the console's `page` (the gate: session, CSRF)."""
    bot = "/channels/{channel_id:int}/bot"
    return [
        page(bot, show, methods=["GET"]),
        page(bot, save, methods=["POST"]),
        page(f"{bot}/try", try_it, methods=["POST"]),
        page(f"{bot}/export", export, methods=["GET"]),
        page(f"{bot}/versions/{{number:int}}/rollback", rollback, methods=["POST"]),
        page(f"{bot}/rules/{{index:int}}", rule_page, methods=["GET"]),
        page(f"{bot}/rules/{{index:int}}", save_rule, methods=["POST"]),
    ]
