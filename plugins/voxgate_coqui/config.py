"""The ``[tts.<name>]`` options of kind ``coqui``.

Either ``model`` (a name from Coqui's model list, fetched by Coqui's own manager) or
``model_path`` (files on disk, or any voxgate model source) says what to load; the voices of
the model are its speakers, the reference clips of ``speakers_dir`` and the ``voices`` tables.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from voxgate import ConfigBase


def _describe(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class CoquiVoice(ConfigBase):
    """One named voice: a speaker of the model, or reference clips to clone (XTTS, YourTTS)."""

    speaker: Annotated[
        str | None,
        _describe("A speaker of a multi-speaker model (`p225`, XTTS's `Ana Florence`)."),
    ] = None
    speaker_wav: Annotated[
        str | list[str] | None,
        _describe(
            "Reference clip(s) of the voice to clone: any audio FFmpeg reads, paths relative "
            "to `speakers_dir` (or absolute). Several clips of one speaker clone better."
        ),
    ] = None
    language: Annotated[
        str | None,
        _describe("Language this voice speaks on a multilingual model (unset: `language`)."),
    ] = None

    def __post_init__(self) -> None:
        """One source per voice, so a voice never means two things (reported by check-config)."""
        if (self.speaker is None) == (self.speaker_wav is None):
            msg = "a voice takes exactly one of `speaker` and `speaker_wav`"
            raise ValueError(msg)
        if self.speaker_wav is not None and not (self.clips and all(c.strip() for c in self.clips)):
            msg = "`speaker_wav` is a clip's path or a non-empty list of them"
            raise ValueError(msg)

    @property
    def clips(self) -> list[str]:
        """``speaker_wav`` as a list (one clip may be written as a string)."""
        if self.speaker_wav is None:
            return []
        return [self.speaker_wav] if isinstance(self.speaker_wav, str) else list(self.speaker_wav)


class CoquiConfig(ConfigBase):
    """One Coqui TTS model (coqui-tts on PyTorch): VITS, XTTS v2, YourTTS, Tacotron 2, …."""

    model: Annotated[
        str | None,
        _describe(
            "A Coqui model name such as `tts_models/multilingual/multi-dataset/xtts_v2` or "
            "`tts_models/en/vctk/vits`, downloaded by Coqui's model manager on first load "
            "into `<cache_dir>/coqui` (XTTS v2: the Hugging Face cache). Needs the network; "
            "models under the CPML, XTTS among them, also need `COQUI_TOS_AGREED=1` in the "
            "environment. Set this or `model_path`."
        ),
    ] = None
    model_path: Annotated[
        str | None,
        _describe(
            "The checkpoint instead of a model name: a `.pth` file, or a directory holding "
            "one (an XTTS directory: `model.pth`, `config.json`, `vocab.json`, "
            "`speakers_xtts.pth`). A local path or any model source (`hf:coqui/XTTS-v2`)."
        ),
    ] = None
    config_path: Annotated[
        str | None,
        _describe(
            "The model's `config.json`, with `model_path` (unset: the `config.json` beside "
            "the checkpoint)."
        ),
    ] = None
    device: Annotated[
        str,
        _describe(
            "PyTorch device: `auto` (CUDA when PyTorch sees a GPU, else CPU), `cpu`, `cuda`, "
            "`cuda:1`, `mps`."
        ),
    ] = "auto"
    language: Annotated[
        str | None,
        _describe(
            "Language of the text on a multilingual model (XTTS: `en`, `de`, `zh-cn`, …) "
            "when the voice names none. Unset: `en` when the model has it, else its first."
        ),
    ] = None
    speakers_dir: Annotated[
        str | None,
        _describe(
            "Directory of reference clips, offered as voices on models that clone (XTTS, "
            "YourTTS): `alice.wav` is voice `alice`; a subdirectory `bob/` of clips is voice "
            "`bob`. Relative `speaker_wav` paths are read from here."
        ),
    ] = None
    voices: Annotated[
        dict[str, CoquiVoice],
        _describe(
            "Named voices, `[tts.<name>.voices.<voice>]` tables with `speaker` or "
            '`speaker_wav` (and optionally `language`): `narrator = { speaker_wav = "alice.wav", '
            'language = "de" }`. Checked at load.'
        ),
    ] = msgspec.field(default_factory=dict)
    default_voice: Annotated[
        str | None,
        _describe(
            "The voice listed first, also used when a request names the instance itself. "
            "Unset: the first named voice, else the model's first speaker or clip."
        ),
    ] = None
    stream_chunk_size: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            description=(
                "XTTS streaming: GPT tokens per streamed chunk (20 is about a second of "
                "speech); fewer start the audio sooner and cost more decoder calls."
            ),
        ),
    ] = 20

    def __post_init__(self) -> None:
        """Say at check-config time what load() would otherwise fail on."""
        if (self.model is None) == (self.model_path is None):
            msg = "set exactly one of `model` (a Coqui model name) and `model_path`"
            raise ValueError(msg)
        if self.config_path is not None and self.model_path is None:
            msg = "`config_path` goes with `model_path` (a named model brings its own config)"
            raise ValueError(msg)
