"""One test per hook (``test_hook_<name>``), and meta-tests that keep hooks documented and tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest
import voxgate_test_routes

import voxgate_routing
from tests.conftest import FAKE_TOML
from tests.plugins.conftest import plugin_module
from voxgate import (
    ChatProxy,
    ConfigBase,
    ConfigProblem,
    MemoryConfig,
    MemoryStore,
    VoiceChoice,
    hookimpl,
)
from voxgate.config import ConfigError, load_config_from_str
from voxgate.plugins import hookspecs
from voxgate.plugins.hooks import Hooks
from voxgate.plugins.manager import make_plugin_manager
from voxgate.plugins.registry import PluginError
from voxgate.runtime import build_runtime
from voxgate.testing import app_client, fakes

REPO = Path(__file__).resolve().parents[2]
HOOK_NAMES = sorted(name for name, fn in vars(hookspecs).items() if hasattr(fn, "voxgate_spec"))


def hooks_with(*extra: object) -> Hooks:
    return Hooks(
        make_plugin_manager(
            plugins=[voxgate_routing, fakes, *extra], entry_points_enabled=False, trace=False
        )
    )


# -- meta-tests --------------------------------------------------------------------------------


def test_hook_names_are_what_the_architecture_lists():
    assert (
        sorted(
            [
                "register_settings",
                "check_config",
                "register_stt_engines",
                "register_tts_engines",
                "register_transcoders",
                "register_chat_proxies",
                "register_diarizers",
                "register_state_stores",
                "register_model_sources",
                "resolve_model",
                "map_voice",
                "register_litestar_plugins",
            ]
        )
        == HOOK_NAMES
    )


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_every_hook_is_documented_with_its_signature(name):
    docs = (REPO / "docs" / "plugins" / "hooks.md").read_text(encoding="utf-8")
    args = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    assert f"## {name}({args})" in docs, f"docs/plugins/hooks.md lacks `## {name}({args})`"


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_every_hook_has_a_test(name):
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "tests").rglob("test_*.py"))
    assert re.search(rf"def test_hook_{name}\b", sources), f"no test_hook_{name}"


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_every_hook_spec_says_when_and_whether_firstresult(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert "Called" in doc
    assert "firstresult" in doc.lower()
    assert "Default" in doc


# -- one test per hook -------------------------------------------------------------------------


class GreetingSettings(ConfigBase):
    text: str = "hello"
    repeat: int = 1


def test_hook_register_settings():
    @hookimpl
    def register_settings(register):
        register("greeting", GreetingSettings)

    hooks = hooks_with(plugin_module("voxgate_greeting", register_settings=register_settings))
    config = load_config_from_str('[greeting]\ntext = "hi"\n', hooks, environ={})
    assert config.settings["greeting"] == GreetingSettings(text="hi")
    with pytest.raises(ConfigError) as info:
        load_config_from_str('[greeting]\nrepeat = "x"\nshout = true\n', hooks, environ={})
    paths = {p.path for p in info.value.problems}
    assert paths == {"greeting.repeat", "greeting.shout"}


def test_hook_register_settings_cannot_take_a_core_table():
    @hookimpl
    def register_settings(register):
        register("server", GreetingSettings)

    hooks = hooks_with(plugin_module("voxgate_greedy", register_settings=register_settings))
    with pytest.raises(ConfigError, match="a plugin claimed a core table"):
        load_config_from_str("", hooks, environ={})


def test_hook_check_config():
    @hookimpl
    def check_config(config):
        if "tone" in config.instances and not config.instances["tone"].settings.preload:
            return [ConfigProblem("tts.tone.preload", "tone must be preloaded")]
        return None

    hooks = hooks_with(plugin_module("voxgate_strict", check_config=check_config))
    with pytest.raises(ConfigError) as info:
        load_config_from_str(FAKE_TOML, hooks, environ={})
    assert [str(p) for p in info.value.problems] == ["tts.tone.preload: tone must be preloaded"]
    fixed = FAKE_TOML.replace('kind = "fake-tts"', 'kind = "fake-tts"\npreload = true')
    assert load_config_from_str(fixed, hooks, environ={}).instances["tone"].settings.preload


def test_hook_register_stt_engines():
    hooks = hooks_with()
    assert hooks.registry.stt == {"fake-stt": fakes.FakeSttEngine}
    assert hooks.registry.owners[("stt", "fake-stt")] == "voxgate.testing.fakes"


def test_hook_register_tts_engines():
    hooks = hooks_with()
    assert hooks.registry.tts == {"fake-tts": fakes.FakeTtsEngine}
    runtime = build_runtime(load_config_from_str(FAKE_TOML, hooks, environ={}), hooks)
    assert runtime.tts_engine("tts-1").name == "tone"


class TwoSpeakers(fakes.FakeDiarizer):
    kind: ClassVar[str] = "two-speakers"


def test_hook_register_diarizers():
    @hookimpl
    def register_diarizers(register):
        register(TwoSpeakers)

    hooks = hooks_with(plugin_module("voxgate_two", register_diarizers=register_diarizers))
    assert hooks.registry.diarize == {
        "fake-diarize": fakes.FakeDiarizer,
        "two-speakers": TwoSpeakers,
    }
    assert hooks.registry.owners[("diarize", "two-speakers")] == "voxgate_two"
    toml = (
        FAKE_TOML
        + '"who" = { stt = "fake-stt", diarize = "pair" }\n'
        + '[diarize.pair]\nkind = "two-speakers"\nturn_seconds = 2.0\n'
    )
    config = load_config_from_str(toml, hooks, environ={})
    assert config.instances["pair"].options == fakes.FakeDiarizerConfig(turn_seconds=2.0)
    runtime = build_runtime(config, hooks)
    found = runtime.diarizer("who")
    assert found is not None
    assert found.name == "pair"
    assert found.engine_class is TwoSpeakers
    assert runtime.diarizer("whisper-1") is None, "a route without a diarizer"
    with pytest.raises(ConfigError) as info:
        load_config_from_str(
            toml.replace('diarize = "pair"', 'diarize = "nope"').replace("turn_seconds", "turns"),
            hooks,
            environ={},
        )
    assert sorted(str(p).split(":")[0] for p in info.value.problems) == [
        "diarize.pair.turns",
        "models.who.diarize",
    ]

    class NotADiarizer:
        kind = "nothing"

    @hookimpl
    def register_bad(register):
        register(NotADiarizer)

    bad = hooks_with(plugin_module("voxgate_bad", register_diarizers=register_bad))
    with pytest.raises(PluginError, match="must be a subclass of voxgate.Diarizer"):
        _ = bad.registry


class AacFastTranscoder(fakes.WavTranscoder):
    kind: ClassVar[str] = "aac-fast"  # sorts before "pyav"


def test_hook_register_transcoders():
    hooks = hooks_with()
    config = load_config_from_str('[transcoder]\nkind = "wav"\n', hooks, environ={})
    runtime = build_runtime(config, hooks)
    assert isinstance(runtime.transcoder, fakes.WavTranscoder)
    assert runtime.transcoder.context.instance == "transcoder:wav"
    unset = build_runtime(load_config_from_str("", hooks, environ={}), hooks)
    assert unset.transcoder is None, "the default, pyav, is not among these plugins"


def test_an_installed_transcoder_never_replaces_the_configured_one():
    import voxgate_pyav

    @hookimpl
    def register_transcoders(register):
        register(AacFastTranscoder)

    hooks = hooks_with(
        voxgate_pyav, plugin_module("voxgate_aac_fast", register_transcoders=register_transcoders)
    )
    assert set(hooks.registry.transcoder) == {"aac-fast", "pyav", "wav"}
    runtime = build_runtime(load_config_from_str("", hooks, environ={}), hooks)
    assert isinstance(runtime.transcoder, voxgate_pyav.PyAvTranscoder), "pyav by default"
    chosen = load_config_from_str('[transcoder]\nkind = "aac-fast"\n', hooks, environ={})
    assert isinstance(build_runtime(chosen, hooks).transcoder, AacFastTranscoder)


class EchoProxyConfig(ConfigBase):
    base_url: str


class EchoProxy(ChatProxy):
    kind: ClassVar[str] = "echo"
    Config: ClassVar[type[ConfigBase]] = EchoProxyConfig

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    async def stream(self, body: dict[str, Any]) -> Any:
        yield body


def test_hook_register_chat_proxies():
    @hookimpl
    def register_chat_proxies(register):
        register(EchoProxy)

    hooks = hooks_with(plugin_module("voxgate_echo", register_chat_proxies=register_chat_proxies))
    toml = '[chat.llm]\nkind = "echo"\nbase_url = "http://127.0.0.1:1"\n[models]\n"gpt-4o" = { chat = "llm" }\n'
    config = load_config_from_str(toml, hooks, environ={})
    assert config.instances["llm"].options == EchoProxyConfig(base_url="http://127.0.0.1:1")
    assert hooks.resolve_model("gpt-4o", "chat", config) == "llm"
    with pytest.raises(ConfigError, match="chat.llm.base_url: missing required key"):
        load_config_from_str('[chat.llm]\nkind = "echo"\n', hooks, environ={})


class DictStore(MemoryStore):
    """A third-party state kind for the test: the memory store under another scheme."""

    kind = "dict"
    schemes: ClassVar[frozenset[str]] = frozenset({"dict"})


def test_hook_register_state_stores():
    @hookimpl
    def register_state_stores(register):
        register(DictStore)

    hooks = hooks_with(plugin_module("voxgate_dict", register_state_stores=register_state_stores))
    config = load_config_from_str('[state]\nurl = "dict://"\nmax_entries = 3\n', hooks, environ={})
    assert config.state is not None
    assert (config.state.kind, config.state.options) == ("dict", MemoryConfig(max_entries=3))
    runtime = build_runtime(config, hooks)
    assert isinstance(runtime.state_store, DictStore)
    assert hooks.registry.kinds_of("voxgate_dict") == {"state": ["dict"]}

    @hookimpl
    def register_twice(register):
        register(DictStore)

    twice = hooks_with(
        plugin_module("voxgate_dict", register_state_stores=register_state_stores),
        plugin_module("voxgate_dict2", register_state_stores=register_twice),
    )
    with pytest.raises(PluginError, match="registered twice"):
        _ = twice.registry


def test_hook_register_model_sources(tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()

    @hookimpl
    def register_model_sources(register):
        def resolve(reference, context):
            assert context.cache_dir.name == "cache"
            return weights / reference

        register("mem", resolve)

    hooks = hooks_with(plugin_module("voxgate_mem", register_model_sources=register_model_sources))
    config = load_config_from_str(
        f'[server]\ncache_dir = "{tmp_path / "cache"}"\n', hooks, environ={}
    )
    runtime = build_runtime(config, hooks)
    assert runtime.model_sources.resolve("mem:tiny") == weights / "tiny"
    assert runtime.model_sources.resolve(str(weights)) == weights, "local paths need no scheme"
    with pytest.raises(LookupError, match=r"unknown model source `hub:`.*registered: mem:"):
        runtime.model_sources.resolve("hub:org/model")


def test_model_sources_are_told_when_downloads_are_off(tmp_path):
    seen = []

    @hookimpl
    def register_model_sources(register):
        def resolve(reference, context):
            seen.append(context.offline)
            return tmp_path

        register("net", resolve)

    hooks = hooks_with(plugin_module("voxgate_net", register_model_sources=register_model_sources))
    for toml in ("", "[server]\noffline = false\n", "[server]\noffline = true\n"):
        runtime = build_runtime(load_config_from_str(toml, hooks, environ={}), hooks)
        runtime.model_sources.resolve("net:model")
    assert seen == [False, False, True]


async def test_hook_resolve_model():
    @hookimpl(tryfirst=True)
    def resolve_model(model, task):
        return "tone" if task == "tts" and model.startswith("custom-") else None

    hooks = hooks_with(plugin_module("voxgate_router", resolve_model=resolve_model))
    config = load_config_from_str(FAKE_TOML, hooks, environ={})
    assert hooks.resolve_model("custom-voice", "tts", config) == "tone"
    assert hooks.resolve_model("tts-1", "tts", config) == "tone", "the default still answers"
    assert hooks.resolve_model("whisper-1", "stt", config) == "fake-stt"
    assert hooks.resolve_model("Systran/faster-whisper-tiny.en", "stt", config) == "fake-stt"
    assert hooks.resolve_model("fake-stt", "stt", config) == "fake-stt", "instance names too"
    assert hooks.resolve_model("tts-1", "stt", config) is None, "a TTS alias is no STT model"
    assert hooks.resolve_model("nope", "stt", config) is None


def test_hook_map_voice():
    hooks = hooks_with()
    config = load_config_from_str(FAKE_TOML, hooks, environ={})
    assert hooks.map_voice("alloy", "tts-1", "tone", config) is None

    @hookimpl
    def map_voice(voice, engine):
        return VoiceChoice(voice_id="low") if (voice, engine) == ("onyx", "tone") else None

    hooks = hooks_with(plugin_module("voxgate_deep", map_voice=map_voice))
    assert hooks.map_voice("onyx", "tts-1", "tone", config) == VoiceChoice(voice_id="low")
    assert hooks.map_voice("alloy", "tts-1", "tone", config) is None


async def test_hook_register_litestar_plugins():
    async with app_client(FAKE_TOML, [fakes, voxgate_test_routes]) as client:
        response = await client.post(
            "/v1/test/speech", json={"model": "tts-1", "input": "one two three"}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/pcm"
        # three words, 0.1 s each at 24 kHz, 2 bytes per sample
        assert len(response.content) == 3 * 2400 * 2
        missing = await client.post("/v1/test/speech", json={"model": "nope", "input": "x"})
        assert missing.json()["error"]["code"] == "model_not_found"
    async with app_client(FAKE_TOML, [fakes]) as client:
        response = await client.post("/v1/test/speech", json={"model": "tts-1", "input": "x"})
        assert response.status_code == 404, "without the plugin, the route does not exist"
