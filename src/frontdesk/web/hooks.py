"""`/webhooks/messenger/{key}`: a manually connected channel's own Callback URL.

The verification GET is answered with that channel's verify token, and a POST is believed only
when signed with that channel's app secret; from there it is the intake's, group commit and all
(`Intake.receive_signed`). Only the Pages of the channel's own Meta app are routed from here: a
workspace that knows its own secret must not be able to file events for another's Page.

The first verification (or the first signed delivery, should Meta's GET have gone unseen) is
recorded: until then the console shows the channel as waiting for Meta.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from frontdesk.messenger import verify_subscription
from frontdesk.store import hooks
from frontdesk.store.secrets import Secrets

from .webhook import Intake

log = logging.getLogger("frontdesk.webhook")


class ChannelHooks:
    PATH = "/webhooks/messenger/{key}"

    def __init__(
        self, engine: AsyncEngine, keys: Secrets, intake: Intake, clock: Callable[[], float]
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.intake = intake
        self.clock = clock

    async def _find(self, request: Request) -> hooks.Receiving | None:
        key = request.path_params["key"]
        if not hooks.KEY_PATTERN.fullmatch(key):
            return None  # not the shape of a key: no database read for it
        async with self.engine.begin() as conn:
            return await hooks.receiving(conn, self.keys, key)

    async def _verified(self, hook: hooks.Receiving) -> None:
        async with self.engine.begin() as conn:
            await hooks.mark_verified(conn, hook.hook_id, self.clock())

    async def verify(self, request: Request) -> Response:
        hook = await self._find(request)
        if hook is None:
            return PlainTextResponse("", status_code=404)
        challenge = verify_subscription(request.query_params, hook.verify_token)
        if challenge is None:
            return PlainTextResponse("", status_code=403)
        await self._verified(hook)
        log.info("Meta verified the callback URL of hook %s", hook.hook_id)
        return PlainTextResponse(challenge)

    async def receive(self, request: Request) -> Response:
        hook = await self._find(request)
        if hook is None:
            return PlainTextResponse("", status_code=404)
        if hook.app_secret is None:
            # Set up on Meta's side before the Page was connected here: nothing can be checked
            # yet, so nothing is accepted (Meta delivers again later).
            return PlainTextResponse("", status_code=403)
        answer = await self.intake.receive_signed(request, hook.app_secret, hook.pages)
        if answer.status_code == 200 and hook.verified_at is None:
            await self._verified(hook)
        return answer
