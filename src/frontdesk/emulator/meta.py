"""The emulated Meta: people act, Pages send, and webhooks tell the apps (digest §3, §5-§7)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import errors, events, identity
from .clock import Clock
from .conversations import (
    HUMAN_AGENT_WINDOW,
    THREAD_CONTROL_TTL,
    WINDOW,
    Message,
    Thread,
    new_mid,
)
from .errors import GraphError
from .faults import Faults
from .identity import Caller
from .ratelimit import RateLimits, raise_with_headers
from .send import MEDIA_TYPES, SendRequest
from .webhooks import Attempt, Target, WebhookSender, WebhookSettings
from .world import PAGE_INBOX_APP_ID, App, AppSubscription, Page, Person, World, psid_for

ATTACHMENT_TTL = 90 * 24 * 3600
MEDIA_URL_TTL = 3 * 24 * 3600
MAX_UPLOAD = 25 * 1024 * 1024
MAX_IMAGE_UPLOAD = 8 * 1024 * 1024


@dataclass
class MetaSettings:
    base_url: str = "http://127.0.0.1:8081"
    """Where the emulator is reachable; attachment URLs point here."""
    strict_messaging_type: bool = False
    auto_delivery: bool = True
    """Send a delivery receipt right after every Page message (the person's phone is online)."""
    auto_read: bool = False

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key not in self.__dataclass_fields__ or key == "base_url":
                raise ValueError(f"unknown setting {key!r}")
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
            setattr(self, key, value)


@dataclass
class StoredAttachment:
    id: str
    page_id: str
    type: str
    url: str
    created_at: float


@dataclass
class Media:
    """Bytes a person sent, served from the emulator's "CDN" until the signed URL expires."""

    id: str
    content: bytes
    content_type: str
    name: str
    expires_at: float


@dataclass
class Persona:
    id: str
    page_id: str
    name: str
    profile_picture_url: str


@dataclass
class UserRef:
    ref: str
    page_id: str
    person_id: str
    used: bool = False


@dataclass
class Meta:
    """All of Meta in one object. Routes translate HTTP to these methods and nothing else."""

    world: World
    clock: Clock
    settings: MetaSettings = field(default_factory=MetaSettings)
    webhook_settings: WebhookSettings = field(default_factory=WebhookSettings)
    transport: httpx.AsyncBaseTransport | None = None
    threads: dict[tuple[str, str], Thread] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    attachments: dict[str, StoredAttachment] = field(default_factory=dict)
    media: dict[str, Media] = field(default_factory=dict)
    personas: dict[str, Persona] = field(default_factory=dict)
    user_refs: dict[str, UserRef] = field(default_factory=dict)
    profile_calls: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._clients: list[httpx.AsyncClient] = []
        self._webhooks: WebhookSender | None = None
        self._version = 0
        self._waiters: list[asyncio.Future[None]] = []

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def webhooks(self) -> WebhookSender:
        if self._webhooks is None:
            self._webhooks = WebhookSender(
                self.clock,
                self.webhook_settings,
                self._target_for,
                self._auto_unsubscribe,
                self.faults.callback_failure,
                self._client_for_lane,
            )
            # Every attempt (and the alerts it raises) is a change the console shows live.
            self._webhooks.on_attempt(lambda _attempt: self._touch())
        return self._webhooks

    async def aclose(self) -> None:
        if self._webhooks is not None:
            await self._webhooks.aclose()
        for client in self._clients:
            await client.aclose()
        self._webhooks, self._clients = None, []

    def _client_for_lane(self) -> httpx.AsyncClient:
        """An HTTP client for one lane of webhooks (or the subscription handshakes). Over the
        network, a client and pool each: httpx looks at every connection of its pool for each
        request, and one pool for sixteen lanes was a quarter of the emulator's CPU. With a
        transport given (in-process delivery), one client shares it."""
        if self.transport is None or not self._clients:
            self._clients.append(
                httpx.AsyncClient(transport=self.transport, follow_redirects=False)
            )
        return self._clients[-1]

    async def drain(self) -> None:
        await self.webhooks.drain()

    # --- change notification, for the Messenger client's live view ------------------------

    @property
    def version(self) -> int:
        return self._version

    def _touch(self) -> None:
        self._version += 1
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for_change(self, since: int, patience: float) -> int:
        if self._version == since:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, patience)
            except TimeoutError:
                pass
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return self._version

    # --- lookups -----------------------------------------------------------------------------

    def thread(self, page_id: str, person_id: str) -> Thread:
        key = (page_id, person_id)
        if key not in self.threads:
            self.threads[key] = Thread(page_id, person_id, psid_for(page_id, person_id))
        return self.threads[key]

    def resolve_psid(self, page_id: str, psid: str) -> Person:
        person = self.world.person_by_psid(page_id, psid)
        if person is None:
            raise errors.no_matching_user()
        return person

    def caller(self, token: str | None) -> Caller:
        return identity.check_token(self.world, token, self.clock.now())

    def page_caller(self, token: str | None, page_ref: str) -> tuple[Caller, Page]:
        """A Page token for `page_ref` (a Page id or `me`) whose person still has a role there."""
        caller = self.caller(token)
        page_id = caller.page_id if page_ref == "me" and caller.page_id else page_ref
        page = identity.require_page_token(self.world, caller, page_id)
        if caller.person_id is not None and not page.tasks_of(caller.person_id):
            raise errors.token_role_lost()
        return caller, page

    # --- webhooks: who hears what ----------------------------------------------------------

    def _target_for(self, app_id: str) -> Target | None:
        app = self.world.apps.get(app_id)
        if app is None or app.subscription is None or not app.subscription.active:
            return None
        return Target(app.subscription.callback_url, app.secret)

    def _auto_unsubscribe(self, app_id: str, page_id: str) -> None:
        page = self.world.pages.get(page_id)
        if page is not None:
            page.subscribed_apps.pop(app_id, None)
        self._touch()

    def _hears(self, app: App, page: Page, field_name: str) -> bool:
        sub = app.subscription
        return (
            sub is not None
            and sub.active
            and field_name in sub.fields
            and field_name in page.subscribed_apps.get(app.id, [])
        )

    def _publish(
        self,
        page: Page,
        event: dict[str, Any],
        person_id: str | None,
        *,
        only_app: str | None = None,
    ) -> None:
        """Route one event to every app that should hear it, on `messaging` or `standby`."""
        if not page.messaging_enabled or not page.published:
            return
        field_name = events.field_of(event)
        key = events.event_key(event)
        owner = self.thread(page.id, person_id).owner(self.clock.now()) if person_id else None
        # An idle thread belongs to the default app, when the Page has one (Conversation Routing).
        if owner is None:
            owner = page.default_app_id
        routed = person_id is not None and owner is not None
        for app in self.world.page_apps(page.id):
            if only_app is not None and app.id != only_app:
                continue
            if person_id is not None and not app.may_reach(person_id):
                continue  # development mode: only people with a role on the app exist
            if not routed or owner == app.id or only_app is not None:
                if self._hears(app, page, field_name):
                    self.webhooks.enqueue(app.id, page.id, "messaging", event)
            elif key in events.STANDBY_KEYS and self._hears(app, page, "standby"):
                self.webhooks.enqueue(app.id, page.id, "standby", _standby_copy(event))

    # --- what people do in Messenger ---------------------------------------------------------

    def _reachable_page(self, page_id: str, person_id: str) -> tuple[Page, Person, Thread]:
        page = self.world.page(page_id)
        person = self.world.person(person_id)
        if not page.published:
            raise errors.GraphError(100, "This Page isn't available right now.")
        if not page.messaging_enabled:
            raise errors.GraphError(100, "This Page doesn't accept messages.")
        return page, person, self.thread(page.id, person.id)

    def _user_acted(self, page: Page, thread: Thread) -> None:
        """A qualifying action: the window reopens and an idle thread goes to the default app."""
        now = self.clock.now()
        thread.last_user_at = now
        if thread.owner(now) is None and page.default_app_id is not None:
            thread.set_owner(page.default_app_id, now)
        elif thread.owner_app_id is not None:
            # Control lapses after 24 h of inactivity (§7), not 24 h after it was handed over.
            thread.owner_expires_at = max(thread.owner_expires_at, now + THREAD_CONTROL_TTL)

    def user_message(
        self,
        page_id: str,
        person_id: str,
        *,
        text: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        quick_reply: str | None = None,
        reply_to: str | None = None,
        referral: dict[str, Any] | None = None,
    ) -> Message:
        page, _, thread = self._reachable_page(page_id, person_id)
        if text is None and not attachments:
            raise ValueError("a message needs text or attachments")
        reply: dict[str, Any] | None = None
        if reply_to is not None:
            quoted = thread.find(reply_to)
            if quoted is None:
                raise ValueError(f"no message {reply_to} in this conversation")
            reply = {"mid": reply_to, "is_self_reply": quoted.direction == "in"}
        self._user_acted(page, thread)
        message = Message(
            new_mid(),
            "in",
            self.clock.now_ms(),
            text=text,
            attachments=list(attachments or []),
            quick_reply_payload=quick_reply,
            reply_to=reply_to,
        )
        thread.messages.append(message)
        self._publish(
            page,
            events.message(
                thread.psid,
                page.id,
                message.timestamp,
                message.mid,
                text=text,
                attachments=attachments,
                quick_reply=quick_reply,
                reply_to=reply,
                referral=referral,
            ),
            person_id,
        )
        self._touch()
        return message

    def user_postback(
        self,
        page_id: str,
        person_id: str,
        title: str,
        payload: str,
        referral: dict[str, Any] | None = None,
    ) -> Message:
        page, _, thread = self._reachable_page(page_id, person_id)
        self._user_acted(page, thread)
        message = Message(new_mid(), "in", self.clock.now_ms(), text=title)
        message.quick_reply_payload = payload
        thread.messages.append(message)
        self._publish(
            page,
            events.postback(
                thread.psid, page.id, message.timestamp, message.mid, title, payload, referral
            ),
            person_id,
        )
        self._touch()
        return message

    def user_get_started(self, page_id: str, person_id: str, ref: str | None = None) -> Message:
        page = self.world.page(page_id)
        payload = page.get_started_payload
        if payload is None:
            raise ValueError(
                "this Page has no Get Started button (set get_started in messenger_profile)"
            )
        if ref is not None and (len(ref) > 2083 or not _REF_OK(ref)):  # the m.me rule (§3.15)
            raise ValueError("ref allows only letters, digits, _ = - and at most 2083 characters")
        referral = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"} if ref else None
        return self.user_postback(page_id, person_id, "Get Started", payload, referral)

    def user_reaction(self, page_id: str, person_id: str, mid: str, emoji: str | None) -> None:
        page, _, thread = self._reachable_page(page_id, person_id)
        message = thread.find(mid)
        if message is None:
            raise ValueError(f"no message {mid} in this conversation")
        if emoji is None:
            message.reactions.pop("user", None)
        else:
            message.reactions["user"] = emoji
        self._user_acted(page, thread)  # a reaction reopens the window (digest §3.14)
        self._publish(
            page, events.reaction(thread.psid, page.id, self.clock.now_ms(), mid, emoji), person_id
        )
        self._touch()

    def user_read(self, page_id: str, person_id: str) -> int:
        """The person opened the thread: everything the Page sent so far is read."""
        page, _, thread = self._reachable_page(page_id, person_id)
        sent = [m.timestamp for m in thread.messages if m.direction == "out"]
        if not sent or max(sent) <= thread.read_watermark:
            return thread.read_watermark
        thread.read_watermark = max(sent)
        thread.delivered_watermark = max(thread.delivered_watermark, thread.read_watermark)
        self._publish(
            page,
            events.read(thread.psid, page.id, self.clock.now_ms(), thread.read_watermark),
            person_id,
        )
        self._touch()
        return thread.read_watermark

    def user_delivered(self, page_id: str, person_id: str) -> int:
        page, _, thread = self._reachable_page(page_id, person_id)
        pending = [
            m
            for m in thread.messages
            if m.direction == "out" and m.timestamp > thread.delivered_watermark
        ]
        if not pending:
            return thread.delivered_watermark
        thread.delivered_watermark = max(m.timestamp for m in pending)
        self._publish(
            page,
            events.delivery(
                thread.psid,
                page.id,
                self.clock.now_ms(),
                [m.mid for m in pending],
                thread.delivered_watermark,
            ),
            person_id,
        )
        self._touch()
        return thread.delivered_watermark

    def user_referral(self, page_id: str, person_id: str, referral: dict[str, Any]) -> None:
        page, _, thread = self._reachable_page(page_id, person_id)
        ref = referral.get("ref")
        if ref is not None and (not isinstance(ref, str) or len(ref) > 2083 or not _REF_OK(ref)):
            raise ValueError("ref allows only letters, digits, _ = - and at most 2083 characters")
        self._user_acted(page, thread)
        body = {"ref": ref, "source": referral.get("source", "SHORTLINK"), "type": "OPEN_THREAD"}
        for key in ("ad_id", "ads_context_data"):
            if referral.get(key) is not None:
                body[key] = referral[key]
        self._publish(
            page, events.referral(thread.psid, page.id, self.clock.now_ms(), body), person_id
        )
        self._touch()

    def user_optin(self, page_id: str, person_id: str, body: dict[str, Any]) -> str | None:
        """An opt-in; the checkbox plugin kind (`user_ref`) identifies the person by ref only."""
        page, _, thread = self._reachable_page(page_id, person_id)
        now = self.clock.now_ms()
        if body.get("type") == "checkbox":
            ref = "ur_" + secrets.token_hex(8)
            self.user_refs[ref] = UserRef(ref, page.id, person_id)
            plugin = {"ref": str(body.get("ref", "")), "user_ref": ref}
            self._publish(page, events.optin(None, page.id, now, plugin), person_id)
            self._touch()
            return ref
        self._user_acted(page, thread)
        out: dict[str, Any] = {
            k: v for k, v in body.items() if k != "type" or v == "notification_messages"
        }
        if out.get("type") == "notification_messages":
            out.setdefault("notification_messages_token", "nmt_" + secrets.token_urlsafe(12))
            out.setdefault("token_expiry_timestamp", int(self.clock.now()) + 365 * 86400)
            out.setdefault("user_token_status", "NOT_REFRESHED")
        self._publish(page, events.optin(thread.psid, page.id, now, out), person_id)
        self._touch()
        return None

    def user_edit(self, page_id: str, person_id: str, mid: str, text: str) -> None:
        page, _, thread = self._reachable_page(page_id, person_id)
        message = thread.find(mid)
        if message is None or message.direction != "in":
            raise ValueError(f"{mid} is not one of this person's messages")
        if message.edits >= 5:
            raise ValueError("a message can be edited at most 5 times")
        message.edits += 1
        message.text = text
        self._publish(
            page,
            events.message_edit(
                thread.psid, page.id, self.clock.now_ms(), mid, text, message.edits
            ),
            person_id,
        )
        self._touch()

    def user_block(self, page_id: str, person_id: str, blocked: bool) -> None:
        page = self.world.page(page_id)
        self.world.person(person_id)
        if blocked and person_id not in page.blocked_by:
            page.blocked_by.append(person_id)
        if not blocked and person_id in page.blocked_by:
            page.blocked_by.remove(person_id)
        self._touch()

    def account_linking(self, page_id: str, person_id: str, status: str) -> None:
        page, _, thread = self._reachable_page(page_id, person_id)
        code = "auth_" + secrets.token_hex(6) if status == "linked" else None
        self._publish(
            page,
            events.account_linking(thread.psid, page.id, self.clock.now_ms(), status, code),
            person_id,
        )

    def policy_enforcement(self, page_id: str, action: str, reason: str | None) -> None:
        if action not in ("warning", "block", "unblock"):
            raise ValueError("action must be warning, block or unblock")
        page = self.world.page(page_id)
        if action == "block":
            page.restricted = True
        elif action == "unblock":
            page.restricted = False
        self._publish(
            page, events.policy_enforcement(page.id, self.clock.now_ms(), action, reason), None
        )
        self._touch()

    def set_app_roles(self, page_id: str, default_app_id: str | None) -> None:
        """A Page admin picks the default app (Conversation Routing); apps hear `app_roles`."""
        page = self.world.page(page_id)
        if default_app_id is not None and default_app_id != PAGE_INBOX_APP_ID:
            self.world.app(default_app_id)
        page.default_app_id = default_app_id
        roles = {
            a.id: ["primary_receiver" if a.id == default_app_id else "secondary_receiver"]
            for a in self.world.page_apps(page.id)
        }
        self._publish(page, events.app_roles(page.id, self.clock.now_ms(), roles), None)
        self._touch()

    def page_inbox_reply(self, page_id: str, person_id: str, text: str) -> Message:
        """A human answers in Meta's Page Inbox: an echo from the inbox app, which takes control."""
        page, _, thread = self._reachable_page(page_id, person_id)
        now = self.clock.now()
        previous = thread.owner(now)
        if page.default_app_id is not None and previous != PAGE_INBOX_APP_ID:
            thread.set_owner(PAGE_INBOX_APP_ID, now)
            if previous is not None:
                self._publish(
                    page,
                    events.take_thread_control(
                        thread.psid, page.id, self.clock.now_ms(), previous, PAGE_INBOX_APP_ID, None
                    ),
                    person_id,
                    only_app=previous,
                )
        message = Message(
            new_mid(), "out", self.clock.now_ms(), text=text, app_id=PAGE_INBOX_APP_ID
        )
        thread.messages.append(message)
        self._echo(page, thread, message)
        self._after_page_message(page, thread)
        self._touch()
        return message

    # --- what Pages send -------------------------------------------------------------------

    def _echo(self, page: Page, thread: Thread, message: Message) -> None:
        attachments = [events.echo_attachment(a) for a in message.attachments]
        self._publish(
            page,
            events.echo(
                page.id,
                thread.psid,
                message.timestamp,
                message.mid,
                message.app_id or PAGE_INBOX_APP_ID,
                text=message.text,
                attachments=attachments,
                metadata=message.metadata,
                reply_to=message.reply_to,
            ),
            thread.person_id,
        )

    def _after_page_message(self, page: Page, thread: Thread) -> None:
        if self.settings.auto_delivery and page.published:
            self.user_delivered(page.id, thread.person_id)
        if self.settings.auto_read and page.published:
            self.user_read(page.id, thread.person_id)

    async def send(
        self,
        token: str | None,
        page_ref: str,
        params: dict[str, Any],
        file: tuple[str, str, bytes] | None = None,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The Send API (digest §5): every rule in the order Meta applies them."""
        from . import send as send_api

        caller, page = self.page_caller(token, page_ref)
        try:
            await self._fault_gate("messages", page.id, caller.app.id)
        except GraphError as err:
            if err.code == 613:  # an injected throttle reads like a real one: usage at 100 %
                limit = self.rate_limits.text_per_second
                raise_with_headers(err, self.rate_limits.usage_headers(page.id, "text", limit))
            raise
        if (
            not identity.has_scope(self.world, caller, "pages_messaging")
            or "pages_messaging" not in caller.app.permissions
        ):
            raise errors.permission_denied(
                "Requires pages_messaging permission to manage the object"
            )
        if "MESSAGING" not in page.tasks_of(caller.person_id or ""):
            raise errors.permission_denied("The user does not have the MESSAGING task on this Page")
        if file is not None:
            params = self._with_upload(params, file)
        request = send_api.parse(params, strict=self.settings.strict_messaging_type)
        headers = self.rate_limits.check(self.clock, page.id, request.rate_kind)
        if page.restricted:
            raise errors.page_restricted()
        if not page.published or not page.messaging_enabled:
            raise errors.permission_denied(
                "This Page cannot send messages right now (unpublished or messaging is off)"
            )
        person, via_user_ref = self._recipient(page, request)
        thread = self.thread(page.id, person.id)
        if not caller.app.may_reach(person.id):
            raise errors.development_mode()
        if person.id in page.blocked_by:
            raise errors.user_unavailable()
        now = self.clock.now()
        owner = thread.owner(now)
        if (owner is not None and owner != caller.app.id) or (
            owner is None and page.default_app_id not in (None, caller.app.id)
        ):
            raise errors.thread_owned_by_other_app()
        if not via_user_ref:
            self._check_window(caller.app, thread, request, now)
        if request.sender_action is not None:
            self._sender_action(page, thread, request)
            return ({"recipient_id": thread.psid}, headers)
        message = self._page_message(caller.app, page, thread, request)
        result: dict[str, Any] = {"message_id": message.mid}
        if not via_user_ref:
            result = {"recipient_id": thread.psid, **result}
        else:  # spent only by a message that went out, not by a refused send
            self.user_refs[request.recipient["user_ref"]].used = True
        if request.reusable:
            stored = self._store_attachment(page.id, request.attachment or {})
            result["attachment_id"] = stored.id
        if request.thread_control is not None:
            self._inline_thread_control(caller.app, page, thread, request.thread_control)
        return result, headers

    def _recipient(self, page: Page, request: SendRequest) -> tuple[Person, bool]:
        if "user_ref" in request.recipient:
            ref = self.user_refs.get(request.recipient["user_ref"])
            if ref is None or ref.page_id != page.id:
                raise errors.no_matching_user()
            if ref.used:
                raise errors.invalid_parameter("A user_ref can be messaged only once")
            return self.world.person(ref.person_id), True
        person = self.world.person_by_psid(page.id, request.recipient["id"])
        # A PSID exists only once the person has reached the Page.
        if person is None or not self.thread(page.id, person.id).started:
            raise errors.no_matching_user()
        return person, False

    def _check_window(self, app: App, thread: Thread, request: SendRequest, now: float) -> None:
        if request.tag == "HUMAN_AGENT":
            if "human_agent" not in app.features:
                raise errors.permission_denied(
                    "The HUMAN_AGENT tag requires the Human Agent permission"
                )
            if not thread.human_agent_open(now):
                raise errors.outside_window()
            return
        if request.tag == "CUSTOMER_FEEDBACK":
            if thread.last_user_at is None or now - thread.last_user_at >= HUMAN_AGENT_WINDOW:
                raise errors.outside_window()
            return
        if request.messaging_type == "UTILITY":
            if "page_utility_messaging" not in app.permissions:
                raise errors.permission_denied("UTILITY messages require page_utility_messaging")
            return
        if not thread.window_open(now):
            raise errors.outside_window()

    def _sender_action(self, page: Page, thread: Thread, request: SendRequest) -> None:
        action = request.sender_action
        now = self.clock.now()
        if action == "typing_on":
            thread.typing, thread.typing_until = True, now + 20
        elif action == "typing_off":
            thread.typing = False
        elif action == "mark_seen":
            last_in = [m.timestamp for m in thread.messages if m.direction == "in"]
            thread.seen_watermark = max(last_in, default=thread.seen_watermark)
        else:
            target = thread.find(str(request.action_payload.get("message_id")))
            if target is None:
                raise errors.invalid_parameter("Invalid message_id")
            if action == "react":
                target.reactions["page"] = str(request.action_payload.get("reaction"))
            else:
                target.reactions.pop("page", None)
        self._touch()

    def _page_message(self, app: App, page: Page, thread: Thread, request: SendRequest) -> Message:
        attachments: list[dict[str, Any]] = []
        if request.attachment is not None:
            attachments = [self._resolve_attachment(page, request.attachment)]
        if request.sticker_id is not None:
            attachments = [
                {
                    "type": "image",
                    "payload": {
                        "url": f"{self.settings.base_url}/cdn/sticker/{request.sticker_id}.png",
                        "sticker_id": int(request.sticker_id)
                        if request.sticker_id.isdigit()
                        else request.sticker_id,
                    },
                }
            ]
        if request.reply_to is not None:
            quoted = thread.find(request.reply_to)
            # Only messages of the last 24 hours can be quoted (digest §5.2).
            if quoted is None or self.clock.now_ms() - quoted.timestamp >= WINDOW * 1000:
                raise errors.invalid_parameter(
                    "param reply_to[mid] is not a message of this conversation from the last 24 h"
                )
        if request.persona_id is not None and request.persona_id not in self.personas:
            raise errors.invalid_parameter("Invalid persona_id")
        thread.typing = False
        message = Message(
            new_mid(),
            "out",
            self.clock.now_ms(),
            text=request.text,
            attachments=attachments,
            quick_replies=request.quick_replies,
            reply_to=request.reply_to,
            app_id=app.id,
            metadata=request.metadata,
            messaging_type=request.messaging_type,
            tag=request.tag,
            persona_id=request.persona_id,
        )
        thread.messages.append(message)
        self._echo(page, thread, message)
        self._after_page_message(page, thread)
        self._touch()
        return message

    def _stored_attachment(self, page: Page, attachment_id: Any) -> StoredAttachment:
        """A reusable attachment of this Page, at most 90 days old, or 100/2018074."""
        stored = self.attachments.get(str(attachment_id))
        if (
            stored is None
            or stored.page_id != page.id
            or self.clock.now() - stored.created_at >= ATTACHMENT_TTL
        ):
            raise errors.bad_attachment_id()
        return stored

    def _resolve_attachment(self, page: Page, attachment: dict[str, Any]) -> dict[str, Any]:
        payload = dict(attachment.get("payload") or {})
        if payload.get("template_type") == "media" and attachment.get("type") == "template":
            for element in payload.get("elements") or []:
                if element.get("attachment_id") is not None:
                    self._stored_attachment(page, element["attachment_id"])
        if "attachment_id" in payload and attachment.get("type") != "template":
            stored = self._stored_attachment(page, payload["attachment_id"])
            return {
                "type": attachment["type"],
                "payload": {"url": stored.url, "attachment_id": stored.id},
            }
        return {"type": attachment["type"], "payload": payload}

    def _store_attachment(self, page_id: str, attachment: dict[str, Any]) -> StoredAttachment:
        payload = attachment.get("payload") or {}
        stored = StoredAttachment(
            id=str(secrets.randbelow(9 * 10**15) + 10**15),
            page_id=page_id,
            type=str(attachment.get("type")),
            url=str(payload.get("url", "")),
            created_at=self.clock.now(),
        )
        self.attachments[stored.id] = stored
        return stored

    async def upload_attachment(
        self,
        token: str | None,
        page_ref: str,
        params: dict[str, Any],
        file: tuple[str, str, bytes] | None,
    ) -> dict[str, str]:
        """`message_attachments`: by URL or multipart `filedata`; the id is private to the Page."""
        caller, page = self.page_caller(token, page_ref)
        await self._fault_gate("message_attachments", page.id, caller.app.id)
        message = params.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("attachment"), dict):
            raise errors.invalid_parameter("param message[attachment] must be an object")
        attachment = message["attachment"]
        kind = attachment.get("type")
        if kind not in ("image", "audio", "video", "file"):
            raise errors.invalid_parameter(
                "param message[attachment][type] must be image, audio, video or file"
            )
        payload = attachment.get("payload") or {}
        if not isinstance(payload, dict):
            raise errors.invalid_parameter("param message[attachment][payload] must be an object")
        if file is not None:
            url = self._uploaded_url(str(kind), file)
        else:
            url = str(payload.get("url") or "")
            if not url.startswith(("http://", "https://")):
                raise errors.invalid_parameter(
                    "param message[attachment][payload][url] must be a valid URL"
                )
        stored = self._store_attachment(page.id, {"type": kind, "payload": {"url": url}})
        return {"attachment_id": stored.id}

    def _uploaded_url(self, kind: str, file: tuple[str, str, bytes]) -> str:
        """Keep a `filedata` part on the emulator's CDN, within Meta's size and type rules."""
        name, content_type, content = file
        limit = MAX_IMAGE_UPLOAD if kind == "image" else MAX_UPLOAD
        if len(content) > limit:
            raise errors.invalid_parameter("The attachment is too large", subcode=2018109)
        if kind == "audio" and not content_type.startswith("audio/"):
            raise errors.invalid_parameter(
                "Audio uploads need an audio/* Content-Type", subcode=2018047
            )
        # The name becomes a URL path segment: keep it to a safe alphabet.
        safe = "".join(c for c in name if c.isascii() and (c.isalnum() or c in "._-"))[:80]
        return self.media_url(self.store_media(content, content_type, safe or "upload"))

    def _with_upload(self, params: dict[str, Any], file: tuple[str, str, bytes]) -> dict[str, Any]:
        """Send API multipart (digest §5.3): the `filedata` part becomes the attachment's URL."""
        message = params.get("message")
        attachment = message.get("attachment") if isinstance(message, dict) else None
        payload = attachment.get("payload", {}) if isinstance(attachment, dict) else None
        if (
            not isinstance(message, dict)
            or not isinstance(attachment, dict)
            or attachment.get("type") not in MEDIA_TYPES
            or not isinstance(payload, dict)
        ):
            raise errors.invalid_parameter(
                "param message[attachment] must be an image, audio, video or file with filedata"
            )
        if "url" in payload or "attachment_id" in payload:
            raise errors.invalid_parameter("filedata cannot be combined with url or attachment_id")
        url = self._uploaded_url(str(attachment["type"]), file)
        attachment = {**attachment, "payload": {**payload, "url": url}}
        return {**params, "message": {**message, "attachment": attachment}}

    # --- media the emulator serves -------------------------------------------------------

    def store_media(self, content: bytes, content_type: str, name: str) -> Media:
        media = Media(
            id=secrets.token_hex(10),
            content=content,
            content_type=content_type,
            name=name,
            expires_at=self.clock.now() + MEDIA_URL_TTL,
        )
        self.media[media.id] = media
        return media

    def media_url(self, media: Media) -> str:
        expiry = format(int(media.expires_at), "x")
        sig = hmac.new(media.id.encode(), expiry.encode(), hashlib.sha256).hexdigest()[:16]
        return f"{self.settings.base_url}/cdn/{media.id}/{media.name}?oe={expiry}&oh={sig}"

    def fetch_media(self, media_id: str, oe: str, oh: str) -> Media:
        media = self.media.get(media_id)
        if media is None:
            raise LookupError("not found")
        sig = hmac.new(media.id.encode(), oe.encode(), hashlib.sha256).hexdigest()[:16]
        if not hmac.compare_digest(sig.encode(), oh.encode("utf-8", "replace")):
            raise PermissionError("Bad URL hash")
        if self.clock.now() >= int(oe, 16):
            raise PermissionError("URL signature expired")
        return media

    # --- thread control (digest §7) ------------------------------------------------------

    def _inline_thread_control(
        self, app: App, page: Page, thread: Thread, control: dict[str, str]
    ) -> None:
        if control.get("control_type") == "pass":
            self.pass_control(app, page, thread, control.get("app_id"), None)
        else:
            thread.set_owner(None, self.clock.now())  # released silently (digest §7)
        self._touch()

    def control_thread(
        self, token: str | None, page_ref: str, action: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        caller, page = self.page_caller(token, page_ref)
        recipient = params.get("recipient")
        if not isinstance(recipient, dict) or not recipient.get("id"):
            raise errors.invalid_parameter("param recipient must be an object with an id")
        person = self.resolve_psid(page.id, str(recipient["id"]))
        thread = self.thread(page.id, person.id)
        metadata = params.get("metadata")
        if metadata is not None and (not isinstance(metadata, str) or len(metadata) > 1000):
            raise errors.invalid_parameter(
                "param metadata must be a string of at most 1000 characters"
            )
        now = self.clock.now()
        app = caller.app
        owner = thread.owner(now)
        if action == "pass_thread_control":
            if owner not in (None, app.id) or (
                owner is None and page.default_app_id not in (None, app.id)
            ):
                raise errors.not_thread_owner()
            target = params.get("target_app_id")
            self.pass_control(app, page, thread, str(target) if target else None, metadata)
        elif action == "take_thread_control":
            if page.default_app_id is None:
                raise GraphError(
                    10,
                    "(#10) Taking thread control is not available without a default app",
                    subcode=2018171,
                )
            if page.default_app_id != app.id:
                raise GraphError(
                    10, "(#10) Only the default app can take thread control", subcode=2018171
                )
            thread.set_owner(app.id, now)
            if owner is not None and owner != app.id and owner != PAGE_INBOX_APP_ID:
                self._publish(
                    page,
                    events.take_thread_control(
                        thread.psid, page.id, self.clock.now_ms(), owner, app.id, metadata
                    ),
                    person.id,
                    only_app=owner,
                )
        elif action == "request_thread_control":
            # The owner hears the request; on an idle thread, the default app (§3.19 "primary").
            holder = owner if owner is not None else page.default_app_id
            if holder is not None and holder not in (app.id, PAGE_INBOX_APP_ID):
                self._publish(
                    page,
                    events.request_thread_control(
                        thread.psid, page.id, self.clock.now_ms(), app.id, metadata
                    ),
                    person.id,
                    only_app=holder,
                )
        elif action == "release_thread_control":
            if owner != app.id:
                raise errors.not_thread_owner()
            thread.set_owner(None, now)
        elif action == "extend_thread_control":
            if owner != app.id:
                raise errors.not_thread_owner()
            duration = params.get("duration")
            if not isinstance(duration, int) or not 0 < duration <= 7 * 86400:
                raise errors.invalid_parameter("param duration must be 1..604800 seconds")
            thread.owner_expires_at = now + duration
        else:
            raise errors.unsupported_method("POST", action)
        self._touch()
        return {"success": True}

    def pass_control(
        self, app: App, page: Page, thread: Thread, target: str | None, metadata: str | None
    ) -> None:
        target = target or page.default_app_id
        if target is None:
            raise errors.invalid_parameter("param target_app_id is required")
        if target != PAGE_INBOX_APP_ID and target not in page.subscribed_apps:
            raise errors.invalid_parameter("Invalid app id", subcode=2018164)
        now = self.clock.now()
        previous = thread.owner(now)
        thread.set_owner(target, now)
        if target != PAGE_INBOX_APP_ID:
            self._publish(
                page,
                events.pass_thread_control(
                    thread.psid, page.id, self.clock.now_ms(), previous, target, metadata
                ),
                thread.person_id,
                only_app=target,
            )

    def thread_owner(self, token: str | None, page_ref: str, psid: str) -> dict[str, Any]:
        caller, page = self.page_caller(token, page_ref)
        person = self.resolve_psid(page.id, psid)
        thread = self.thread(page.id, person.id)
        owner = thread.owner(self.clock.now())
        if owner is None or caller.app.id not in (owner, page.default_app_id):
            return {"data": []}
        return {
            "data": [
                {"thread_owner": {"app_id": owner, "expiration": int(thread.owner_expires_at)}}
            ]
        }

    # --- faults on the world ----------------------------------------------------------------

    async def _fault_gate(self, endpoint: str, page_id: str | None, app_id: str | None) -> None:
        delay = self.faults.latency(endpoint, page_id, app_id)
        if delay:
            await asyncio.sleep(delay)
        error = self.faults.error(endpoint, page_id, app_id)
        if error is not None:
            raise error

    async def gate(
        self, endpoint: str, page_id: str | None = None, app_id: str | None = None
    ) -> None:
        await self._fault_gate(endpoint, page_id, app_id)

    def change_password(self, person_id: str) -> int:
        """Every token of this person, in every app, answers 190/460 from now on."""
        self.world.person(person_id)
        hit = self.world.invalidate_tokens(460, person_id=person_id)
        self._touch()
        return hit

    def expire_tokens(self, *, person_id: str | None = None, token: str | None = None) -> int:
        now = self.clock.now()
        hit = 0
        for t in self.world.tokens.values():
            if (token is not None and t.value == token) or (
                token is None and person_id is not None and t.person_id == person_id
            ):
                t.expires_at = now
                hit += 1
        self._touch()
        return hit

    def remove_page_role(self, page_id: str, person_id: str) -> int:
        page = self.world.page(page_id)
        page.roles.pop(person_id, None)
        hit = self.world.invalidate_tokens(492, person_id=person_id, page_id=page_id)
        self._touch()
        return hit

    def set_page_role(self, page_id: str, person_id: str, tasks: list[str]) -> None:
        page = self.world.page(page_id)
        self.world.person(person_id)
        page.roles[person_id] = list(tasks)
        self._touch()

    def remove_app_from_page(self, page_id: str, app_id: str) -> int:
        """Business Integrations → remove: Page unsubscribed, tokens for it answer 190/458."""
        page = self.world.page(page_id)
        self.world.app(app_id)
        page.subscribed_apps.pop(app_id, None)
        hit = self.world.invalidate_tokens(458, page_id=page_id, app_id=app_id)
        grant_pages = [g for g in self.world.grants.values() if g.app_id == app_id]
        for grant in grant_pages:
            if page_id in grant.page_ids:
                grant.page_ids.remove(page_id)
            # A business grant covers its Pages: narrow it to the business's other Pages, or
            # `me/accounts` would hand out a fresh token for the Page the app was removed from.
            for business_id in list(grant.business_ids):
                business = self.world.businesses.get(business_id)
                if business is not None and page_id in business.page_ids:
                    grant.business_ids.remove(business_id)
                    others = [p for p in business.page_ids if p not in (page_id, *grant.page_ids)]
                    grant.page_ids.extend(others)
        self._touch()
        return hit

    def set_page_state(self, page_id: str, values: dict[str, Any]) -> Page:
        page = self.world.page(page_id)
        for key in ("published", "restricted", "messaging_enabled"):
            if key in values:
                if not isinstance(values[key], bool):
                    raise ValueError(f"{key} must be true or false")
                setattr(page, key, values[key])
        if "default_app_id" in values:
            default = values["default_app_id"]
            self.set_app_roles(page.id, str(default) if default else None)
        self._touch()
        return page

    # --- subscriptions -------------------------------------------------------------------------

    async def subscribe_app(
        self, app: App, callback_url: str, verify_token: str, fields: list[str], version: str
    ) -> Attempt:
        attempt = await self.webhooks.verify(app.id, callback_url, verify_token)
        if attempt.ok:
            app.subscription = AppSubscription(callback_url, verify_token, fields, True, version)
            self._touch()
        return attempt


def _REF_OK(ref: str) -> bool:  # noqa: N802 - reads as a predicate on the m.me alphabet
    return all(c.isascii() and (c.isalnum() or c in "_=-") for c in ref)


def _standby_copy(event: dict[str, Any]) -> dict[str, Any]:
    """Standby copies of postbacks omit the payload: only the sending app gets it (digest §3.11)."""
    if "postback" not in event:
        return event
    copy = dict(event)
    copy["postback"] = {k: v for k, v in event["postback"].items() if k != "payload"}
    return copy
