"""``CoquiEngine``: a Coqui TTS model on PyTorch; XTTS streams, other models go by sentence."""

from __future__ import annotations

import dataclasses
import gc
import os
import sys
import textwrap
import threading
import time
from pathlib import Path
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
from voxgate_coqui.clips import clip_voices, read_clip, resolve_clip
from voxgate_coqui.config import CoquiConfig, CoquiVoice

if TYPE_CHECKING:
    from collections.abc import Iterator

    from numpy.typing import NDArray

    from voxgate import ComponentContext, SpeechOptions, VoiceChoice

log = structlog.get_logger("voxgate.coqui")

SENTENCE_PAUSE = 0.25
"""Seconds of silence between the sentences of one piece (Coqui pads each with ~0.45 s)."""

XTTS_CLIP_RATE = 22_050
"""The rate XTTS reads reference clips at (its ``load_sr``)."""

CHECKPOINT_NAMES = ("model.pth", "model_file.pth", "checkpoint.pth", "best_model.pth")
"""Checkpoint names looked for in a ``model_path`` directory, in order (Coqui's own, plus
``best_model.pth`` from its trainer)."""

_CACHED_CLONES = 64
_WARM_UP_TEXT = "Hello."
_PREFERRED_LANGUAGE = "en"


@dataclasses.dataclass(frozen=True)
class VoiceSpec:
    """What a voice means to the model: one of its speakers, or reference clips to clone."""

    speaker: str | None = None
    clips: tuple[Path, ...] = ()
    language: str | None = None


@dataclasses.dataclass(frozen=True)
class _Loaded:
    """Everything ``load()`` prepares, swapped in and out as one reference."""

    tts: Any  # TTS.api.TTS
    model: Any  # its synthesizer's tts_model
    name: str  # the instance: the one voice of a one-speaker model
    sample_rate: int
    languages: tuple[str, ...]  # empty for a model of one language
    language: str | None  # the default, None for a model of one language
    speakers: tuple[str, ...]  # the model's own speakers; empty for one-speaker models
    voices: dict[str, VoiceSpec]  # every voice offered, in listing order
    default_voice: str
    xtts: bool  # streams with ``inference_stream``, clones from latents
    cloning: bool
    clones: dict[tuple[Path, ...], tuple[Any, Any]] = dataclasses.field(default_factory=dict)


class CoquiEngine(TtsEngine[CoquiConfig]):
    """Kind ``coqui``: any Coqui TTS model (coqui-tts), by name or from local files.

    Voices: the named ``voices`` of the config, then the clips of ``speakers_dir`` (cloning
    models), then the model's own speakers; a one-speaker model offers one voice, named after
    the instance. A multi-speaker model also answers to the instance's name, with its
    ``default_voice``. ``VoiceChoice.speaker`` and ``speaker_wav`` (from a ``map_voice``
    plugin) override ``voice_id``.

    XTTS streams each sentence through ``inference_stream`` (a chunk every
    ``stream_chunk_size`` tokens), with conditioning latents computed once per voice; other
    models yield one chunk per sentence. Speed is the service's tempo filter: only XTTS
    could change it natively, and capabilities are per kind.
    """

    kind: ClassVar[str] = "coqui"
    capabilities: ClassVar[TtsCapabilities] = TtsCapabilities(
        native_speed=False, instructions=False, blends=False
    )

    def __init__(self, config: CoquiConfig, context: ComponentContext) -> None:
        super().__init__(config, context)
        self._loaded: _Loaded | None = None
        # One model call at a time: Coqui's models are not documented as thread-safe, and
        # concurrent calls on one CPU model only split the same cores.
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model on its device, check every configured voice, then warm it up."""
        import torch  # noqa: PLC0415 - heavy: only instances of this kind pay for it

        cfg = self.config
        started = time.perf_counter()
        device = _device(torch, cfg.device)
        tts = self._open()
        tts.to(device)
        model = tts.synthesizer.tts_model
        manager: Any = getattr(model, "speaker_manager", None)
        if device.startswith("cuda") and getattr(manager, "encoder", None) is not None:
            # The speaker encoder moved with the model; Coqui moves clips only on this flag.
            manager.use_cuda = True
        xtts = callable(getattr(model, "inference_stream", None))
        languages = _languages(model)
        loaded = _Loaded(
            tts=tts,
            model=model,
            name=self.context.instance,
            sample_rate=int(tts.synthesizer.output_sample_rate),
            languages=languages,
            language=_default_language(languages, cfg.language),
            speakers=_speakers(model),
            voices={},
            default_voice="",
            xtts=xtts,
            cloning=xtts or bool(tts.synthesizer.tts_config.supports_cloning),
        )
        voices = self._voices(loaded)
        default_voice = cfg.default_voice or next(iter(voices))
        if default_voice not in voices:
            msg = f"default_voice `{default_voice}` is not a voice of this model"
            raise ValueError(msg)
        loaded = dataclasses.replace(loaded, voices=voices, default_voice=default_voice)
        if xtts:
            for spec in voices.values():
                if spec.clips:
                    self._clone(loaded, spec.clips)
        loaded_at = time.perf_counter()
        for _ in self._stream(loaded, _WARM_UP_TEXT, voices[default_voice], loaded.language):
            pass
        self._loaded = loaded
        log.info(
            "coqui model loaded",
            instance=self.context.instance,
            model=cfg.model or cfg.model_path,
            architecture=type(model).__name__,
            device=device,
            sample_rate=loaded.sample_rate,
            voices=len(voices),
            languages=len(languages) or 1,
            streaming=xtts,
            load_seconds=round(loaded_at - started, 2),
            warm_up_seconds=round(time.perf_counter() - loaded_at, 2),
        )

    def _open(self) -> Any:
        """``TTS.api.TTS`` for a model name (Coqui's manager) or for files on disk."""
        from TTS.api import TTS  # noqa: PLC0415 - heavy: torch, transformers

        cfg = self.config
        if cfg.model is not None:
            from TTS.utils.manage import ModelManager  # noqa: PLC0415 - heavy

            tts = TTS(progress_bar=False)
            tts.manager = ModelManager(
                output_prefix=self.context.cache_dir / "coqui", progress_bar=False
            )
            check_model_name(tts.manager, cfg.model)
            tts.load_tts_model_by_name(cfg.model)
            return tts
        if cfg.model_path is None:  # CoquiConfig's own check requires one of the two
            msg = "set `model` (a Coqui model name) or `model_path` (a checkpoint)"
            raise ValueError(msg)
        checkpoint = find_checkpoint(self.context.model_path(cfg.model_path))
        if cfg.config_path is not None:
            config = self.context.model_path(cfg.config_path)
        else:
            config = checkpoint.with_name("config.json")
            if not config.is_file():
                msg = f"no `config.json` beside `{checkpoint}`: name it in `config_path`"
                raise FileNotFoundError(msg)
        return TTS(model_path=str(checkpoint), config_path=str(config), progress_bar=False)

    def _voices(self, loaded: _Loaded) -> dict[str, VoiceSpec]:
        """The voices to offer; any problem fails the load, naming the voice."""
        cfg = self.config
        speakers_dir = None if cfg.speakers_dir is None else Path(cfg.speakers_dir).expanduser()
        voices = {
            name: _configured(loaded, f"voices.{name}", entry, speakers_dir)
            for name, entry in cfg.voices.items()
        }
        if speakers_dir is not None:
            if not loaded.cloning:
                msg = f"speakers_dir is set, but this model ({type(loaded.model).__name__}) "
                raise ValueError(msg + "does not clone voices from clips")
            for name, clips in clip_voices(speakers_dir).items():
                _add(voices, name, VoiceSpec(clips=clips), f"clip voice in `{speakers_dir}`")
        for speaker in loaded.speakers:
            _add(voices, speaker, VoiceSpec(speaker=speaker), "speaker of the model")
        if not voices:
            if loaded.cloning:  # XTTS without its speakers file, YourTTS without clips
                msg = "this model only speaks with cloned voices: set speakers_dir or voices"
                raise ValueError(msg)
            voices[loaded.name] = VoiceSpec()
        return voices

    def unload(self) -> None:
        """Drop the model; CUDA memory goes back to the driver once nothing holds it."""
        self._loaded = None
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def voices(self) -> list[Voice]:
        """The default voice first, then the others in config, clip, speaker order."""
        loaded = self._require()
        listed = [
            Voice(id=name, name=_describe(name, spec), languages=_voice_languages(loaded, spec))
            for name, spec in loaded.voices.items()
        ]
        listed.sort(key=lambda voice: voice.id != loaded.default_voice)
        return listed

    def synthesize(
        self, text: str, voice: VoiceChoice, options: SpeechOptions
    ) -> Iterator[PcmAudio]:
        """Check voice and language first (a 400 before any audio), then stream."""
        loaded = self._require()
        spec = self._voice(loaded, voice)
        requested = voice.language or spec.language or options.language
        language = loaded.language
        if requested is not None and loaded.languages:
            language = _match_language(loaded.languages, requested)
            if language is None:
                raise InvalidRequestError(
                    f"Language `{requested}` is not one this model speaks ({_known(loaded)}).",
                    param="language",
                )
        if loaded.xtts and spec.clips:
            try:
                self._clone(loaded, spec.clips)
            except ValueError as error:
                raise InvalidRequestError(str(error), param="voice") from None
        yield from self._stream(loaded, text, spec, language)

    def _require(self) -> _Loaded:
        loaded = self._loaded
        if loaded is None:
            msg = "CoquiEngine used before load()"
            raise RuntimeError(msg)
        return loaded

    def _voice(self, loaded: _Loaded, choice: VoiceChoice) -> VoiceSpec:
        """The voice a request resolved to; a 400 naming ``voice`` for anything unknown."""
        if choice.speaker_wav:
            if not loaded.cloning:
                raise InvalidRequestError("This model does not clone voices.", param="voice")
            cfg = self.config
            speakers_dir = None if cfg.speakers_dir is None else Path(cfg.speakers_dir)
            try:
                clips = tuple(resolve_clip(clip, speakers_dir) for clip in choice.speaker_wav)
            except FileNotFoundError as error:
                raise InvalidRequestError(f"{error}.", param="voice") from None
            return VoiceSpec(clips=clips)
        if choice.speaker is not None:
            speaker = choice.speaker
            if isinstance(speaker, int) and 0 <= speaker < len(loaded.speakers):
                speaker = loaded.speakers[speaker]
            if speaker in loaded.speakers:
                return VoiceSpec(speaker=str(speaker))
            raise InvalidRequestError(
                f"Speaker `{speaker}` is not one of this model's ({_listed(loaded.speakers)}).",
                param="voice",
            )
        voice_id = choice.voice_id.strip()
        if voice_id in loaded.voices:
            return loaded.voices[voice_id]
        if voice_id in {loaded.name, ""}:
            return loaded.voices[loaded.default_voice]
        raise InvalidRequestError(
            f"Voice `{voice_id}` is not one of this model's ({_listed(list(loaded.voices))}).",
            param="voice",
        )

    def _clone(self, loaded: _Loaded, clips: tuple[Path, ...]) -> tuple[Any, Any]:
        """XTTS conditioning latents of ``clips``, computed once and kept.

        The voices' own clips stay for good; of the clip sets requests bring (``speaker_wav``
        from a ``map_voice`` plugin), the 64 latest are kept.
        """
        cached = loaded.clones.get(clips)
        if cached is not None:
            return cached
        with self._lock:
            latents = xtts_latents(loaded.model, clips)
        voices = {spec.clips for spec in loaded.voices.values()}
        extra = [key for key in loaded.clones if key not in voices]
        if len(extra) >= _CACHED_CLONES:
            loaded.clones.pop(extra[0], None)
        return loaded.clones.setdefault(clips, latents)

    def _stream(
        self, loaded: _Loaded, text: str, spec: VoiceSpec, language: str | None
    ) -> Iterator[PcmAudio]:
        """Sentence by sentence, a pause between them; nothing runs after ``close()``."""
        started = time.perf_counter()
        produced = 0.0
        sentences = self._sentences(loaded, text, language)
        try:
            for index, sentence in enumerate(sentences):
                if index:
                    yield PcmAudio(
                        np.zeros(round(SENTENCE_PAUSE * loaded.sample_rate), dtype=np.float32),
                        loaded.sample_rate,
                    )
                chunks = (
                    self._xtts_chunks(loaded, sentence, spec, language)
                    if loaded.xtts
                    else self._sentence(loaded, sentence, spec, language)
                )
                for samples in chunks:
                    chunk = PcmAudio(samples, loaded.sample_rate)
                    produced += chunk.duration
                    yield chunk
        finally:
            log.debug(
                "coqui synthesis ended",
                sentences=len(sentences),
                audio_seconds=round(produced, 2),
                seconds=round(time.perf_counter() - started, 2),
            )

    def _sentences(self, loaded: _Loaded, text: str, language: str | None) -> list[str]:
        """Coqui's own splitter (pySBD); XTTS's lines also fit its per-language limit."""
        synthesizer = loaded.tts.synthesizer
        key = language if language in synthesizer.segmenter else None
        if key is None and not synthesizer.segmenter:
            found = [text]
        else:
            found = synthesizer.split_into_sentences(text, key)
        sentences = [s.strip() for s in found if s.strip()]
        if not loaded.xtts:
            return sentences
        limit = loaded.model.tokenizer.char_limits.get((language or "").split("-")[0], 250)
        return [
            line
            for sentence in sentences
            for line in textwrap.wrap(sentence, width=limit, break_on_hyphens=False)
        ]

    def _sentence(
        self, loaded: _Loaded, sentence: str, spec: VoiceSpec, language: str | None
    ) -> Iterator[NDArray[np.float32]]:
        """One sentence through Coqui's ``Synthesizer`` (vocoder and speaker handling)."""
        with self._lock:
            wav = loaded.tts.synthesizer.tts(
                text=sentence,
                speaker_name=spec.speaker,
                language_name=language if loaded.languages else None,
                speaker_wav=[str(clip) for clip in spec.clips] or None,
                split_sentences=False,
            )
        # Coqui pads every sentence with exact zeros; the pause is ours (SENTENCE_PAUSE).
        yield _clean(np.trim_zeros(np.asarray(wav, dtype=np.float32), "b"))

    def _xtts_chunks(
        self, loaded: _Loaded, sentence: str, spec: VoiceSpec, language: str | None
    ) -> Iterator[NDArray[np.float32]]:
        """XTTS's ``inference_stream``, one model step under the lock per chunk."""
        model = loaded.model
        if spec.speaker is not None:
            entry = model.speaker_manager.speakers[spec.speaker]
            gpt_latent, embedding = entry["gpt_cond_latent"], entry["speaker_embedding"]
        else:
            gpt_latent, embedding = self._clone(loaded, spec.clips)
        config = model.config
        stream = model.inference_stream(
            sentence,
            language or _PREFERRED_LANGUAGE,
            gpt_latent,
            embedding,
            stream_chunk_size=self.config.stream_chunk_size,
            temperature=config.temperature,
            length_penalty=config.length_penalty,
            repetition_penalty=config.repetition_penalty,
            top_k=config.top_k,
            top_p=config.top_p,
            enable_text_splitting=False,
        )
        try:
            while True:
                with self._lock:
                    chunk = next(stream, None)
                if chunk is None:
                    return
                yield _clean(chunk.detach().cpu().numpy())
        finally:
            stream.close()


def check_model_name(manager: Any, name: str) -> None:
    """Fail early, and clearly, on names Coqui does not list or licences not yet accepted.

    Coqui's manager would raise a bare ``KeyError``, or ask on standard input whether the
    CPML is accepted: a server has no one there to answer.
    """
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "tts_models":  # noqa: PLR2004 - type/language/dataset/model
        msg = f"`{name}` is not a Coqui TTS model name (`tts_models/<language>/<dataset>/<model>`)"
        raise ValueError(msg)
    if "fairseq" in name:  # Meta's MMS voices: any ISO code, not listed
        return
    _, language, dataset, model = parts
    item = manager.models_dict.get("tts_models", {}).get(language, {}).get(dataset, {}).get(model)
    if item is None:
        msg = f"`{name}` is not in Coqui's model list (`tts --list_models` shows it)"
        raise ValueError(msg)
    agreed = manager.output_prefix / "--".join(parts) / "tos_agreed.txt"
    if (
        item.get("tos_required")
        and os.environ.get("COQUI_TOS_AGREED") != "1"
        and not agreed.is_file()
    ):
        msg = (
            f"`{name}` is under the Coqui Public Model License (non-commercial): set "
            "COQUI_TOS_AGREED=1 in the server's environment to accept it"
        )
        raise ValueError(msg)


def find_checkpoint(path: Path) -> Path:
    """The checkpoint file itself, or the one in a directory (``model.pth``, …, or its only)."""
    if path.is_file():
        return path
    if not path.is_dir():
        msg = f"model_path `{path}` does not exist"
        raise FileNotFoundError(msg)
    for name in CHECKPOINT_NAMES:
        if (path / name).is_file():
            return path / name
    found = sorted({*path.glob("*.pth"), *path.glob("*.pth.tar")})
    if len(found) == 1:
        return found[0]
    names = ", ".join(p.name for p in found) or "none"
    msg = f"`{path}` has no single checkpoint ({names}): name the file in model_path"
    raise FileNotFoundError(msg)


def xtts_latents(model: Any, clips: tuple[Path, ...]) -> tuple[Any, Any]:
    """XTTS's ``get_conditioning_latents``, with the clips decoded by PyAV (clips.py says why).

    The same steps and config keys: each clip cut to ``max_ref_len`` seconds, a speaker
    embedding per clip (averaged), GPT latents from the clips joined.
    """
    import torch  # noqa: PLC0415 - imported by load() already

    config = model.config
    audios = []
    embeddings = []
    for clip in clips:
        samples = read_clip(clip, XTTS_CLIP_RATE)[: XTTS_CLIP_RATE * int(config.max_ref_len)]
        if not len(samples):
            msg = f"reference clip `{clip}` holds no audio"
            raise ValueError(msg)
        audio = torch.from_numpy(np.ascontiguousarray(samples)).unsqueeze(0).to(model.device)
        if config.sound_norm_refs:
            audio = (audio / torch.abs(audio).max()) * 0.75
        embeddings.append(model.get_speaker_embedding(audio, XTTS_CLIP_RATE))
        audios.append(audio)
    try:
        gpt_latent = model.get_gpt_cond_latents(
            torch.cat(audios, dim=-1),
            XTTS_CLIP_RATE,
            length=config.gpt_cond_len,
            chunk_length=config.gpt_cond_chunk_len,
        )
    except RuntimeError as error:  # "Provided reference audio too short"
        names = ", ".join(f"`{clip.name}`" for clip in clips)
        raise ValueError(f"reference clip {names}: {error}") from error
    return gpt_latent, torch.stack(embeddings).mean(dim=0)


def _device(torch: Any, spec: str) -> str:
    """``auto`` → CUDA when PyTorch sees a GPU; anything else must be a device it has."""
    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError:
        msg = f"device `{spec}` is not a PyTorch device (auto, cpu, cuda, cuda:1, mps)"
        raise ValueError(msg) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        msg = f"device `{spec}`: this PyTorch sees no CUDA GPU (a CPU-only build, or no driver)"
        raise ValueError(msg)
    return str(device)


def _languages(model: Any) -> tuple[str, ...]:
    """The model's languages when it has several; one-language models need none."""
    manager = getattr(model, "language_manager", None)
    names = list(manager.language_names) if manager is not None else []
    if not names:
        names = list(getattr(model.config, "languages", None) or [])
    return tuple(names) if len(names) > 1 else ()


def _default_language(languages: tuple[str, ...], configured: str | None) -> str | None:
    """The configured language (checked), else English when the model has it, else its first."""
    if not languages:
        return None
    if configured is not None:
        found = _match_language(languages, configured)
        if found is None:
            msg = f"language `{configured}` is not one of the model's: {', '.join(languages)}"
            raise ValueError(msg)
        return found
    return _PREFERRED_LANGUAGE if _PREFERRED_LANGUAGE in languages else languages[0]


def _match_language(languages: tuple[str, ...], requested: str) -> str | None:
    """``de-DE`` → ``de``, ``zh`` → ``zh-cn``, ``pt_BR`` → ``pt``: the closest the model has."""
    code = requested.strip().lower().replace("_", "-")
    if code in languages:
        return code
    primary = code.split("-", 1)[0]
    if primary in languages:
        return primary
    return next((name for name in languages if name.split("-", 1)[0] == primary), None)


def _speakers(model: Any) -> tuple[str, ...]:
    """Named speakers (XTTS: those of ``speakers_xtts.pth``); empty for one speaker."""
    manager = getattr(model, "speaker_manager", None)
    if manager is None:
        return ()
    names = [str(name) for name in manager.speaker_names]
    return tuple(names) if len(names) > 1 else ()


def _configured(
    loaded: _Loaded, where: str, entry: CoquiVoice, speakers_dir: Path | None
) -> VoiceSpec:
    """A ``[tts.<name>.voices.<voice>]`` table, checked against the loaded model."""
    language = None  # a model of one language speaks it whatever the voice says
    if entry.language is not None and loaded.languages:
        language = _match_language(loaded.languages, entry.language)
        if language is None:
            msg = f"{where}: language `{entry.language}` is not one of {_known(loaded)}"
            raise ValueError(msg)
    if entry.speaker is not None:
        if entry.speaker not in loaded.speakers:
            msg = f"{where}: speaker `{entry.speaker}` is not one of the model's"
            raise ValueError(f"{msg} ({_listed(loaded.speakers)})")
        return VoiceSpec(speaker=entry.speaker, language=language)
    if not loaded.cloning:
        msg = f"{where}: this model does not clone voices, so `speaker_wav` cannot work"
        raise ValueError(msg)
    try:
        clips = tuple(resolve_clip(clip, speakers_dir) for clip in entry.clips)
    except FileNotFoundError as error:
        raise ValueError(f"{where}: {error}") from error
    return VoiceSpec(clips=clips, language=language)


def _add(voices: dict[str, VoiceSpec], name: str, spec: VoiceSpec, what: str) -> None:
    """Add a voice; a name already taken fails the load (which one would a request mean?)."""
    if name in voices:
        msg = f"`{name}` is both a configured voice and a {what}: rename one"
        raise ValueError(msg)
    voices[name] = spec


def _describe(name: str, spec: VoiceSpec) -> str:
    """``alice (clone of alice.wav)``, ``narrator (speaker p225)``, or just the name."""
    if spec.speaker is not None and spec.speaker != name:
        return f"{name} (speaker {spec.speaker})"
    if spec.clips:
        return f"{name} (clone of {', '.join(clip.name for clip in spec.clips)})"
    return name


def _voice_languages(loaded: _Loaded, spec: VoiceSpec) -> list[str]:
    language = spec.language or loaded.language
    return [language] if language else []


def _known(loaded: _Loaded) -> str:
    return ", ".join(loaded.languages) or "a model of one language"


def _listed(names: Any) -> str:
    names = list(names)
    more = f", … {len(names) - 20} more" if len(names) > 20 else ""  # noqa: PLR2004
    return ", ".join(names[:20]) + more if names else "none"


def _clean(audio: Any) -> NDArray[np.float32]:
    """Finite float32 in [-1, 1], flat."""
    samples = np.nan_to_num(np.asarray(audio, dtype=np.float32).ravel(), posinf=0.0, neginf=0.0)
    clipped: NDArray[np.float32] = np.clip(samples, -1.0, 1.0)
    return clipped
