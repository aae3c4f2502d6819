"""Property tests of the parsers and renderers that read or write what clients send and get.

Hypothesis generates the input; each test states what must hold for all of it (no exception
but the documented one, nothing lost, nothing malformed). CI runs a bounded number of
examples (the ``ci`` profile below); ``HYPOTHESIS_PROFILE=long`` runs many more.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import string

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxgate.api.multipart import read_multipart
from voxgate.engines.base import Segment
from voxgate.errors import InvalidRequestError
from voxgate.services.sentences import pieces
from voxgate.services.speech import speakable_pieces
from voxgate.services.subtitles import to_srt, to_vtt
from voxgate.wire.forms import normalize_form
from voxgate.wire.realtime import decode_client_event
from voxgate_voices.settings import (
    MAX_ENGINE_VOICE,
    MAX_VOICE_NAME,
    MAX_VOICES_PER_INSTANCE,
    read_mapping_file,
    validate_mapping,
    write_mapping_file,
)

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("long", max_examples=5_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _squashed(text: str) -> str:
    return "".join(text.split())


# -- the sentence splitter ------------------------------------------------------------------------


@given(st.text())
def test_pieces_keep_every_character_and_are_never_empty(text):
    found = pieces(text)
    assert all(piece.strip() for piece in found)
    assert _squashed("".join(found)) == _squashed(text)


@given(st.text())
def test_speakable_pieces_each_have_a_word_and_no_control_character(text):
    for piece in speakable_pieces(text):
        assert any(character.isalnum() for character in piece)
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", piece)


# -- the realtime event decoder -----------------------------------------------------------------


@given(st.text() | st.binary() | JSON.map(json.dumps))
def test_a_client_frame_decodes_or_raises_a_decode_or_validation_error(frame):
    with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
        decode_client_event(frame)


@given(st.sampled_from(["session.update", "response.create", "input_audio_buffer.append"]), JSON)
def test_events_with_any_fields_decode_or_raise_a_validation_error(kind, fields):
    frame = json.dumps({**(fields if isinstance(fields, dict) else {}), "type": kind})
    with contextlib.suppress(msgspec.ValidationError):
        decode_client_event(frame)


# -- multipart fields ---------------------------------------------------------------------------

FIELD_NAME = st.text(string.ascii_letters + string.digits + "_[]", min_size=1, max_size=12)
FIELD_VALUE = st.text() | st.lists(st.text(), min_size=1, max_size=3)


@given(st.dictionaries(FIELD_NAME, FIELD_VALUE, max_size=6))
def test_form_fields_normalize_or_raise_a_400(fields):
    out: dict = {}
    with contextlib.suppress(InvalidRequestError):  # a 400 with its message
        out = normalize_form(fields, list_fields=["include"], object_fields=["chunking_strategy"])
    for value in out.values():
        assert isinstance(value, str | list | dict)


class _Request:
    """What ``read_multipart`` reads: the content type, the body stream and the scope."""

    def __init__(self, body: bytes, boundary: str) -> None:
        self.content_type = ("multipart/form-data", {"boundary": boundary})
        self.scope: dict = {"state": {}}
        self._body = body

    async def stream(self):
        for start in range(0, len(self._body), 7):  # small chunks: parts split anywhere
            yield self._body[start : start + 7]
        yield b""


TEXT_PART = st.text(st.characters(codec="utf-8", exclude_characters="\r"), max_size=20)


@given(
    st.lists(
        st.tuples(st.text(string.ascii_lowercase, min_size=1, max_size=8), TEXT_PART), max_size=5
    ),
    st.binary(max_size=64),
)
def test_multipart_parts_come_back_as_sent(texts, audio):
    boundary = "b0undary-x"
    body = b""
    for name, value in texts:
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        body += value.encode() + b"\r\n"
    body += f'--{boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\n'.encode()
    body += audio + f"\r\n--{boundary}--\r\n".encode()
    fields = asyncio.run(
        read_multipart(_Request(body, boundary), file_fields=["file"], part_limit=100)  # type: ignore[arg-type]
    )
    (upload,) = fields.pop("file")
    assert asyncio.run(upload.read()) == audio
    asyncio.run(upload.close())
    expected: dict[str, list[str]] = {}
    for name, value in texts:
        if name != "file":
            expected.setdefault(name, []).append(value)
    assert fields == expected


@given(st.binary(max_size=200))
def test_any_multipart_body_parses_or_is_a_400(body):
    with contextlib.suppress(InvalidRequestError):  # a 400 with its message
        asyncio.run(read_multipart(_Request(body, "b"), file_fields=["file"], part_limit=10))  # type: ignore[arg-type]


# -- SRT and WebVTT -----------------------------------------------------------------------------

TIME = st.floats(min_value=0, max_value=360_000, allow_nan=False)
SEGMENTS = st.lists(st.builds(Segment, id=st.just(0), start=TIME, end=TIME, text=st.text()))
SRT_TIME = r"\d{2,}:\d{2}:\d{2},\d{3}"
VTT_TIME = r"\d{2,}:\d{2}:\d{2}\.\d{3}"


@given(SEGMENTS)
def test_srt_cues_parse_back_into_the_segments_text(segments):
    spoken = [" ".join(s.text.split()).replace("-->", "->") for s in segments if s.text.strip()]
    body = to_srt(segments)
    blocks = [block for block in body.split("\n\n") if block]
    assert len(blocks) == len(spoken)
    for number, (block, text) in enumerate(zip(blocks, spoken, strict=True), start=1):
        index, times, cue = block.rstrip("\n").split("\n", 2)
        assert index == str(number)
        assert re.fullmatch(f"{SRT_TIME} --> {SRT_TIME}", times)
        assert cue == text


@given(SEGMENTS)
def test_vtt_cues_parse_back_and_never_hold_an_arrow(segments):
    body = to_vtt(segments)
    assert body.startswith("WEBVTT\n\n")
    blocks = [block for block in body.removeprefix("WEBVTT\n\n").split("\n\n") if block]
    assert len(blocks) == len([s for s in segments if s.text.strip()])
    for block in blocks:
        times, cue = block.rstrip("\n").split("\n", 1)
        assert re.fullmatch(f"{VTT_TIME} --> {VTT_TIME}", times)
        assert "-->" not in cue
        assert "\n" not in cue


# -- the voice-mapping document -----------------------------------------------------------------


@given(st.dictionaries(st.sampled_from(["tone", "second", "gone"]), JSON, max_size=3))
def test_a_mapping_document_validates_or_says_where_it_is_wrong(raw):
    mapping, problems = validate_mapping(raw, ["tone", "second"])
    for parts, message in problems:
        assert parts
        assert message
    for table in mapping.values():
        assert len(table) <= MAX_VOICES_PER_INSTANCE
        for voice, spec in table.items():
            assert voice == voice.casefold()
            assert 0 < len(voice) <= MAX_VOICE_NAME
            assert 0 < len(spec) <= MAX_ENGINE_VOICE


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(["tone", "second"]),
        st.dictionaries(
            st.text(min_size=1, max_size=20).filter(str.strip).map(str.casefold),
            st.text(min_size=1, max_size=20).filter(str.strip),
            max_size=5,
        ),
        max_size=2,
    )
)
def test_a_saved_mapping_reads_back_the_same(tmp_path, mapping):
    path = tmp_path / "voices.json"
    write_mapping_file(path, mapping)
    assert read_mapping_file(path, ["tone", "second"]) == mapping


@pytest.mark.parametrize("depth", [10_000])
def test_a_deeply_nested_mapping_file_is_a_problem_not_a_crash(tmp_path, depth):
    from voxgate_voices.settings import MappingFileError

    path = tmp_path / "voices.json"
    path.write_text("[" * depth + "]" * depth)
    with pytest.raises(MappingFileError):
        read_mapping_file(path, ["tone"])
