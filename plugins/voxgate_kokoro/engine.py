"""``KokoroEngine``: Kokoro-82M on onnxruntime through kokoro-onnx, with voice blends."""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field
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
from voxgate_kokoro.chunking import batches
from voxgate_kokoro.config import KokoroConfig
from voxgate_kokoro.files import find_files, load_styles
from voxgate_kokoro.voices import (
    BLEND_SYNTAX,
    Blend,
    BlendError,
    check_voices,
    describe,
    display_name,
    is_expression,
    is_voice_name,
    mix,
    normalize,
    parse_blend,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from numpy.typing import NDArray

    from voxgate import ComponentContext, SpeechOptions, VoiceChoice

log = structlog.get_logger("voxgate.kokoro")

MIN_SPEED = 0.5
MAX_SPEED = 2.0
"""The speeds kokoro-onnx accepts (it refuses anything else)."""

_CACHED_MIXES = 64


@dataclass(frozen=True)
class _Loaded:
    """Everything ``load()`` builds, swapped in and out as one reference (thread safety)."""

    kokoro: Any  # kokoro_onnx.Kokoro
    styles: dict[str, NDArray[np.float32]]  # the voices file's voices
    named: dict[str, Blend]  # the config's named blends
    mixes: dict[str, NDArray[np.float32]]  # the named blends, mixed
    default_voice: str
    languages: frozenset[str]  # what espeak-ng can phonemize
    cache: dict[Blend, NDArray[np.float32]] = field(default_factory=dict)  # request blends


class KokoroEngine(TtsEngine[KokoroConfig]):
    """Kind ``kokoro``: Kokoro-82M voices (``jf_alpha``…) and blends of them.

    A voice is a name from the voices file, a named blend from the config, or a blend
    written in the request: ``jf_alpha(2)+jm_kumo(1)`` (weights in parentheses, default 1,
    normalized to sum to 1; Kokoro-FastAPI's syntax). ``VoiceChoice.blend`` is used as is.

    Text is phonemized by espeak-ng in ``VoiceChoice.language``, else the request's
    ``language``, else the config's. ``speed`` is native, from 0.5 to 2.0 (what kokoro-onnx
    accepts); anything else is a 400 naming ``speed``. Each chunk is one sentence, or short
    ones packed together, so streams start early and stop after the chunk in progress.
    """

    kind: ClassVar[str] = "kokoro"
    capabilities: ClassVar[TtsCapabilities] = TtsCapabilities(
        native_speed=True, min_speed=0.5, max_speed=2.0, instructions=False, blends=True
    )

    def __init__(self, config: KokoroConfig, context: ComponentContext) -> None:
        super().__init__(config, context)
        self._loaded: _Loaded | None = None
        self._cache_lock = threading.Lock()

    def load(self) -> None:
        """Find the files, check the blends and language, then build the ONNX session."""
        import kokoro_onnx  # noqa: PLC0415 - heavy: onnxruntime, phonemizer
        import onnxruntime  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy
        from kokoro_onnx.session import resolve_providers  # noqa: PLC0415 - heavy
        from kokoro_onnx.tokenizer import Tokenizer  # noqa: PLC0415 - heavy
        from phonemizer.backend import (  # type: ignore[import-untyped]  # noqa: PLC0415
            EspeakBackend,
        )

        started = time.perf_counter()
        cfg = self.config
        files = find_files(
            self.context.model_path(cfg.model),
            None if cfg.voices is None else self.context.model_path(cfg.voices),
        )
        styles = load_styles(files.voices)
        named = _named_blends(cfg.blends, styles)
        default_voice = cfg.default_voice or min(styles)
        if default_voice not in styles and default_voice not in named:
            msg = f"default_voice `{default_voice}` is neither a voice nor a named blend"
            raise ValueError(msg)
        # kokoro-onnx's tokenizer points phonemizer at its bundled espeak-ng: made first, it
        # lets a language espeak-ng lacks fail the load before the model is read.
        Tokenizer()
        languages = frozenset(EspeakBackend.supported_languages())
        if cfg.language not in languages:
            msg = f"language `{cfg.language}` is not one espeak-ng knows (e.g. en-us, en-gb, fr-fr)"
            raise ValueError(msg)

        options = onnxruntime.SessionOptions()
        if cfg.threads:
            options.intra_op_num_threads = cfg.threads
        session = onnxruntime.InferenceSession(
            str(files.model), sess_options=options, providers=resolve_providers()
        )
        vocab = None if files.vocab is None else str(files.vocab)
        kokoro = kokoro_onnx.Kokoro.from_session(session, str(files.voices), vocab_config=vocab)
        # Styles are handed over as arrays, so kokoro-onnx never reads its own lazy archive.
        kokoro.voices.close()
        self._loaded = _Loaded(
            kokoro=kokoro,
            styles=styles,
            named=named,
            mixes={name: mix(styles, blend) for name, blend in named.items()},
            default_voice=default_voice,
            languages=languages,
        )
        log.info(
            "kokoro model loaded",
            instance=self.context.instance,
            model=str(files.model),
            voices=len(styles),
            blends=len(named),
            providers=session.get_providers(),
            threads=cfg.threads,
            seconds=round(time.perf_counter() - started, 2),
        )

    def unload(self) -> None:
        """Drop the session and voices; a stream still running keeps its own references."""
        self._loaded = None
        gc.collect()

    def voices(self) -> list[Voice]:
        """The default voice first, then the file's voices, then the named blends."""
        loaded = self._require()
        language = self.config.language
        listed = [
            Voice(id=name, name=display_name(name), languages=[language])
            for name in sorted(loaded.styles)
        ] + [
            Voice(id=name, name=f"{name} ({describe(blend)})", languages=[language])
            for name, blend in sorted(loaded.named.items())
        ]
        listed.sort(key=lambda voice: voice.id != loaded.default_voice)
        return listed

    def synthesize(
        self, text: str, voice: VoiceChoice, options: SpeechOptions
    ) -> Iterator[PcmAudio]:
        """Check voice, speed and language first (a 400 before any audio), then stream."""
        loaded, style, language = self._prepare(voice, options)
        yield from _stream(loaded, text, style, options.speed, language)

    def check(self, voice: VoiceChoice, options: SpeechOptions) -> None:
        """Voice, speed and language as ``synthesize`` checks them, without synthesizing."""
        self._prepare(voice, options)

    def _prepare(
        self, voice: VoiceChoice, options: SpeechOptions
    ) -> tuple[_Loaded, NDArray[np.float32], str]:
        """The loaded model, style stack and language for a request; 400 for what is wrong."""
        loaded = self._require()
        style = self._style(loaded, voice)
        if not MIN_SPEED <= options.speed <= MAX_SPEED:
            raise InvalidRequestError(
                f"Kokoro speaks at speeds from {MIN_SPEED} to {MAX_SPEED}, not {options.speed}.",
                param="speed",
            )
        return loaded, style, self._language(loaded, voice.language or options.language)

    def _require(self) -> _Loaded:
        loaded = self._loaded
        if loaded is None:
            msg = "KokoroEngine used before load()"
            raise RuntimeError(msg)
        return loaded

    def _style(self, loaded: _Loaded, voice: VoiceChoice) -> NDArray[np.float32]:
        """The style stack for a voice name, a named blend or a blend; 400 for anything else."""
        try:
            if voice.blend:
                blend = normalize(voice.blend)
            else:
                spec = voice.voice_id.strip() or loaded.default_voice
                if spec in loaded.styles:
                    return loaded.styles[spec]
                if spec in loaded.mixes:
                    return loaded.mixes[spec]
                if not is_expression(spec):
                    known = sorted({*loaded.styles, *loaded.named})
                    msg = f"Voice `{spec}` is not one of this engine's: {', '.join(known)}."
                    raise InvalidRequestError(msg, param="voice")
                blend = parse_blend(spec)
            check_voices(blend, loaded.styles)
        except BlendError as error:
            raise InvalidRequestError(f"Invalid voice blend: {error}.", param="voice") from None
        return self._mixed(loaded, blend)

    def _mixed(self, loaded: _Loaded, blend: Blend) -> NDArray[np.float32]:
        """Blends are mixed once; the cache is small and shared by the worker threads."""
        cache = loaded.cache
        with self._cache_lock:
            cached = cache.get(blend)
        if cached is not None:
            return cached
        mixed = mix(loaded.styles, blend)
        with self._cache_lock:
            if len(cache) >= _CACHED_MIXES:
                cache.pop(next(iter(cache)))
            return cache.setdefault(blend, mixed)

    def _language(self, loaded: _Loaded, requested: str | None) -> str:
        """An espeak-ng language: ``en`` is the configured ``en-us``, ``ja-JP`` is ``ja``."""
        configured = self.config.language
        if requested is None:
            return configured
        code = requested.strip().lower().replace("_", "-")
        primary = code.split("-", 1)[0]
        if code in loaded.languages:
            return code
        if primary == configured.split("-", 1)[0]:
            return configured
        for candidate in (primary, f"{primary}-{primary}"):  # espeak-ng says `ja`, `fr-fr`
            if candidate in loaded.languages:
                return candidate
        raise InvalidRequestError(
            f"Language `{requested}` is not one espeak-ng can phonemize for Kokoro.",
            param="language",
        )


def _named_blends(
    blends: dict[str, str], styles: dict[str, NDArray[np.float32]]
) -> dict[str, Blend]:
    """Parse and check the config's blends; any problem fails the load, naming the blend."""
    named: dict[str, Blend] = {}
    for name, expression in blends.items():
        problem = None
        if not is_voice_name(name):
            problem = "a blend's name is letters, digits, `_`, `-` and `.`"
        elif name in styles:
            problem = "the voices file already has a voice of that name"
        else:
            try:
                named[name] = parse_blend(expression)
                check_voices(named[name], styles)
            except BlendError as error:
                problem = f"{error} ({BLEND_SYNTAX})"
        if problem is not None:
            msg = f"blends.{name} = `{expression}`: {problem}"
            raise ValueError(msg)
    return named


def _stream(
    loaded: _Loaded, text: str, style: NDArray[np.float32], speed: float, language: str
) -> Iterator[PcmAudio]:
    """Phonemize once, then one model call per batch; nothing runs after ``close()``."""
    kokoro = loaded.kokoro
    started = time.perf_counter()
    produced = 0.0
    count = 0
    try:
        phonemes: str = kokoro.tokenizer.phonemize(text, language)
        for phonemes_batch, pause in batches(phonemes):
            audio, rate = kokoro.create(
                phonemes_batch, style, speed=speed, lang=language, is_phonemes=True
            )
            chunk = PcmAudio(_clean(audio, round(pause * rate)), int(rate))
            produced += chunk.duration
            count += 1
            yield chunk
    finally:
        log.debug(
            "kokoro synthesis ended",
            chunks=count,
            audio_seconds=round(produced, 2),
            seconds=round(time.perf_counter() - started, 2),
        )


def _clean(audio: Any, pause_samples: int) -> NDArray[np.float32]:
    """Finite float32 in [-1, 1], with the pause the punctuation asks for appended."""
    samples = np.nan_to_num(np.asarray(audio, dtype=np.float32).ravel(), posinf=0.0, neginf=0.0)
    np.clip(samples, -1.0, 1.0, out=samples)
    if pause_samples > 0:
        samples = np.concatenate([samples, np.zeros(pause_samples, dtype=np.float32)])
    return samples
