"""The rule-based bot's engine: its format (schema), compiled form (model) and turns (engine)."""

from .engine import Run, respond
from .model import Bot, BotInvalid, build
from .schema import SCHEMA, Problem

__all__ = ["SCHEMA", "Bot", "BotInvalid", "Problem", "Run", "build", "respond"]
