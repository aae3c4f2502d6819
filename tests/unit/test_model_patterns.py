"""``[models]`` patterns: which key serves an id, for each task, and how the config checks them.

The resolver is the built-in ``routing`` plugin's ``resolve_model``, the one every route asks;
the API tests (tests/api/test_model_patterns.py) drive the same rules through the SDK.
"""

from __future__ import annotations

import pytest

import voxgate_openai_upstream
import voxgate_routing
from voxgate.config import ConfigError, ServerConfig, load_config, load_config_from_str
from voxgate.model_patterns import by_precedence, first_match, is_pattern, literal_length
from voxgate.plugins.hooks import Hooks
from voxgate.plugins.manager import make_plugin_manager
from voxgate.testing import fakes

INSTANCES = """
[stt.fast]
kind = "fake-stt"

[stt.slow]
kind = "fake-stt"

[tts.tone]
kind = "fake-tts"

[chat.first]
kind = "openai"
base_url = "http://127.0.0.1:1/v1"

[chat.second]
kind = "openai"
base_url = "http://127.0.0.1:2/v1"
"""


@pytest.fixture
def hooks() -> Hooks:
    plugins = [voxgate_routing, fakes, voxgate_openai_upstream]
    return Hooks(make_plugin_manager(plugins=plugins, entry_points_enabled=False, trace=False))


def config_with(models: str, hooks: Hooks) -> ServerConfig:
    return load_config_from_str(INSTANCES + "[models]\n" + models, hooks, environ={})


def problems_of(models: str, hooks: Hooks) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        config_with(models, hooks)
    return {p.path: p.message for p in info.value.problems}


# -- the pattern helpers ------------------------------------------------------------------------


def test_a_key_is_a_pattern_when_fnmatch_gives_it_a_wildcard():
    assert is_pattern("gpt-*transcribe*")
    assert is_pattern("tts-?")
    assert is_pattern("gpt-[45]o-tts")
    assert not is_pattern("gpt-4o-mini-tts-2025-12-15")
    assert not is_pattern("Systran/faster-whisper-tiny.en")


def test_the_longest_literal_part_goes_first_and_ties_keep_config_order():
    assert literal_length("gpt-*transcribe*") == len("gpt-transcribe")
    assert literal_length("*") == 0
    ordered = by_precedence(["*", "gpt-*", "b-*", "gpt-*-tts*", "a-*"])
    assert ordered == ["gpt-*-tts*", "gpt-*", "b-*", "a-*", "*"]


def test_matching_is_fnmatch_and_case_sensitive():
    assert first_match(["gpt-*transcribe*"], "gpt-5-transcribe-2027-01-01") == "gpt-*transcribe*"
    assert first_match(["gpt-*transcribe*"], "GPT-5-TRANSCRIBE") is None
    assert first_match(["tts-?"], "tts-2") == "tts-?"
    assert first_match(["tts-?"], "tts-10") is None


# -- the resolver -------------------------------------------------------------------------------


def test_a_pattern_routes_ids_it_matches(hooks):
    config = config_with('"gpt-*transcribe*" = "fast"\n', hooks)
    assert hooks.resolve_model("gpt-5-transcribe-2027-01-01", "stt", config) == "fast"
    assert hooks.resolve_model("gpt-transcribe", "stt", config) == "fast"
    assert hooks.resolve_model("gpt-5-transcribe", "tts", config) is None, "an stt pattern only"
    assert hooks.resolve_model("whisper-9", "stt", config) is None, "no match: 404 as before"


def test_an_exact_key_beats_any_pattern_whatever_the_order(hooks):
    config = config_with(
        '"gpt-4o-transcribe*" = "fast"\n"gpt-4o-transcribe" = "slow"\n"*" = "fast"\n', hooks
    )
    assert hooks.resolve_model("gpt-4o-transcribe", "stt", config) == "slow"
    assert hooks.resolve_model("gpt-4o-transcribe-2", "stt", config) == "fast"


def test_an_exact_key_decides_its_id_even_for_a_task_it_does_not_name(hooks):
    config = config_with('"tts-1" = "tone"\n"*" = "fast"\n', hooks)
    assert hooks.resolve_model("tts-1", "stt", config) is None, "tts-1 is a speech model"
    assert hooks.resolve_model("anything", "stt", config) == "fast"


def test_an_instance_name_beats_a_pattern(hooks):
    config = config_with('"s*" = "fast"\n"t*" = { stt = "fast" }\n', hooks)
    assert hooks.resolve_model("slow", "stt", config) == "slow"
    assert hooks.resolve_model("slower", "stt", config) == "fast"
    assert hooks.resolve_model("tone", "stt", config) is None, "tone is a tts instance"


def test_the_most_specific_pattern_wins_whatever_the_order(hooks):
    for models in (
        '"gpt-*" = "slow"\n"gpt-*transcribe*" = "fast"\n',
        '"gpt-*transcribe*" = "fast"\n"gpt-*" = "slow"\n',
    ):
        config = config_with(models, hooks)
        assert hooks.resolve_model("gpt-5-transcribe", "stt", config) == "fast"
        assert hooks.resolve_model("gpt-5-listen", "stt", config) == "slow"


def test_equally_specific_patterns_go_in_config_order(hooks):
    config = config_with('"a*" = "slow"\n"*b" = "fast"\n', hooks)
    assert hooks.resolve_model("ab", "stt", config) == "slow"
    config = config_with('"*b" = "fast"\n"a*" = "slow"\n', hooks)
    assert hooks.resolve_model("ab", "stt", config) == "fast"


def test_only_patterns_naming_the_task_compete(hooks):
    """A more specific chat-only pattern never takes a transcription away (and vice versa)."""
    config = config_with(
        '"gpt-realtime-whisper*" = { chat = "second" }\n"gpt-*whisper*" = "slow"\n', hooks
    )
    assert hooks.resolve_model("gpt-realtime-whisper-2", "stt", config) == "slow"
    assert hooks.resolve_model("gpt-realtime-whisper-2", "chat", config) == "second"


def test_chat_patterns_pick_the_proxy_and_other_ids_keep_the_first(hooks):
    config = config_with('"gpt-realtime*" = { chat = "second" }\n', hooks)
    assert hooks.resolve_model("gpt-realtime-2.1-mini", "chat", config) == "second"
    assert hooks.resolve_model("llama3.2", "chat", config) == "first"


def test_a_pattern_table_serves_each_task_it_names(hooks):
    config = config_with('"my-*" = { stt = "fast", tts = "tone", chat = "second" }\n', hooks)
    assert hooks.resolve_model("my-model", "stt", config) == "fast"
    assert hooks.resolve_model("my-model", "tts", config) == "tone"
    assert hooks.resolve_model("my-model", "chat", config) == "second"


def test_any_id_speaks_with_a_star(hooks):
    config = config_with('"*" = "tone"\n', hooks)
    for model in ("tts-1", "alltalk", "xtts_v2", "gpt-4o-mini-tts"):
        assert hooks.resolve_model(model, "tts", config) == "tone"
    assert hooks.resolve_model("whisper-1", "stt", config) is None


def test_the_resolver_returns_an_instance_and_leaves_the_id_alone(hooks):
    config = config_with('"gpt-*transcribe*" = "fast"\n', hooks)
    match = config.pattern_route("gpt-5-transcribe")
    assert match is not None
    key, route = match
    assert (key, route.stt) == ("gpt-*transcribe*", "fast")
    assert config.pattern_route("whisper-1") is None


# -- the configuration --------------------------------------------------------------------------


def test_model_ids_never_list_a_pattern(hooks):
    config = config_with(
        '"whisper-1" = "fast"\n"gpt-*transcribe*" = "fast"\n"tts-?" = "tone"\n', hooks
    )
    assert config.model_ids() == ["fast", "slow", "tone", "whisper-1"]
    assert config.model_patterns == ["gpt-*transcribe*", "tts-?"]


def test_a_pattern_to_a_missing_instance_is_a_config_error(hooks):
    found = problems_of(
        '"gpt-*transcribe*" = "whisper-base"\n"gpt-*-tts*" = { tts = "fast" }\n"x*" = {}\n', hooks
    )
    assert "routes to instance 'whisper-base'" in found['models."gpt-*transcribe*"']
    assert "[tts.*]" in found['models."gpt-*-tts*".tts']
    assert "names no stt, tts, chat or diarize" in found['models."x*"']


# -- the default configuration ------------------------------------------------------------------


@pytest.fixture(scope="module")
def default() -> tuple[Hooks, ServerConfig]:
    installed = Hooks(make_plugin_manager(entry_points_enabled=True, trace=False))
    return installed, load_config(None, installed, environ={})


SDK_IDS = {
    "stt": [
        "whisper-1",
        "gpt-transcribe",
        "gpt-4o-transcribe",
        "gpt-4o-mini-transcribe",
        "gpt-4o-mini-transcribe-2025-12-15",
        "gpt-4o-transcribe-diarize",
        "gpt-live-transcribe",
        "gpt-realtime-whisper",
    ],
    "tts": ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15"],
    "chat": [
        "gpt-realtime",
        "gpt-realtime-1.5",
        "gpt-realtime-2",
        "gpt-realtime-2.1",
        "gpt-realtime-2.1-mini",
        "gpt-realtime-mini",
        "gpt-4o-realtime-preview",
        "gpt-4o-mini-realtime-preview",
        "gpt-realtime-2025-08-28",
        "gpt-4o-realtime-preview-2024-12-17",
        "gpt-4o-mini-realtime-preview-2024-12-17",
    ],
}


def test_the_default_lists_every_id_the_sdk_names(default):
    _, config = default
    listed = config.model_ids()
    for ids in SDK_IDS.values():
        assert set(ids) <= set(listed)
    assert not any(is_pattern(model) for model in listed)


@pytest.mark.parametrize(
    ("model", "task", "instance"),
    [
        ("gpt-transcribe", "stt", "whisper-base"),
        ("gpt-4o-transcribe-diarize", "stt", "whisper-base"),
        ("gpt-realtime-whisper", "stt", "whisper-base"),
        ("gpt-live-transcribe", "stt", "whisper-base"),
        ("gpt-5-transcribe-2027-01-01", "stt", "whisper-base"),
        ("gpt-live-transcribe-2", "stt", "whisper-base"),
        ("gpt-realtime-whisper-2", "stt", "whisper-base"),
        ("tts-1", "tts", "piper"),
        ("gpt-4o-mini-tts-2025-12-15", "tts", "kokoro"),
        ("gpt-5-mini-tts", "tts", "kokoro"),
        ("gpt-realtime-2.1-mini", "chat", "upstream"),
        ("gpt-realtime-3", "chat", "upstream"),
        ("gpt-4o-mini-realtime-preview-2026-01-01", "chat", "upstream"),
        ("gpt-realtime-whisper", "chat", "upstream"),
        ("gpt-4o-realtime-preview-transcribe", "stt", "whisper-base"),
        ("gpt-4o-realtime-preview-transcribe", "chat", "upstream"),
        ("gpt-realtime-2.1-mini", "stt", None),
        ("gpt-realtime-3", "tts", None),
        ("gpt-5-transcribe", "tts", None),
        ("gpt-5", "stt", None),
    ],
)
def test_the_default_routes_todays_and_tomorrows_ids(default, model, task, instance):
    hooks, config = default
    assert hooks.resolve_model(model, task, config) == instance
