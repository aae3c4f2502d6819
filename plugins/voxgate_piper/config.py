"""The ``[tts.<name>]`` options of kind ``piper``.

The synthesis knobs keep piper-tts's own names (``SynthesisConfig``), so Piper's documentation
applies unchanged; unset ones fall back to the values in the voice's ``.onnx.json``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from voxgate import ConfigBase


def _describe(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class PiperConfig(ConfigBase):
    """One Piper voice (an ONNX model and its JSON config) run by onnxruntime."""

    model: Annotated[
        str,
        _describe(
            "Model source: `pkg:piper-en_US-joe-medium` (the voice shipped in a PyPI package), "
            "a directory holding one `*.onnx` voice and its `*.onnx.json`, or the path of an "
            "`.onnx` file whose `.onnx.json` sits next to it."
        ),
    ] = "pkg:piper-en_US-joe-medium"
    speaker: Annotated[
        str | Annotated[int, msgspec.Meta(ge=0)] | None,
        _describe(
            "Default speaker of a multi-speaker voice, used when a request names the voice "
            "itself: a name from the voice's `speaker_id_map` or a speaker id. Unset: the "
            "voice's own default (speaker 0 unless its config says otherwise)."
        ),
    ] = None
    length_scale: Annotated[
        Annotated[float, msgspec.Meta(gt=0)] | None,
        _describe(
            "Phoneme duration at speed 1.0 (above 1 is slower); a request's `speed` divides it. "
            "Unset: the voice's own (usually 1.0)."
        ),
    ] = None
    fixed_share: Annotated[
        float,
        msgspec.Meta(
            ge=0,
            lt=1,
            description=(
                "Share of speech that `length_scale` does not stretch (every phoneme lasts at "
                "least one frame): 0.28 on en_US-joe-medium. A request's `speed` is corrected "
                "for it, so speed 2.0 halves the duration; speeds beyond about 2.0 reach "
                "Piper's limit. 0: Piper's plain `length_scale / speed`."
            ),
        ),
    ] = 0.28
    noise_scale: Annotated[
        Annotated[float, msgspec.Meta(ge=0)] | None,
        _describe("Generator noise: more varied, less clean audio. Unset: the voice's own."),
    ] = None
    noise_w_scale: Annotated[
        Annotated[float, msgspec.Meta(ge=0)] | None,
        _describe("Phoneme width noise: more varied rhythm. Unset: the voice's own (`noise_w`)."),
    ] = None
    threads: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            description=(
                "onnxruntime intra-op threads per synthesis (0: onnxruntime's default, one per "
                "physical core). With `concurrency` above 1, lower it so syntheses do not "
                "fight over cores."
            ),
        ),
    ] = 0
    use_cuda: Annotated[
        bool,
        _describe(
            "Run the voice on a CUDA GPU; needs the `onnxruntime-gpu` package in place of "
            "`onnxruntime` (loading fails otherwise)."
        ),
    ] = False
