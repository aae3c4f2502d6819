"""The built-in ``voices`` plugin: ``[voices]``, the default ``map_voice``, the voice routes."""

from __future__ import annotations

import json

import pytest
from litestar.testing import AsyncTestClient

import voxgate_voices
from tests.conftest import FAKE_TOML
from tests.plugins.conftest import plugin_module
from voxgate import VoiceChoice, hookimpl
from voxgate.config import ConfigError
from voxgate.plugins.hooks import Hooks
from voxgate.testing import app_client, build_test_app, fakes
from voxgate.testing.app import TEST_BASE_URL, build_test_config

TOML = """
[transcoder]
kind = "wav"

[stt.fake-stt]
kind = "fake-stt"

[tts.tone]
kind = "fake-tts"

[tts.second]
kind = "fake-tts"
voices = ["bright", "dark"]

[models]
"tts-1" = { tts = "tone" }
"tts-1-hd" = { tts = "second" }

[voices.tone]
alloy = "low"
Echo = "tone(2)+low(1)"

[voices.second]
nova = "bright"
"""

PLUGINS = [fakes, voxgate_voices]


def hooks_and_config(toml: str = TOML, *extra: object):
    config, pm = build_test_config(toml, [*PLUGINS, *extra])
    return Hooks(pm), config


def problems(toml: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        build_test_config(toml, PLUGINS)
    return {p.path: p.message for p in info.value.problems}


def client(app):
    return AsyncTestClient(app=app, base_url=TEST_BASE_URL)


# -- map_voice ---------------------------------------------------------------------------------


def test_a_mapped_name_gives_its_engine_voice_spec():
    hooks, config = hooks_and_config()
    assert hooks.map_voice("alloy", "tts-1", "tone", config) == VoiceChoice(voice_id="low")
    assert hooks.map_voice("echo", "tts-1", "tone", config) == VoiceChoice(
        voice_id="tone(2)+low(1)"
    )


@pytest.mark.parametrize("voice", ["Alloy", "ALLOY", "alloy"])
def test_names_match_case_insensitively(voice):
    hooks, config = hooks_and_config()
    assert hooks.map_voice(voice, "tts-1", "tone", config) == VoiceChoice(voice_id="low")


def test_unmapped_names_pass_through_unchanged_as_engine_ids():
    hooks, config = hooks_and_config()
    for voice in ("tone", "jf_alpha", "en_US-joe-medium", "voice_1234", "Tone"):
        assert hooks.map_voice(voice, "tts-1", "tone", config) == VoiceChoice(voice_id=voice)


def test_another_instances_mapping_is_not_used():
    hooks, config = hooks_and_config()
    assert hooks.map_voice("nova", "tts-1", "tone", config) == VoiceChoice(voice_id="nova")
    assert hooks.map_voice("alloy", "tts-1-hd", "second", config) == VoiceChoice(voice_id="alloy")
    assert hooks.map_voice("nova", "tts-1-hd", "second", config) == VoiceChoice(voice_id="bright")


def test_an_empty_voice_is_the_default_then_alloy_then_none():
    hooks, config = hooks_and_config()
    assert hooks.map_voice("  ", "tts-1", "tone", config) == VoiceChoice(voice_id="low")  # alloy
    assert hooks.map_voice("", "tts-1-hd", "second", config) is None  # maps neither
    hooks, config = hooks_and_config(
        TOML.replace('alloy = "low"', 'alloy = "low"\ndefault = "tone"')
    )
    assert hooks.map_voice("", "tts-1", "tone", config) == VoiceChoice(voice_id="tone")


def test_works_without_a_voices_table():
    hooks, config = hooks_and_config(FAKE_TOML)
    assert config.settings["voices"] == voxgate_voices.VoicesSettings()
    assert hooks.map_voice("alloy", "tts-1", "tone", config) == VoiceChoice(voice_id="alloy")


def test_a_plugin_that_answers_first_wins():
    @hookimpl
    def map_voice(voice):
        return VoiceChoice(voice_id="dark") if voice == "alloy" else None

    hooks, config = hooks_and_config(TOML, plugin_module("voxgate_other", map_voice=map_voice))
    assert hooks.map_voice("alloy", "tts-1", "tone", config) == VoiceChoice(voice_id="dark")
    assert hooks.map_voice("echo", "tts-1", "tone", config).voice_id == "tone(2)+low(1)"


# -- configuration -----------------------------------------------------------------------------


def test_mapping_keys_are_stored_casefolded():
    _, config = hooks_and_config()
    assert config.settings["voices"].mapping == {
        "tone": {"alloy": "low", "echo": "tone(2)+low(1)"},
        "second": {"nova": "bright"},
    }


def test_every_mapped_instance_must_be_a_tts_instance():
    found = problems(FAKE_TOML + '[voices.unknown]\nalloy = "x"\n[voices.fake-stt]\nalloy = "x"\n')
    assert set(found) == {"voices.unknown", "voices.fake-stt"}
    assert found["voices.unknown"] == "is not a [tts.*] instance (TTS instances: tone)"


def test_bad_entries_are_reported_each_with_its_path():
    found = problems(
        FAKE_TOML
        + """
[voices.tone]
alloy = 3
echo = ""
Nova = "low"
nova = "tone"
"a/b" = true
"""
    )
    assert found == {
        "voices.tone.alloy": "expected a string (an engine voice), got an integer",
        "voices.tone.echo": "voice names and engine voices must not be empty",
        "voices.tone.nova": "same name as 'Nova' (voice names are case-insensitive)",
        'voices.tone."a/b"': "expected a string (an engine voice), got a boolean",
    }


def test_an_instance_entry_must_be_a_table():
    found = problems(FAKE_TOML + '[voices]\ntone = "low"\n')
    assert found == {"voices.tone": "expected a table of voice names, got a string"}


def test_table_keys_and_types_are_checked():
    assert set(problems(FAKE_TOML + "[voices]\nmapping_file = 3\n")) == {"voices.mapping_file"}
    found = problems(FAKE_TOML + "[voices]\nshout = true\n")
    assert found == {"voices.shout": "is not a [tts.*] instance (TTS instances: tone)"}


def test_instance_tables_sit_directly_under_voices():
    config, _ = build_test_config(FAKE_TOML + '[voices.tone]\nAlloy = "low"\n', PLUGINS)
    assert config.settings["voices"].mapping == {"tone": {"alloy": "low"}}


# -- GET /v1/audio/voices ----------------------------------------------------------------------


async def test_voices_of_a_model_list_mapped_names_then_engine_voices():
    async with app_client(TOML, PLUGINS) as http:
        response = await http.get("/v1/audio/voices", params={"model": "tts-1"})
    assert response.status_code == 200
    assert response.json() == {
        "voices": [
            {
                "id": "alloy",
                "name": "alloy (low)",
                "instance": "tone",
                "engine_voice": "low",
                "languages": ["en"],
            },
            {
                "id": "echo",
                "name": "echo (tone(2)+low(1))",
                "instance": "tone",
                "engine_voice": "tone(2)+low(1)",
                "languages": [],
            },
            {
                "id": "tone",
                "name": "Tone",
                "instance": "tone",
                "engine_voice": "tone",
                "languages": ["en"],
            },
            {
                "id": "low",
                "name": "Low",
                "instance": "tone",
                "engine_voice": "low",
                "languages": ["en"],
            },
        ]
    }


async def test_without_a_model_every_tts_instance_is_listed():
    async with app_client(TOML, PLUGINS) as http:
        response = await http.get("/v1/audio/voices")
    pairs = [(v["instance"], v["id"]) for v in response.json()["voices"]]
    assert pairs == [
        ("tone", "alloy"),
        ("tone", "echo"),
        ("tone", "tone"),
        ("tone", "low"),
        ("second", "nova"),
        ("second", "bright"),
        ("second", "dark"),
    ]


async def test_the_shape_open_webui_reads():
    # open_webui/routers/audio.py: {voice["id"]: voice["name"] for voice in data.get("voices", [])}
    async with app_client(TOML, PLUGINS) as http:
        data = (await http.get("/v1/audio/voices")).json()
    voices = {voice["id"]: voice["name"] for voice in data.get("voices", [])}
    assert voices["alloy"] == "alloy (low)"
    assert voices["dark"] == "Dark"


async def test_a_mapped_name_hides_the_engine_voice_of_the_same_name():
    toml = TOML.replace('alloy = "low"', 'alloy = "low"\nLOW = "tone"')
    async with app_client(toml, PLUGINS) as http:
        data = (await http.get("/v1/audio/voices", params={"model": "tts-1"})).json()
    assert [(v["id"], v["engine_voice"]) for v in data["voices"]] == [
        ("alloy", "low"),
        ("low", "tone"),
        ("echo", "tone(2)+low(1)"),
        ("tone", "tone"),
    ]


async def test_an_unknown_model_is_404_model_not_found():
    async with app_client(TOML, PLUGINS) as http:
        response = await http.get("/v1/audio/voices", params={"model": "whisper-9"})
        stt_model = await http.get("/v1/audio/voices", params={"model": "fake-stt"})
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "The model `whisper-9` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }
    assert stt_model.status_code == 404


async def test_an_engine_that_fails_to_load_still_lists_its_mapped_names(monkeypatch):
    load = fakes.FakeTtsEngine.load

    def load_or_fail(self):
        if self.context.instance == "second":
            raise RuntimeError("no weights")
        load(self)

    monkeypatch.setattr(fakes.FakeTtsEngine, "load", load_or_fail)
    async with app_client(TOML, PLUGINS) as http:
        listed = await http.get("/v1/audio/voices")
        one = await http.get("/v1/audio/voices", params={"model": "tts-1-hd"})
    ids = [(v["instance"], v["id"]) for v in listed.json()["voices"]]
    assert ids == [
        ("tone", "alloy"),
        ("tone", "echo"),
        ("tone", "tone"),
        ("tone", "low"),
        ("second", "nova"),
    ]
    assert one.status_code == 500
    assert one.json()["error"]["type"] == "server_error"


async def test_the_routes_are_in_the_openapi_document():
    async with app_client(TOML, PLUGINS) as http:
        paths = (await http.get("/docs/openapi.json")).json()["paths"]
    assert set(paths["/v1/audio/voices/mapping"]) == {"get", "put"}
    assert "get" in paths["/v1/audio/voices"]


# -- the live mapping ----------------------------------------------------------------------------


async def test_get_mapping_shows_every_tts_instance():
    async with app_client(FAKE_TOML + '[voices.tone]\nAlloy = "low"\n', PLUGINS) as http:
        response = await http.get("/v1/audio/voices/mapping")
    assert response.status_code == 200
    assert response.json() == {"tone": {"alloy": "low"}}


async def test_put_takes_effect_on_the_next_request():
    app = build_test_app(TOML, PLUGINS)
    runtime = app.state.runtime
    async with client(app) as http:
        response = await http.put(
            "/v1/audio/voices/mapping",
            json={"instance": "tone", "voice": "Shimmer", "engine_voice": "low"},
        )
        assert response.status_code == 200
        assert response.json() == {
            "tone": {"alloy": "low", "echo": "tone(2)+low(1)", "shimmer": "low"}
        }
        choice = runtime.hooks.map_voice("shimmer", "tts-1", "tone", runtime.config)
        assert choice == VoiceChoice(voice_id="low")
        mapping = (await http.get("/v1/audio/voices/mapping")).json()
        assert mapping["tone"]["shimmer"] == "low"
        listed = (await http.get("/v1/audio/voices", params={"model": "tts-1"})).json()
        assert "shimmer" in [v["id"] for v in listed["voices"]]


async def test_put_a_list_and_remove_with_null():
    app = build_test_app(TOML, PLUGINS)
    runtime = app.state.runtime
    async with client(app) as http:
        response = await http.put(
            "/v1/audio/voices/mapping",
            json=[
                {"instance": "tone", "voice": "ALLOY", "engine_voice": None},
                {"instance": "second", "voice": "nova", "engine_voice": "dark"},
                {"instance": "second", "voice": "ash", "engine_voice": "bright"},
                {"instance": "tone", "voice": "never-mapped", "engine_voice": None},
            ],
        )
    assert response.status_code == 200
    assert response.json() == {
        "tone": {"echo": "tone(2)+low(1)"},
        "second": {"nova": "dark", "ash": "bright"},
    }
    hooks, config = runtime.hooks, runtime.config
    assert hooks.map_voice("alloy", "tts-1", "tone", config) == VoiceChoice(voice_id="alloy")
    assert hooks.map_voice("nova", "tts-1-hd", "second", config) == VoiceChoice(voice_id="dark")


async def test_an_empty_list_of_edits_changes_nothing():
    async with app_client(TOML, PLUGINS) as http:
        response = await http.put("/v1/audio/voices/mapping", json=[])
        assert response.status_code == 200
        assert response.json() == {}
        assert (await http.get("/v1/audio/voices/mapping")).json()["tone"]["alloy"] == "low"


async def test_the_live_mapping_belongs_to_one_app():
    first, second = build_test_app(TOML, PLUGINS), build_test_app(TOML, PLUGINS)
    async with client(first) as http:
        edit = {"instance": "tone", "voice": "alloy", "engine_voice": "tone"}
        assert (await http.put("/v1/audio/voices/mapping", json=edit)).status_code == 200
    runtime = second.state.runtime
    choice = runtime.hooks.map_voice("alloy", "tts-1", "tone", runtime.config)
    assert choice == VoiceChoice(voice_id="low")


async def test_put_to_an_unknown_instance_is_404_and_changes_nothing():
    app = build_test_app(TOML, PLUGINS)
    async with client(app) as http:
        one = await http.put(
            "/v1/audio/voices/mapping",
            json={"instance": "nope", "voice": "alloy", "engine_voice": "low"},
        )
        many = await http.put(
            "/v1/audio/voices/mapping",
            json=[
                {"instance": "tone", "voice": "alloy", "engine_voice": "tone"},
                {"instance": "fake-stt", "voice": "alloy", "engine_voice": "low"},
            ],
        )
        mapping = (await http.get("/v1/audio/voices/mapping")).json()
    assert one.status_code == 404
    assert one.json()["error"] == {
        "message": "No TTS instance `nope` (TTS instances: tone, second).",
        "type": "invalid_request_error",
        "param": "instance",
        "code": None,
    }
    assert many.status_code == 404
    assert many.json()["error"]["param"] == "[1].instance"
    assert mapping["tone"]["alloy"] == "low"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"instance": "tone", "voice": "alloy"}, "engine_voice"),
        ({"instance": "tone", "engine_voice": "low"}, "voice"),
        ({"instance": "tone", "voice": "", "engine_voice": "low"}, "voice"),
        ({"instance": "tone", "voice": "alloy", "engine_voice": ""}, "engine_voice"),
        ({"instance": "tone", "voice": " ", "engine_voice": "low"}, "voice"),
        ({"instance": "tone", "voice": "alloy", "engine_voice": 3}, "engine_voice"),
        ({"instance": "tone", "voice": "a", "engine_voice": "low", "extra": 1}, "extra"),
        ([{"instance": "tone", "voice": "alloy"}], "engine_voice"),
        ("alloy", None),
    ],
)
async def test_a_bad_body_is_400_naming_the_field(body, param):
    async with app_client(TOML, PLUGINS) as http:
        response = await http.put("/v1/audio/voices/mapping", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


async def test_a_mapped_voice_reaches_the_engine_through_the_speech_endpoint():
    async with app_client(TOML, PLUGINS) as http:
        speech = {"model": "tts-1", "input": "hi there", "voice": "alloy", "response_format": "wav"}
        assert (await http.post("/v1/audio/speech", json=speech)).status_code == 200
        edit = {"instance": "tone", "voice": "alloy", "engine_voice": None}
        assert (await http.put("/v1/audio/voices/mapping", json=edit)).status_code == 200
        response = await http.post("/v1/audio/speech", json=speech)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "voice"


# -- persistence ---------------------------------------------------------------------------------


def with_file(path) -> str:
    return TOML.replace(
        "[voices.tone]",
        f"[voices]\nmapping_file = {json.dumps(str(path))}\n\n[voices.tone]",
    )


async def test_put_saves_the_mapping_and_a_new_app_loads_it(tmp_path):
    path = tmp_path / "state" / "voices.json"
    toml = with_file(path)
    async with app_client(toml, PLUGINS) as http:
        edits = [
            {"instance": "tone", "voice": "alloy", "engine_voice": None},
            {"instance": "tone", "voice": "fable", "engine_voice": "tone"},
        ]
        assert (await http.put("/v1/audio/voices/mapping", json=edits)).status_code == 200
    saved = json.loads(path.read_text())
    assert saved == {
        "tone": {"echo": "tone(2)+low(1)", "fable": "tone"},
        "second": {"nova": "bright"},
    }
    assert [p.name for p in path.parent.iterdir()] == ["voices.json"]  # no temporary left

    hooks, config = hooks_and_config(toml)
    assert config.settings["voices"].mapping == saved
    assert hooks.map_voice("alloy", "tts-1", "tone", config) == VoiceChoice(voice_id="alloy")
    assert hooks.map_voice("Fable", "tts-1", "tone", config) == VoiceChoice(voice_id="tone")


def test_the_file_replaces_the_tables_of_the_instances_it_lists(tmp_path):
    path = tmp_path / "voices.json"
    path.write_text(json.dumps({"tone": {"Onyx": "low"}}))
    _, config = hooks_and_config(with_file(path))
    assert config.settings["voices"].mapping == {
        "tone": {"onyx": "low"},
        "second": {"nova": "bright"},
    }


def test_a_missing_mapping_file_is_fine(tmp_path):
    _, config = hooks_and_config(with_file(tmp_path / "not-yet.json"))
    assert config.settings["voices"].mapping["tone"]["alloy"] == "low"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not valid JSON"),
        ('["tone"]', "must hold a JSON object"),
        (
            '{"tone": {"alloy": 3}}',
            "tone.alloy: expected a string (an engine voice), got an integer",
        ),
        ('{"tone": "low"}', "tone: expected a table of voice names, got a string"),
        ('{"gone": {}}', "gone: is not a [tts.*] instance (TTS instances: tone, second)"),
    ],
)
def test_an_invalid_mapping_file_is_a_config_problem(tmp_path, content, expected):
    path = tmp_path / "voices.json"
    path.write_text(content)
    found = problems(with_file(path))
    assert list(found) == ["voices.mapping_file"]
    assert str(path) in found["voices.mapping_file"]
    assert expected in found["voices.mapping_file"]


def test_an_unreadable_mapping_file_is_a_config_problem(tmp_path):
    found = problems(with_file(tmp_path))  # a directory
    assert found["voices.mapping_file"].startswith(f"cannot read {tmp_path}")
    (tmp_path / "file").write_text("")
    found = problems(with_file(tmp_path / "file" / "voices.json"))
    assert "Not a directory" in found["voices.mapping_file"]


async def test_a_failed_save_changes_nothing(tmp_path):
    app = build_test_app(with_file(tmp_path / "state" / "voices.json"), PLUGINS)
    runtime = app.state.runtime
    (tmp_path / "state").write_text("")  # its folder cannot be made now
    async with client(app) as http:
        edit = {"instance": "tone", "voice": "alloy", "engine_voice": "tone"}
        response = await http.put("/v1/audio/voices/mapping", json=edit)
    assert response.status_code == 500
    assert "could not be saved" in response.json()["error"]["message"]
    choice = runtime.hooks.map_voice("alloy", "tts-1", "tone", runtime.config)
    assert choice == VoiceChoice(voice_id="low")


# -- API keys ------------------------------------------------------------------------------------


async def test_the_routes_need_the_api_key_when_keys_are_set():
    env = {"VOXGATE_API_KEYS": "k"}
    edit = {"instance": "tone", "voice": "alloy", "engine_voice": "tone"}
    async with app_client(TOML, PLUGINS, environ=env) as http:
        denied = await http.put("/v1/audio/voices/mapping", json=edit)
        listing = await http.get("/v1/audio/voices")
        mapping = await http.get("/v1/audio/voices/mapping")
        allowed = await http.put(
            "/v1/audio/voices/mapping", json=edit, headers={"authorization": "Bearer k"}
        )
    assert denied.status_code == 401
    assert denied.json()["error"]["code"] == "invalid_api_key"
    assert listing.status_code == 401
    assert mapping.status_code == 401
    assert allowed.status_code == 200


# -- limits --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"instance": "tone", "voice": "v" * 5_000_000, "engine_voice": "low"}, "voice"),
        ({"instance": "tone", "voice": "v" * 257, "engine_voice": "low"}, "voice"),
        ({"instance": "tone", "voice": "alloy", "engine_voice": "e" * 1025}, "engine_voice"),
    ],
)
async def test_names_over_their_limit_are_400_naming_the_field(body, param):
    async with app_client(TOML, PLUGINS) as http:
        response = await http.put("/v1/audio/voices/mapping", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
        assert (await http.get("/v1/audio/voices/mapping")).json()["tone"] == {
            "alloy": "low",
            "echo": "tone(2)+low(1)",
        }, "nothing changed"


async def test_an_instance_maps_at_most_1000_voices():
    def edits(start: int, count: int) -> list[dict]:
        return [
            {"instance": "tone", "voice": f"voice-{n}", "engine_voice": "low"}
            for n in range(start, start + count)
        ]

    async with app_client(TOML, PLUGINS) as http:
        put = "/v1/audio/voices/mapping"
        assert (await http.put(put, json=edits(0, 998))).status_code == 200  # + alloy, echo
        response = await http.put(put, json=edits(998, 1))
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["param"] == "[0].voice"
        assert "the limit is 1000" in error["message"]
        assert (await http.put(put, json=edits(0, 1001))).status_code == 400, "list too long"
        mapping = (await http.get(put)).json()["tone"]
    assert len(mapping) == 1000


def test_config_tables_have_the_same_limits():
    found = problems(TOML + f'"{"x" * 300}" = "low"\n')
    assert "at most 256" in found[f"voices.second.{'x' * 300}"]  # appended to [voices.second]
    many = "\n".join(f'v{n} = "low"' for n in range(1001))
    found = problems(TOML.replace('[voices.second]\nnova = "bright"', f"[voices.second]\n{many}"))
    assert "the limit is 1000" in found["voices.second"]


async def test_saving_runs_off_the_event_loop(tmp_path, monkeypatch):
    """The write is fsynced: on the loop, every other request would wait for the disk."""
    import threading

    from voxgate_voices import routes

    threads: list[int] = []
    real_write = routes.write_mapping_file

    def recording_write(path, mapping):
        threads.append(threading.get_ident())
        real_write(path, mapping)

    monkeypatch.setattr(routes, "write_mapping_file", recording_write)
    app = build_test_app(with_file(tmp_path / "voices.json"), PLUGINS)
    async with client(app) as http:
        edit = {"instance": "tone", "voice": "alloy", "engine_voice": "tone"}
        assert (await http.put("/v1/audio/voices/mapping", json=edit)).status_code == 200
    assert threads
    assert threads[0] != threading.get_ident()
    assert json.loads((tmp_path / "voices.json").read_text())["tone"]["alloy"] == "tone"


# -- AllTalk's PUT /api/openai-voicemap ------------------------------------------------------------

ALLTALK_BODY = {"alloy": "tone", "echo": "low", "nova": "low", "shimmer": "tone"}


async def test_alltalk_remap_edits_the_instance_tts_1_speaks_with():
    app = build_test_app(TOML, PLUGINS)
    runtime = app.state.runtime
    async with client(app) as http:
        response = await http.put("/api/openai-voicemap", json={"alloy": "tone", "nova": "low"})
        assert response.status_code == 200, response.text
        assert response.json() == {
            "tone": {"alloy": "tone", "echo": "tone(2)+low(1)", "nova": "low"}
        }
        assert (await http.get("/v1/audio/voices/mapping")).json()["second"] == {"nova": "bright"}
    choice = runtime.hooks.map_voice("nova", "tts-1", "tone", runtime.config)
    assert choice == VoiceChoice(voice_id="low")


async def test_alltalk_remap_takes_a_model_and_any_of_the_13_names():
    names = ["alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage"]
    names += ["shimmer", "verse", "marin", "cedar"]
    async with app_client(TOML, PLUGINS) as http:
        response = await http.put(
            "/api/openai-voicemap",
            params={"model": "tts-1-hd"},
            json=dict.fromkeys(names, "dark"),
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"second": dict.fromkeys(names, "dark")}
        unchanged = await http.put("/api/openai-voicemap", json={})
    assert unchanged.json() == {"tone": {"alloy": "low", "echo": "tone(2)+low(1)"}}


@pytest.mark.parametrize(
    ("body", "query", "status", "param"),
    [
        ({**ALLTALK_BODY, "nova": 3}, {}, 400, "nova"),
        ({**ALLTALK_BODY, "fable": None}, {}, 400, "fable"),
        ({**ALLTALK_BODY, "fable": " "}, {}, 400, "fable"),
        ({**ALLTALK_BODY, "alloyy": "tone"}, {}, 400, "alloyy"),
        (["alloy"], {}, 400, None),
        (ALLTALK_BODY, {"model": "tts-9"}, 404, "model"),
    ],
)
async def test_a_bad_alltalk_remap_is_an_error_and_changes_nothing(body, query, status, param):
    async with app_client(TOML, PLUGINS) as http:
        before = (await http.get("/v1/audio/voices/mapping")).json()
        response = await http.put("/api/openai-voicemap", params=query, json=body)
        assert response.status_code == status, response.text
        assert response.json()["error"]["param"] == param
        assert (await http.get("/v1/audio/voices/mapping")).json() == before


async def test_alltalk_remap_needs_a_key_when_keys_are_set(tmp_path):
    keys = {"VOXGATE_API_KEYS": "sk-one"}
    async with app_client(TOML, PLUGINS, environ=keys) as http:
        refused = await http.put("/api/openai-voicemap", json=ALLTALK_BODY)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        allowed = await http.put(
            "/api/openai-voicemap",
            json=ALLTALK_BODY,
            headers={"Authorization": "Bearer sk-one"},
        )
    assert allowed.status_code == 200


async def test_alltalk_remap_is_saved_like_any_edit(tmp_path):
    path = tmp_path / "voices.json"
    async with app_client(with_file(path), PLUGINS) as http:
        assert (await http.put("/api/openai-voicemap", json={"Echo": "low"})).status_code == 400
        assert not path.exists()
        assert (await http.put("/api/openai-voicemap", json={"echo": "low"})).status_code == 200
    assert json.loads(path.read_text())["tone"] == {"alloy": "low", "echo": "low"}
