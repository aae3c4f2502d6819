"""Two ``voxgate serve`` replicas behind HAProxy, sharing a real ``redis-server``.

Everything is a real process on loopback, started here: Redis and HAProxy from their Debian
packages (``apt-get install -y redis-server haproxy``), the replicas on the fake engines (the
multi-replica behaviour does not depend on the engine) and the fake chat upstream. HAProxy's
config is the one docs/self-hosting/scaling.md shows: round-robin, ``/ready`` health checks,
retries of requests whose connection failed.
"""

from __future__ import annotations

import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import httpx
import pytest
from system_servers import HAProxy, Redis

from tests.api.test_chat import audio_message, wav_bytes
from tests.contract.conftest import start_server, stop_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from fake_upstream import FakeUpstream

    from tests.contract.conftest import Server

REPLICA_TOML = """
[transcoder]
kind = "wav"

[stt.fake-stt]
kind = "fake-stt"
texts = ["What is the weather like today?"]

[tts.tone]
kind = "fake-tts"

[chat.upstream]
kind = "openai"
base_url = "{upstream}"
retries = 0

[models]
"whisper-1" = "fake-stt"
"tts-1" = {{ tts = "tone" }}

[state]
url = "{redis}"
timeout = 0.5
max_backoff = 0.5
"""
SPOKEN = {"modalities": ["text", "audio"], "audio": {"voice": "tone", "format": "wav"}}
HELLO = [{"role": "user", "content": "Hi"}]


def speech(voice: str) -> dict[str, str]:
    return {"model": "tts-1", "input": "Hello there.", "voice": voice, "response_format": "wav"}


class Cluster:
    """Redis, two replicas and HAProxy in front of them."""

    def __init__(self, redis: Redis, replicas: list[Server], haproxy: HAProxy) -> None:
        self.redis = redis
        self.replicas = replicas
        self.haproxy = haproxy

    def client(self, base_url: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=base_url or self.haproxy.url, timeout=30)


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    subprocess_env: dict[str, str],
    upstream_server: FakeUpstream,
) -> Iterator[Cluster]:
    workdir: Path = tmp_path_factory.mktemp("scale-out")
    redis = Redis(workdir).start()
    toml = REPLICA_TOML.format(upstream=upstream_server.url, redis=redis.url)
    replicas: list[Server] = []
    haproxy = None
    try:
        replicas = [start_server(workdir, subprocess_env, toml) for _ in range(2)]
        haproxy = HAProxy(workdir, [r.base_url.removeprefix("http://") for r in replicas])
        haproxy.start()
        cluster = Cluster(redis, replicas, haproxy)
        _until(lambda: _both_in_rotation(cluster), "HAProxy sends to both replicas")
        yield cluster
    finally:
        if haproxy is not None:
            haproxy.stop()
        for replica in replicas:
            if replica.process.poll() is None:
                stop_server(replica)
        redis.stop()


def _until(check, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def _both_in_rotation(cluster: Cluster) -> bool:
    """Round-robin: four answers in a row come from both replicas, all ready."""
    with cluster.client() as http:
        return all(http.get("/ready").status_code == 200 for _ in range(4))


def _stt_seconds(server: Server) -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    found = re.search(
        r'voxgate_audio_seconds_total\{direction="in",instance="fake-stt"\} (\S+)', text
    )
    return float(found.group(1)) if found else 0.0


def test_a_voice_remapped_through_one_replica_speaks_on_the_other(cluster: Cluster) -> None:
    one, two = cluster.replicas
    with cluster.client(one.base_url) as first, cluster.client(two.base_url) as second:
        assert second.post("/v1/audio/speech", json=speech("oak")).status_code == 400
        edit = {"instance": "tone", "voice": "oak", "engine_voice": "low"}
        assert first.put("/v1/audio/voices/mapping", json=edit).status_code == 200
        started = time.monotonic()
        _until(
            lambda: second.post("/v1/audio/speech", json=speech("oak")).status_code == 200,
            "the remap reaches the other replica",
            timeout=1.0,
        )
        assert time.monotonic() - started < 1.0
        low = second.post("/v1/audio/speech", json=speech("low")).content
        assert second.post("/v1/audio/speech", json=speech("oak")).content == low


def test_a_chat_audio_id_from_one_replica_is_resolved_by_the_other(
    cluster: Cluster, upstream_server: FakeUpstream
) -> None:
    upstream_server.reset()
    one, two = cluster.replicas
    with cluster.client(one.base_url) as first, cluster.client(two.base_url) as second:
        reply = first.post("/v1/chat/completions", json={"model": "m", "messages": HELLO, **SPOKEN})
        assert reply.status_code == 200, reply.text
        audio = reply.json()["choices"][0]["message"]["audio"]
        earlier = [*HELLO, {"role": "assistant", "audio": {"id": audio["id"]}}]
        answer = second.post("/v1/chat/completions", json={"model": "m", "messages": earlier})
        assert answer.status_code == 200, answer.text
    assert upstream_server.last["messages"][1] == {
        "role": "assistant",
        "content": audio["transcript"],
    }


def test_a_transcript_cached_by_one_replica_is_used_by_the_other(cluster: Cluster) -> None:
    one, two = cluster.replicas
    clip = wav_bytes(1.0, pitch=277.0)  # a clip no other test sends
    heard = {"model": "m", "messages": [audio_message(clip)]}
    with cluster.client(one.base_url) as first, cluster.client(two.base_url) as second:
        assert first.post("/v1/chat/completions", json=heard).status_code == 200
        before = _stt_seconds(two)
        assert second.post("/v1/chat/completions", json=heard).status_code == 200
    assert _stt_seconds(one) > 0
    assert _stt_seconds(two) == before, "the second replica transcribed nothing"


def test_without_redis_only_shared_state_routes_fail_and_they_recover(cluster: Cluster) -> None:
    edit = {"instance": "tone", "voice": "ash", "engine_voice": "tone"}
    cluster.redis.stop()
    try:
        with cluster.client() as http:
            for _ in range(4):  # round-robin: both replicas
                refused = http.put("/v1/audio/voices/mapping", json=edit)
                assert refused.status_code == 503, refused.text
                assert refused.json()["error"]["code"] == "state_unavailable"
                chat = http.post(
                    "/v1/chat/completions", json={"model": "m", "messages": HELLO, **SPOKEN}
                )
                assert chat.status_code == 503
                assert http.post("/v1/audio/speech", json=speech("tone")).status_code == 200
                text = http.post("/v1/chat/completions", json={"model": "m", "messages": HELLO})
                assert text.status_code == 200
                ready = http.get("/ready")
                assert ready.status_code == 200
                assert ready.json()["status"] == "degraded"
    finally:
        cluster.redis.start()
    with cluster.client() as http:
        _until(
            lambda: all(
                http.put("/v1/audio/voices/mapping", json=edit).status_code == 200 for _ in range(2)
            ),
            "both replicas reconnect",
        )
        assert all(http.get("/ready").json()["status"] == "ready" for _ in range(2))


def test_a_replica_killed_mid_run_fails_over_with_no_failed_new_requests(
    cluster: Cluster,
) -> None:
    victim = cluster.replicas[1]
    killed_at: list[float] = []

    def one_request(index: int) -> tuple[float, int]:
        started = time.monotonic()
        with cluster.client() as http:
            try:
                status = http.post("/v1/audio/speech", json=speech("tone")).status_code
            except httpx.HTTPError:
                status = 0
        if index == 20:
            victim.process.send_signal(signal.SIGKILL)
            killed_at.append(time.monotonic())
        return started, status

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one_request, range(60)))
    assert killed_at, "the replica was killed during the run"
    after = [status for started, status in results if started > killed_at[0]]
    assert len(after) >= 20
    assert after == [200] * len(after), "every request started after the kill succeeded"
    assert [status for _, status in results].count(200) >= 56
