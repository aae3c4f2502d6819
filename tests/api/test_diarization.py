"""``gpt-4o-transcribe-diarize`` through the official SDK, on the fake STT engine and diarizer.

The fake STT engine says "Hello from the fake engine." once a second (five words, 0.2 s
each); the fake diarizer changes speaker every 1.5 s. So the second segment is split at a
word by a speaker change, and speakers are named ``A``, ``B`` in order of appearance.
"""

from __future__ import annotations

import base64

import openai
import pytest

from tests.conftest import FAKE_TOML
from voxgate.testing import app_client, openai_client
from voxgate.testing.fakes import FakeDiarizer, tone, wav_bytes

AUDIO = wav_bytes(tone(3.0, 16_000))
DIARIZE = "gpt-4o-transcribe-diarize"
TOML = (
    FAKE_TOML
    + f'"{DIARIZE}" = {{ stt = "fake-stt", diarize = "fake" }}\n'
    + '\n[diarize.fake]\nkind = "fake-diarize"\n'
)
SENTENCE = "Hello from the fake engine."
EXPECTED = [
    ("A", 0.0, 1.0, SENTENCE),
    ("A", 1.0, 1.4, "Hello from"),
    ("B", 1.4, 2.0, "the fake engine."),
    ("B", 2.0, 3.0, SENTENCE),
]


def clip(seconds: float) -> str:
    """A reference clip as the SDK's users send it: a WAV data URL."""
    return "data:audio/wav;base64," + base64.b64encode(wav_bytes(tone(seconds, 16_000))).decode()


@pytest.fixture
def sdk(plugins):
    return lambda toml=TOML: openai_client(toml, plugins)


async def test_diarized_json_splits_segments_at_a_speaker_change_between_words(sdk):
    async with sdk() as client:
        result = await client.audio.transcriptions.create(
            model=DIARIZE, file=AUDIO, response_format="diarized_json"
        )
    assert type(result).__name__ == "TranscriptionDiarized"
    assert result.task == "transcribe"
    assert result.duration == pytest.approx(3.0)
    assert result.text == " ".join([SENTENCE] * 3)
    got = [(s.speaker, s.start, s.end, s.text) for s in result.segments]
    assert got == [(who, pytest.approx(a), pytest.approx(b), t) for who, a, b, t in EXPECTED]
    assert [s.id for s in result.segments] == ["seg_0", "seg_1", "seg_2", "seg_3"]
    assert {s.type for s in result.segments} == {"transcript.text.segment"}
    assert result.usage is not None
    assert result.usage.type == "duration"


async def test_the_diarizer_hears_the_whole_upload_in_small_blocks(sdk):
    async with sdk() as client:
        await client.audio.transcriptions.create(
            model=DIARIZE, file=AUDIO, response_format="diarized_json"
        )
    assert FakeDiarizer.fed_samples == 3 * 16_000
    assert FakeDiarizer.largest_block <= 16_000, "fed as the engine reads, never whole"


async def test_streamed_segments_come_after_the_deltas_and_before_done(sdk):
    async with sdk() as client:
        stream = await client.audio.transcriptions.create(
            model=DIARIZE, file=AUDIO, response_format="diarized_json", stream=True
        )
        events = [event async for event in stream]
    types = [event.type for event in events]
    assert types == ["transcript.text.delta"] * 3 + ["transcript.text.segment"] * 4 + [
        "transcript.text.done"
    ]
    segments = [e for e in events if e.type == "transcript.text.segment"]
    assert [(s.speaker, s.text) for s in segments] == [(w, t) for w, _, _, t in EXPECTED]
    assert events[-1].text == "".join(e.delta for e in events if e.type == "transcript.text.delta")


@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_json_and_text_answer_plain_text_without_diarizing(sdk, fmt):
    async with sdk() as client:
        result = await client.audio.transcriptions.create(
            model=DIARIZE, file=AUDIO, response_format=fmt
        )
    text = result if isinstance(result, str) else result.text
    assert text.strip() == " ".join([SENTENCE] * 3)
    assert FakeDiarizer.fed_samples == 0


async def test_known_speakers_name_the_speakers_they_match(sdk):
    async with sdk() as client:
        result = await client.audio.transcriptions.create(
            model=DIARIZE,
            file=AUDIO,
            response_format="diarized_json",
            known_speaker_names=["Ann"],
            known_speaker_references=[clip(3.0)],
        )
    assert [s.speaker for s in result.segments] == ["Ann", "Ann", "A", "A"]
    options = FakeDiarizer.last_options
    assert options is not None
    assert [k.name for k in options.known_speakers] == ["Ann"]
    assert options.known_speakers[0].audio.duration == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"prompt": "Names: Ann, Bob."}, "prompt"),
        ({"timestamp_granularities": ["segment"]}, "timestamp_granularities"),
        ({"include": ["logprobs"]}, "include"),
        ({"response_format": "srt"}, "response_format"),
        ({"response_format": "vtt"}, "response_format"),
        ({"response_format": "verbose_json"}, "response_format"),
        ({"known_speaker_names": ["A", "B", "C", "D", "E"]}, "known_speaker_names"),
        (
            {"known_speaker_names": ["Ann", "Bob"], "known_speaker_references": [clip(3.0)]},
            "known_speaker_references",
        ),
        (
            {"known_speaker_names": ["Ann", "Ann"], "known_speaker_references": [clip(3)] * 2},
            "known_speaker_names",
        ),
        (
            {"known_speaker_names": ["Ann"], "known_speaker_references": ["https://x/a.wav"]},
            "known_speaker_references",
        ),
        (
            {
                "known_speaker_names": ["Ann"],
                "known_speaker_references": ["data:audio/wav;base64,%%"],
            },
            "known_speaker_references",
        ),
        (
            {"known_speaker_names": ["Ann"], "known_speaker_references": [clip(1.0)]},
            "known_speaker_references",
        ),
        (
            {"known_speaker_names": ["Ann"], "known_speaker_references": [clip(11.0)]},
            "known_speaker_references",
        ),
        (
            {
                "known_speaker_names": ["Ann"],
                "known_speaker_references": [
                    "data:audio/wav;base64," + base64.b64encode(b"no").decode()
                ],
            },
            "known_speaker_references",
        ),
    ],
)
async def test_what_the_diarize_model_refuses_is_a_400_naming_the_param(sdk, kwargs, param):
    async with sdk() as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.audio.transcriptions.create(
                **{"model": DIARIZE, "file": AUDIO, "response_format": "diarized_json", **kwargs}
            )
    body = info.value.body
    assert body["type"] == "invalid_request_error"
    assert body["param"] == param
    assert body["message"]
    assert FakeDiarizer.fed_samples == 0


async def test_known_speakers_are_ignored_by_models_without_a_diarizer(sdk):
    async with sdk() as client:
        result = await client.audio.transcriptions.create(
            model="whisper-1",
            file=AUDIO,
            known_speaker_names=["Ann"],
            known_speaker_references=["not even a data url"],
        )
    assert result.text


async def test_a_diarizer_that_cannot_load_says_why_with_a_503(plugins):
    toml = TOML + 'unavailable = "Speaker diarization is not installed."\n'
    async with openai_client(toml, plugins) as client:
        with pytest.raises(openai.InternalServerError) as info:
            await client.audio.transcriptions.create(
                model=DIARIZE, file=AUDIO, response_format="diarized_json"
            )
    assert info.value.status_code == 503
    assert info.value.body["message"] == "Speaker diarization is not installed."
    assert info.value.body["code"] == "service_unavailable"


async def test_diarizers_are_no_model_ids(plugins):
    async with app_client(TOML, plugins) as http:
        ids = [m["id"] for m in (await http.get("/v1/models")).json()["data"]]
        missing = await http.get("/v1/models/fake")
    assert DIARIZE in ids
    assert "fake" not in ids
    assert missing.status_code == 404
