"""Base Struct for every configuration table, and the problem type config validation reports."""

from __future__ import annotations

import msgspec


class ConfigBase(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every TOML table: unknown keys are errors, so typos never pass silently.

    Plugins subclass it for their engine ``Config`` and for the tables they claim with
    ``register_settings``; describe fields with ``Annotated[..., msgspec.Meta(description=...)]``
    so the generated configuration reference can show them.
    """


class ConfigProblem(msgspec.Struct, frozen=True):
    """One problem in a configuration, located by its TOML path (``stt.whisper.beam_size``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message
