"""Base Struct for every configuration table, and the problem type config validation reports."""

from __future__ import annotations

from typing import ClassVar

import msgspec


class ConfigBase(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every TOML table: unknown keys are errors, so typos never pass silently.

    Plugins subclass it for their engine ``Config`` and for the tables they claim with
    ``register_settings``; describe fields with ``Annotated[..., msgspec.Meta(description=...)]``
    so the generated configuration reference can show them.

    A claimed table whose keys are names the user chooses (``[voices.<instance>]``) sets
    ``extra_keys_field`` to a ``dict`` field: keys the Struct does not declare are collected
    there instead of being reported as unknown.
    """

    extra_keys_field: ClassVar[str | None] = None


class ConfigProblem(msgspec.Struct, frozen=True):
    """One problem in a configuration, located by its TOML path (``stt.whisper.beam_size``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message
