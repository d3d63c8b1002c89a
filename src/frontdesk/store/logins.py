"""Facebook Login round trips of "Manage Pages": the state, the session it belongs to, the
person's Pages, and each chosen Page's progress while it is connected. Callers own the
transaction.

Only the state's SHA-256 is stored (a copy of the database cannot answer a login), and the
person's user token is stored encrypted, for as long as the round trip lives.
"""

from __future__ import annotations

import hashlib
import secrets as random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .secrets import Secrets
from .tables import page_logins

WAITING = "waiting"
WORKING = "working"
DONE = "done"
FAILED = "failed"


def digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PageOffer:
    """A Page the person granted, as the choice shows it: `reason` says why it cannot be
    chosen (None: it can), `channel_id` is this workspace's channel of it, if any."""

    id: str
    name: str
    category: str | None
    tasks: tuple[str, ...]
    reason: str | None
    channel_id: int | None

    def stored(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "tasks": list(self.tasks),
            "reason": self.reason,
            "channel_id": self.channel_id,
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> PageOffer:
        channel_id = data.get("channel_id")
        return cls(
            str(data["id"]),
            str(data.get("name") or data["id"]),
            data.get("category"),
            tuple(str(t) for t in data.get("tasks") or ()),
            data.get("reason"),
            int(channel_id) if isinstance(channel_id, int) else None,
        )


@dataclass(frozen=True)
class PageProgress:
    """One chosen Page while it is connected: its state, the steps done, what went wrong."""

    state: str = WAITING
    steps: tuple[str, ...] = ()
    problem: str | None = None
    channel_id: int | None = None
    started_at: float | None = None

    def stored(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "steps": list(self.steps),
            "problem": self.problem,
            "channel_id": self.channel_id,
            "started_at": self.started_at,
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> PageProgress:
        channel_id = data.get("channel_id")
        started = data.get("started_at")
        return cls(
            str(data.get("state") or WAITING),
            tuple(str(s) for s in data.get("steps") or ()),
            data.get("problem"),
            int(channel_id) if isinstance(channel_id, int) else None,
            float(started) if isinstance(started, int | float) else None,
        )


@dataclass(frozen=True)
class Login:
    id: int
    session_id: str = field(repr=False)
    workspace_id: int
    user_id: int
    channel_id: int | None
    """The channel being reconnected; None for a new connection."""
    app_id: str
    has_token: bool
    offers: tuple[PageOffer, ...] | None
    """None until Facebook sent the person back."""
    progress: dict[str, PageProgress]
    """Chosen Page id → its progress, in the order chosen; empty before the choice."""
    problem: str | None
    created_at: float
    expires_at: float
    returned_at: float | None

    def offer(self, page_id: str) -> PageOffer | None:
        return next((o for o in self.offers or () if o.id == page_id), None)


def _login(row: Any) -> Login:
    progress = row.progress if isinstance(row.progress, dict) else {}
    return Login(
        id=int(row.id),
        session_id=str(row.session_id),
        workspace_id=int(row.workspace_id),
        user_id=int(row.user_id),
        channel_id=row.channel_id,
        app_id=str(row.app_id),
        has_token=row.user_token is not None,
        offers=None
        if row.pages is None
        else tuple(PageOffer.load(p) for p in row.pages if isinstance(p, dict)),
        progress={str(k): PageProgress.load(v) for k, v in progress.items() if isinstance(v, dict)},
        problem=row.problem,
        created_at=float(row.created_at),
        expires_at=float(row.expires_at),
        returned_at=row.returned_at,
    )


async def start(
    conn: AsyncConnection,
    *,
    session_id: str,
    workspace_id: int,
    user_id: int,
    app_id: str,
    channel_id: int | None,
    now: float,
    lifetime: float,
) -> tuple[int, str]:
    """A new round trip; returns its id and the state to send to Facebook (shown only now).
    Round trips that ended long ago are deleted on the way (their tokens with them)."""
    await conn.execute(delete(page_logins).where(page_logins.c.expires_at < now))
    state = random.token_urlsafe(24)
    login_id = (
        await conn.execute(
            insert(page_logins)
            .values(
                state_hash=digest(state),
                session_id=session_id,
                workspace_id=workspace_id,
                user_id=user_id,
                channel_id=channel_id,
                app_id=app_id,
                created_at=now,
                expires_at=now + lifetime,
            )
            .returning(page_logins.c.id)
        )
    ).scalar_one()
    return int(login_id), state


def _locked(conn: AsyncConnection, query: Any) -> Any:
    # Two tabs of one round trip must not both take the same Page (PostgreSQL; SQLite's
    # transactions run one at a time anyway).
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


async def by_state(conn: AsyncConnection, state: str) -> Login | None:
    row = (
        await conn.execute(
            _locked(conn, select(page_logins).where(page_logins.c.state_hash == digest(state)))
        )
    ).first()
    return None if row is None else _login(row)


async def by_id(conn: AsyncConnection, login_id: int) -> Login | None:
    """Any workspace's round trip: callers check whose it is (web.access)."""
    row = (
        await conn.execute(_locked(conn, select(page_logins).where(page_logins.c.id == login_id)))
    ).first()
    return None if row is None else _login(row)


async def record_return(
    conn: AsyncConnection,
    keys: Secrets,
    login_id: int,
    now: float,
    *,
    user_token: str | None = None,
    offers: list[PageOffer] | None = None,
    problem: str | None = None,
) -> None:
    """Facebook sent the person back: with a token and their Pages, or with a problem."""
    await conn.execute(
        update(page_logins)
        .where(page_logins.c.id == login_id)
        .values(
            returned_at=now,
            user_token=None if user_token is None else keys.encrypt(user_token),
            pages=None if offers is None else [o.stored() for o in offers],
            problem=problem,
        )
    )


async def user_token(conn: AsyncConnection, keys: Secrets, login_id: int) -> str | None:
    sealed = (
        await conn.execute(select(page_logins.c.user_token).where(page_logins.c.id == login_id))
    ).scalar()
    return None if sealed is None else keys.decrypt(sealed)


async def save_progress(
    conn: AsyncConnection, login_id: int, progress: dict[str, PageProgress]
) -> None:
    await conn.execute(
        update(page_logins)
        .where(page_logins.c.id == login_id)
        .values(progress={k: v.stored() for k, v in progress.items()})
    )


async def forget_token(conn: AsyncConnection, login_id: int) -> None:
    """Every chosen Page is done: the person's token is not kept a moment longer."""
    await conn.execute(
        update(page_logins).where(page_logins.c.id == login_id).values(user_token=None)
    )
