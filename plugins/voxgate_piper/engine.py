"""``PiperEngine``: a Piper voice on onnxruntime, yielding audio sentence by sentence."""

from __future__ import annotations

import dataclasses
import gc
import json
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import structlog

from voxgate import (
    InvalidRequestError,
    PcmAudio,
    TtsCapabilities,
    TtsEngine,
    Voice,
)
from voxgate_piper.config import PiperConfig

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from numpy.typing import NDArray
    from piper import PiperConfig as PiperVoiceConfig
    from piper import PiperVoice

    from voxgate import SpeechOptions, VoiceChoice

log = structlog.get_logger("voxgate.piper")

MIN_SPEED = 0.25
MAX_SPEED = 4.0
MIN_LENGTH_FACTOR = 0.25  # shortest length_scale, of the base: faster garbles words
_SILENT_PEAK = 1e-8  # piper's own threshold below which a chunk is treated as silence
_WARM_UP_TEXT = "Hello."

# Phonemization is the one step of synthesis that is not thread-safe: espeak-ng is a C
# library with process-wide state (piper 1.8 guards it with its own module lock, an
# implementation detail), and piper creates its other phonemizers (pinyin, Hebrew, Japanese,
# Thai) lazily without a lock. It takes about a millisecond per sentence, so one lock for
# every instance costs nothing; onnxruntime's ``InferenceSession.run`` is thread-safe.
_PHONEMIZE_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class VoiceFiles:
    """A Piper voice on disk: the ONNX model and its JSON config."""

    model: Path
    config: Path

    @property
    def name(self) -> str:
        """The voice's name, from its file name (``en_US-joe-medium``)."""
        return self.model.name.removesuffix(".onnx")


def find_voice_files(path: Path) -> VoiceFiles:
    """The voice in ``path``: a directory with exactly one ``*.onnx``, or an ``.onnx`` file."""
    if path.is_dir():
        models = sorted(path.glob("*.onnx"))
        if len(models) != 1:
            found = ", ".join(m.name for m in models) if models else "none"
            msg = (
                f"`{path}` must hold exactly one Piper voice (`*.onnx`, found {found}); "
                "name the `.onnx` file itself to pick one"
            )
            raise FileNotFoundError(msg)
        model = models[0]
    elif path.is_file() and path.name.endswith(".onnx"):
        model = path
    else:
        msg = f"`{path}` is neither a directory nor an `.onnx` file: not a Piper voice"
        raise FileNotFoundError(msg)
    config = model.with_name(model.name + ".json")
    if not config.is_file():
        msg = f"`{model}` has no `{config.name}` beside it: Piper needs the voice's config"
        raise FileNotFoundError(msg)
    return VoiceFiles(model=model, config=config)


def read_voice_config(path: Path) -> tuple[dict[str, Any], PiperVoiceConfig]:
    """The voice's JSON config, raw (for ``language``) and as piper reads it."""
    from piper import PiperConfig as VoiceConfig  # noqa: PLC0415 - heavy (imports onnxruntime)

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")  # noqa: TRY301 - reported like the others
        return data, VoiceConfig.from_dict(data)
    except (ValueError, KeyError, TypeError) as error:  # JSONDecodeError is a ValueError
        msg = f"`{path}` is not a Piper voice config ({type(error).__name__}: {error})"
        raise ValueError(msg) from error


def voice_languages(data: dict[str, Any]) -> list[str]:
    """ISO-639-1 language of the voice: ``language.code`` (``en_US`` → ``en``), else espeak's."""
    language = data.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str) or not code:
        code = data.get("espeak", {}).get("voice")  # ``en-us``
    if not isinstance(code, str) or not code:
        return []
    return [code.replace("-", "_").split("_")[0].lower()]


@dataclasses.dataclass(frozen=True)
class _Loaded:
    """Everything ``load()`` prepares; replaced as one, so requests never see half of it."""

    voice: PiperVoice
    name: str
    languages: list[str]
    speakers: dict[str, int]  # name → id; empty for one-speaker voices
    speaker_count: int
    default_speaker: int | None  # None for one-speaker voices
    length_scale: float  # at speed 1.0


class PiperEngine(TtsEngine[PiperConfig]):
    """Kind ``piper``: any Piper voice (``.onnx`` + ``.onnx.json``), offline.

    Voices: a one-speaker voice offers one voice, its name (``en_US-joe-medium``); a
    multi-speaker voice offers each name in its ``speaker_id_map``. Requests may also name a
    multi-speaker voice by its own name (the configured ``speaker``) or a speaker by its id
    (``"3"``); ``VoiceChoice.speaker`` overrides ``voice_id``.

    Speed is native, through ``length_scale`` (see ``length_for_speed``); 0.25 to 4.0 are
    accepted, and Piper cannot go much faster than 2.0. Each sentence is
    synthesized in one onnxruntime call and yielded as it is ready, peak-normalized like
    piper's own ``synthesize``, so closing the generator stops at the next sentence.
    Concurrent calls are safe (see ``_PHONEMIZE_LOCK``). Voices whose phonemes are pinyin
    make piper download its g2pW model into ``<cache_dir>/piper`` on first use.
    """

    kind: ClassVar[str] = "piper"
    # length_scale floors near 2x: faster than that, the service's tempo filter takes over
    capabilities: ClassVar[TtsCapabilities] = TtsCapabilities(
        native_speed=True, max_speed=2.0, instructions=False, blends=False
    )

    _loaded: _Loaded | None = None

    def load(self) -> None:
        """Read the voice, open its onnxruntime session and run one short warm-up sentence.

        piper's ``PiperVoice.load`` takes no session options, so the session is built here
        (as ``load`` does) with ``threads`` applied. The warm-up moves espeak-ng's start and
        onnxruntime's first-run allocations out of the first request.
        """
        import onnxruntime  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy
        import piper  # noqa: PLC0415 - heavy (imports onnxruntime)

        cfg = self.config
        started = time.perf_counter()
        files = find_voice_files(self.context.model_path(cfg.model))
        data, voice_config = read_voice_config(files.config)
        options = onnxruntime.SessionOptions()
        if cfg.threads:
            options.intra_op_num_threads = cfg.threads
        providers = _providers(cfg.use_cuda, onnxruntime.get_available_providers())
        session = onnxruntime.InferenceSession(
            str(files.model), sess_options=options, providers=providers
        )
        voice = piper.PiperVoice(
            session=session, config=voice_config, download_dir=self.context.cache_dir / "piper"
        )
        speakers = _speaker_names(voice_config.speaker_id_map, voice_config.num_speakers)
        loaded = _Loaded(
            voice=voice,
            name=files.name,
            languages=voice_languages(data),
            speakers=speakers,
            speaker_count=max(1, voice_config.num_speakers),
            default_speaker=voice_config.default_speaker_id if speakers else None,
            length_scale=(
                cfg.length_scale if cfg.length_scale is not None else voice_config.length_scale
            ),
        )
        if cfg.speaker is not None:
            chosen = _speaker_id(loaded, cfg.speaker)
            if chosen is None:
                msg = f"speaker `{cfg.speaker}` is not one of voice `{files.name}`'s"
                raise ValueError(msg)
            if speakers:
                loaded = dataclasses.replace(loaded, default_speaker=chosen)
        loaded_at = time.perf_counter()
        for _ in self._sentences(loaded, _WARM_UP_TEXT, loaded.default_speaker, 1.0):
            pass
        self._loaded = loaded
        log.info(
            "piper voice loaded",
            instance=self.context.instance,
            path=str(files.model),
            voice=files.name,
            sample_rate=voice_config.sample_rate,
            speakers=loaded.speaker_count,
            threads=cfg.threads or "default",
            providers=session.get_providers(),
            load_seconds=round(loaded_at - started, 2),
            warm_up_seconds=round(time.perf_counter() - loaded_at, 2),
        )

    def unload(self) -> None:
        """Drop the voice; onnxruntime frees the session when the last reference goes."""
        self._loaded = None
        gc.collect()

    def voices(self) -> list[Voice]:
        """The voice's name, or one voice per named speaker of a multi-speaker voice."""
        loaded = self._require()
        if not loaded.speakers:
            return [Voice(id=loaded.name, name=loaded.name, languages=list(loaded.languages))]
        return [
            Voice(id=speaker, name=f"{speaker} ({loaded.name})", languages=list(loaded.languages))
            for speaker in loaded.speakers
        ]

    def synthesize(
        self, text: str, voice: VoiceChoice, options: SpeechOptions
    ) -> Iterator[PcmAudio]:
        """Yield one chunk per sentence as it is synthesized; checks come before any work."""
        loaded = self._require()
        speaker = self._speaker(loaded, voice, options)
        yield from self._sentences(loaded, text, speaker, options.speed)

    def check(self, voice: VoiceChoice, options: SpeechOptions) -> None:
        """The voice (speaker) and speed checks of ``synthesize``, without synthesizing."""
        self._speaker(self._require(), voice, options)

    def _speaker(self, loaded: _Loaded, voice: VoiceChoice, options: SpeechOptions) -> int | None:
        """The speaker id for ``voice`` (None for one-speaker voices); 400 if it has none."""
        requested = voice.speaker if voice.speaker is not None else voice.voice_id
        speaker = _speaker_id(loaded, requested)
        if speaker is None:
            known = ", ".join([loaded.name, *loaded.speakers][:20])
            raise InvalidRequestError(
                f"Voice `{requested}` is not one this Piper voice has (known: {known}).",
                param="voice",
            )
        if not MIN_SPEED <= options.speed <= MAX_SPEED:
            raise InvalidRequestError(
                f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {options.speed}.",
                param="speed",
            )
        return speaker if loaded.speakers else None  # one-speaker models take no speaker input

    def _sentences(
        self, loaded: _Loaded, text: str, speaker: int | None, speed: float
    ) -> Iterator[PcmAudio]:
        """Piper's ``synthesize`` with phonemization under ``_PHONEMIZE_LOCK``."""
        from piper import SynthesisConfig  # noqa: PLC0415 - imported by load() already

        cfg = self.config
        syn_config = SynthesisConfig(
            speaker_id=speaker,
            length_scale=length_for_speed(loaded.length_scale, speed, cfg.fixed_share),
            noise_scale=cfg.noise_scale,
            noise_w_scale=cfg.noise_w_scale,
        )
        piper_voice = loaded.voice
        with _PHONEMIZE_LOCK:
            sentences = piper_voice.phonemize(text)
        rate = piper_voice.config.sample_rate
        for phonemes in sentences:
            if not phonemes:
                continue
            ids = piper_voice.phonemes_to_ids(phonemes)
            result = piper_voice.phoneme_ids_to_audio(ids, syn_config)
            audio = result[0] if isinstance(result, tuple) else result
            yield PcmAudio(_normalized(audio), rate)

    def _require(self) -> _Loaded:
        if self._loaded is None:
            msg = "PiperEngine used before load()"
            raise RuntimeError(msg)
        return self._loaded


def length_for_speed(base: float, speed: float, fixed_share: float) -> float:
    """The ``length_scale`` that makes speech ``speed`` times faster than at ``base``.

    Duration is not proportional to ``length_scale``: each phoneme's frame count is rounded
    up, so short phonemes and pauses keep about one frame whatever the scale. Measured on
    en_US-joe-medium, duration ~ ``fixed_share + (1 - fixed_share) * scale / base`` with a
    share near 0.28 (plain ``base / speed`` gives 1.55x at speed 2.0 and 3.2x at 0.25);
    inverting that keeps speeds within about 10 % up to 2.0, where the floor is reached.
    """
    target = (1.0 / speed - fixed_share) / (1.0 - fixed_share)
    return base * max(target, MIN_LENGTH_FACTOR)


def _providers(use_cuda: bool, available: list[str]) -> list[Any]:
    """Piper's provider choice; CUDA must really be there, or onnxruntime would fall back."""
    if not use_cuda:
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in available:
        msg = "use_cuda is set but this onnxruntime has no CUDA: install onnxruntime-gpu"
        raise ValueError(msg)
    return [
        ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"}),
        "CPUExecutionProvider",
    ]


def _speaker_names(speaker_id_map: Any, num_speakers: int) -> dict[str, int]:
    """Named speakers of a multi-speaker voice; ids as names where the voice names none."""
    if num_speakers <= 1:
        return {}
    names = {str(name): int(sid) for name, sid in dict(speaker_id_map).items()}
    return names or {str(sid): sid for sid in range(num_speakers)}


def _speaker_id(loaded: _Loaded, requested: str | int) -> int | None:
    """The speaker id ``requested`` names (a voice name, speaker name or id), else ``None``."""
    if requested == loaded.name:
        return loaded.default_speaker if loaded.speakers else 0
    if isinstance(requested, str):
        if requested in loaded.speakers:
            return loaded.speakers[requested]
        if not requested.isdecimal():
            return None
        requested = int(requested)
    return requested if 0 <= requested < loaded.speaker_count else None


def _normalized(audio: NDArray[Any]) -> NDArray[np.float32]:
    """Peak-normalize and clip to [-1, 1], as piper's ``normalize_audio`` does."""
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    peak = float(np.abs(samples).max(initial=0.0))
    if peak < _SILENT_PEAK:
        return np.zeros_like(samples)
    clipped: NDArray[np.float32] = np.clip(samples / peak, -1.0, 1.0)
    return clipped
