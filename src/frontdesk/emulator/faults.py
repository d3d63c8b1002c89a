"""Faults injected on demand: Graph errors, slowness, and a failing callback."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import GraphError

FaultKind = Literal["error", "latency", "callback"]

ENDPOINTS = (
    "*",
    "messages",
    "message_attachments",
    "subscribed_apps",
    "subscriptions",
    "oauth",
    "accounts",
    "debug_token",
    "profile",
    "page",
    "messenger_profile",
    "thread_control",
)


@dataclass
class Fault:
    id: int
    kind: FaultKind
    endpoint: str = "*"
    page_id: str | None = None
    app_id: str | None = None
    error: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    status: int = 500
    """For a failing callback: the HTTP status Meta records, 0 for a connection failure."""
    remaining: int | None = None
    """How many more times it fires; None until cleared."""

    def matches(self, endpoint: str, page_id: str | None, app_id: str | None) -> bool:
        if self.endpoint not in ("*", endpoint):
            return False
        if self.page_id is not None and self.page_id != page_id:
            return False
        return self.app_id is None or self.app_id == app_id

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "endpoint": self.endpoint,
            "page_id": self.page_id,
            "app_id": self.app_id,
            "error": self.error,
            "seconds": self.seconds,
            "status": self.status,
            "remaining": self.remaining,
        }


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._next = 0

    def add(self, spec: dict[str, Any]) -> Fault:
        kind = spec.get("kind", "error")
        if kind not in ("error", "latency", "callback"):
            raise ValueError("kind must be error, latency or callback")
        endpoint = str(spec.get("endpoint", "*"))
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        count = spec.get("count")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer")
        error = spec.get("error", {"code": 2, "status": 503})
        if kind == "error":
            if not isinstance(error, dict) or not isinstance(error.get("code", 2), int):
                raise ValueError("error must be an object with an integer code")
            GraphError.from_spec(error)  # validates the shape now, not when it fires
        seconds = spec.get("seconds", 0.0)
        if not isinstance(seconds, int | float) or not 0 <= seconds <= 120:
            raise ValueError("seconds must be between 0 and 120")
        status = spec.get("status", 500)
        if not isinstance(status, int) or not (status == 0 or 100 <= status <= 599):
            raise ValueError("status must be an HTTP status or 0")
        self._next += 1
        fault = Fault(
            id=self._next,
            kind=kind,
            endpoint=endpoint,
            page_id=str(spec["page_id"]) if spec.get("page_id") else None,
            app_id=str(spec["app_id"]) if spec.get("app_id") else None,
            error=dict(error) if kind == "error" else {},
            seconds=float(seconds),
            status=status,
            remaining=count,
        )
        self._faults.append(fault)
        return fault

    def clear(self, fault_id: int | None = None) -> int:
        before = len(self._faults)
        self._faults = [f for f in self._faults if fault_id is not None and f.id != fault_id]
        return before - len(self._faults)

    def all(self) -> list[Fault]:
        return list(self._faults)

    def _take(
        self, kind: FaultKind, endpoint: str, page_id: str | None, app_id: str | None
    ) -> Fault | None:
        for fault in self._faults:
            if fault.kind == kind and fault.matches(endpoint, page_id, app_id):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def latency(self, endpoint: str, page_id: str | None, app_id: str | None) -> float:
        fault = self._take("latency", endpoint, page_id, app_id)
        return fault.seconds if fault else 0.0

    def error(self, endpoint: str, page_id: str | None, app_id: str | None) -> GraphError | None:
        fault = self._take("error", endpoint, page_id, app_id)
        return GraphError.from_spec(fault.error) if fault else None

    def callback_failure(self, app_id: str) -> int | None:
        fault = self._take("callback", "*", None, app_id)
        return fault.status if fault else None
