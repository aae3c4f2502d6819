"""Transcoder kind ``pyav``: decode any upload by sniffing its bytes, stream-encode responses.

PyAV bundles FFmpeg, so every container and codec works without an ``ffmpeg`` binary on the
host. Decoding lives in ``decode``, the response encoders in ``encode``; this module only
declares the kind and registers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar

import msgspec

from voxgate import ConfigBase, Transcoder, hookimpl
from voxgate_pyav.decode import decode_audio, open_audio
from voxgate_pyav.encode import ENCODERS, make_encoder
from voxgate_pyav.tempo import change_tempo

if TYPE_CHECKING:
    from collections.abc import Callable

    from voxgate import AudioEncoder, PcmAudio, PcmStream

__all__ = ["PyAvConfig", "PyAvTranscoder", "register_transcoders"]


class PyAvConfig(ConfigBase):
    """Limits and threading for the PyAV transcoder."""

    max_decoded_seconds: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="Longest upload accepted, in seconds of decoded audio: checked from the "
            "container's packets before anything is decoded, and again while decoding, so a "
            "tiny file that expands to hours of audio is refused early.",
        ),
    ] = 14_400.0
    threads: Annotated[
        int,
        msgspec.Meta(ge=0, description="FFmpeg decoder threads per upload; 0 lets FFmpeg choose."),
    ] = 0


class PyAvTranscoder(Transcoder[PyAvConfig]):
    """Reads every container FFmpeg probes; writes mp3, opus, aac, flac, wav and pcm."""

    kind: ClassVar[str] = "pyav"
    formats: ClassVar[frozenset[str]] = frozenset(ENCODERS)

    def decode(self, data: bytes, sample_rate: int) -> PcmAudio:
        cfg = self.config
        return decode_audio(
            data, sample_rate, max_seconds=cfg.max_decoded_seconds, threads=cfg.threads
        )

    def open(self, data: bytes, sample_rate: int) -> PcmStream:
        """Probe now (container, audio stream, length, first frame); decode as it is read."""
        cfg = self.config
        return open_audio(
            data, sample_rate, max_seconds=cfg.max_decoded_seconds, threads=cfg.threads
        )

    def encoder(self, audio_format: str, sample_rate: int) -> AudioEncoder:
        return make_encoder(audio_format, sample_rate)

    def tempo(self, audio: PcmAudio, factor: float) -> PcmAudio:
        return change_tempo(audio, factor)


@hookimpl
def register_transcoders(register: Callable[[type[Transcoder]], None]) -> None:
    register(PyAvTranscoder)
