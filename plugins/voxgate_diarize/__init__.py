"""Built-in plugin ``diarize``: the ``ge2e`` diarizer, offline, without torch.

Speech regions from Silero VAD (shipped with faster-whisper), a GE2E speaker embedding
(Resemblyzer's weights, ``pkg:speaker-ge2e``, run on numpy) per 1.6 s window of each region,
then average-linkage clustering under a cosine-distance threshold: the number of speakers is
found, not given. Known speakers (``known_speaker_references[]``) name the clusters their
clips resemble. The service aligns the turns with the STT engine's words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import msgspec
import numpy as np

from voxgate import (
    ConfigBase,
    DiarizationSession,
    DiarizeOptions,
    Diarizer,
    InvalidRequestError,
    ModelSourceError,
    ServiceUnavailableError,
    hookimpl,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import NDArray

    from voxgate_diarize.ge2e import Ge2eEncoder


class Ge2eConfig(ConfigBase):
    """``[diarize.<name>]`` options of kind ``ge2e``."""

    model: Annotated[
        str,
        msgspec.Meta(description="Where the GE2E weights (`pretrained.pt`) are: a model source."),
    ] = "pkg:speaker-ge2e"
    threshold: Annotated[
        float,
        msgspec.Meta(
            ge=0.05,
            le=1.0,
            description="Cosine distance under which two groups of windows are one speaker "
            "(lower: more speakers).",
        ),
    ] = 0.4
    window_seconds: Annotated[
        float, msgspec.Meta(ge=0.5, le=4.0, description="Audio per speaker embedding.")
    ] = 1.6
    hop_seconds: Annotated[
        float,
        msgspec.Meta(
            ge=0.2, le=4.0, description="Step between embeddings within speech (cost ~ 1/hop)."
        ),
    ] = 0.8
    min_speaker_seconds: Annotated[
        float,
        msgspec.Meta(
            ge=0.0, description="A speaker with less speech than this joins the nearest one."
        ),
    ] = 1.0
    max_speakers: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(description="At most this many speakers (unset: any)."),
    ] = None
    known_similarity: Annotated[
        float,
        msgspec.Meta(
            ge=0.0,
            le=1.0,
            description="Cosine similarity at which a speaker takes a known speaker's name.",
        ),
    ] = 0.75
    vad_threshold: Annotated[
        float, msgspec.Meta(ge=0.05, le=0.95, description="Silero speech probability threshold.")
    ] = 0.5


_BLOCK_SECONDS = 30.0
_MIN_REGION_SECONDS = 0.3


class Ge2eDiarizer(Diarizer[Ge2eConfig]):
    """Kind `ge2e`: who spoke when, offline, without torch (Silero VAD, GE2E, clustering)."""

    kind: ClassVar[str] = "ge2e"

    def load(self) -> None:
        """Read the weights (no torch) and Silero VAD from faster-whisper's assets."""
        from faster_whisper.vad import (  # type: ignore[import-untyped]  # noqa: PLC0415
            VadOptions,
            get_speech_timestamps,
        )

        from voxgate_diarize.ge2e import Ge2eEncoder  # noqa: PLC0415

        try:
            path = self.context.model_path(self.config.model)
        except ModelSourceError as exc:
            # the default install lacks the weights' package: say how to add it (503, not 500)
            raise ServiceUnavailableError(
                f"Speaker diarization is not installed ({self.config.model}: {exc}). Its GE2E "
                "weights ship in the `resemblyzer` package: `pip install --no-deps "
                "resemblyzer==0.1.4` adds them (17 MB, no torch), as does `pip install "
                "voxgate[diarize]`."
            ) from None
        checkpoint = path / "pretrained.pt" if path.is_dir() else path
        self._encoder: Ge2eEncoder | None = Ge2eEncoder(checkpoint)
        options = VadOptions(
            threshold=self.config.vad_threshold,
            min_speech_duration_ms=150,
            min_silence_duration_ms=100,
            speech_pad_ms=30,
        )

        def speech(samples: NDArray[np.float32]) -> list[tuple[int, int]]:
            found: list[dict[str, Any]] = get_speech_timestamps(samples, options)
            return [(int(s["start"]), int(s["end"])) for s in found]

        self._speech: Callable[[NDArray[np.float32]], list[tuple[int, int]]] = speech

    def unload(self) -> None:
        """Drop the weights."""
        self._encoder = None

    def session(self, options: DiarizeOptions) -> DiarizationSession:
        """A session; each known speaker's clip is embedded now (400 if it has no speech)."""
        from voxgate_diarize.session import Ge2eSession, Settings  # noqa: PLC0415

        encoder = self._encoder
        if encoder is None:
            msg = "the ge2e diarizer is not loaded"
            raise RuntimeError(msg)
        known = []
        for index, speaker in enumerate(options.known_speakers):
            voiced = [speaker.audio.samples[s:e] for s, e in self._speech(speaker.audio.samples)]
            if sum(len(v) for v in voiced) < _MIN_REGION_SECONDS * self.sample_rate:
                raise InvalidRequestError(
                    f"known_speaker_references[{index}] ({speaker.name}) contains no speech.",
                    param="known_speaker_references",
                )
            known.append((speaker.name, encoder.embed_utterance(np.concatenate(voiced))))
        rate = self.sample_rate
        settings = Settings(
            sample_rate=rate,
            window=round(self.config.window_seconds * rate),
            hop=round(self.config.hop_seconds * rate),
            min_region=round(_MIN_REGION_SECONDS * rate),
            block=round(_BLOCK_SECONDS * rate),
            threshold=self.config.threshold,
            min_speaker_seconds=self.config.min_speaker_seconds,
            known_similarity=self.config.known_similarity,
            max_speakers=self.config.max_speakers,
        )
        return Ge2eSession(encoder, self._speech, settings, known)


@hookimpl
def register_diarizers(register: Callable[[type[Diarizer]], None]) -> None:
    """The ``ge2e`` kind."""
    register(Ge2eDiarizer)
