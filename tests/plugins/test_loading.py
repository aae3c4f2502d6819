"""Plugin loading: entry points, allow/deny lists, duplicates, misspelled hooks, tracing."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

import voxgate_routing
from tests.plugins.conftest import plugin_module
from voxgate import hookimpl
from voxgate.plugins.hooks import Hooks
from voxgate.plugins.manager import make_plugin_manager, plugin_selection
from voxgate.plugins.registry import PluginError
from voxgate.testing import fakes

BEEP_PLUGIN = """
from voxgate import hookimpl
from voxgate.testing.fakes import FakeTtsEngine


class BeepEngine(FakeTtsEngine):
    kind = "beep"


@hookimpl
def register_tts_engines(register):
    register(BeepEngine)
"""


def test_entry_point_discovery_loads_builtins_and_third_party(install_dist):
    name = install_dist("voxgate-beep", "voxgate_beep", BEEP_PLUGIN)
    pm = make_plugin_manager()
    assert pm.has_plugin("routing"), "built-ins come from the same entry-point group"
    assert pm.origins["routing"].distribution == "voxgate"
    assert pm.has_plugin(name)
    assert pm.origins[name].distribution == "voxgate-beep"
    assert pm.origins[name].version == "1.0"
    hooks = Hooks(pm)
    assert "beep" in hooks.registry.tts
    info = {i.name: i for i in hooks.plugin_infos()}[name]
    assert info.hooks == ["register_tts_engines"]
    assert info.kinds == {"tts": ["beep"]}


def test_load_allowlist_limits_third_party_only(install_dist):
    name = install_dist("voxgate-beep", "voxgate_beep", BEEP_PLUGIN)
    pm = make_plugin_manager(load=[])
    assert not pm.has_plugin(name)
    assert pm.has_plugin("routing"), "built-ins load unless disabled"
    assert make_plugin_manager(load=[name]).has_plugin(name)
    assert make_plugin_manager(load=["voxgate-beep"]).has_plugin(name), "by distribution too"


def test_disable_applies_to_builtins_and_third_party(install_dist):
    name = install_dist("voxgate-beep", "voxgate_beep", BEEP_PLUGIN)
    pm = make_plugin_manager(disable=[name, "routing"])
    assert not pm.has_plugin(name)
    assert not pm.has_plugin("routing")
    assert pm.is_blocked("routing")


def test_selection_from_toml_and_environment():
    table = {"load": ["a"], "disable": ["b"]}
    assert plugin_selection(table, {}) == (["a"], ["b"])
    env = {"VOXGATE_LOAD_PLUGINS": "x, y", "VOXGATE_DISABLE_PLUGINS": ""}
    assert plugin_selection(table, env) == (["x", "y"], [])
    assert plugin_selection(None, {"VOXGATE_LOAD_PLUGINS": ""}) == ([], [])
    assert plugin_selection(None, {}) == (None, [])


def test_misspelled_hook_fails_loudly():
    @hookimpl
    def register_tts_engine(register):  # missing the final "s"
        return None

    typo = plugin_module("voxgate_typo", register_tts_engine=register_tts_engine)
    with pytest.raises(PluginError, match="unknown hook 'register_tts_engine'"):
        make_plugin_manager(plugins=[typo], entry_points_enabled=False)


def test_hookimpl_with_unknown_argument_fails_at_registration():
    @hookimpl
    def resolve_model(model, flavour):
        return None

    bad = plugin_module("voxgate_bad_args", resolve_model=resolve_model)
    with pytest.raises(Exception, match="flavour"):
        make_plugin_manager(plugins=[bad], entry_points_enabled=False)


def test_kind_registered_twice_names_both_plugins():
    @hookimpl
    def register_tts_engines(register):
        register(fakes.FakeTtsEngine)

    twin = plugin_module("voxgate_twin", register_tts_engines=register_tts_engines)
    pm = make_plugin_manager(plugins=[fakes, twin], entry_points_enabled=False)
    with pytest.raises(PluginError) as info:
        _ = Hooks(pm).registry
    message = str(info.value)
    assert "`fake-tts` is registered twice" in message
    assert "voxgate.testing.fakes" in message
    assert "voxgate_twin" in message


def test_registering_a_non_engine_is_rejected():
    @hookimpl
    def register_stt_engines(register):
        register(dict)

    odd = plugin_module("voxgate_odd", register_stt_engines=register_stt_engines)
    pm = make_plugin_manager(plugins=[odd], entry_points_enabled=False)
    with pytest.raises(PluginError, match="subclass of voxgate.SttEngine"):
        _ = Hooks(pm).registry


class ListSttEngine(fakes.FakeSttEngine):
    kind = "list-stt"

    def transcribe(self, audio, options):  # a plain function: all its work happens at the call
        return list(super().transcribe(audio, options))


class ReturningTtsEngine(fakes.FakeTtsEngine):
    kind = "returning-tts"

    def synthesize(self, text, voice, options):
        return iter(list(super().synthesize(text, voice, options)))


@pytest.mark.parametrize(
    ("hook", "engine", "method"),
    [
        ("register_stt_engines", ListSttEngine, "transcribe"),
        ("register_tts_engines", ReturningTtsEngine, "synthesize"),
    ],
)
def test_an_engine_whose_compute_is_not_a_generator_is_rejected(hook, engine, method):
    def register_hook(register):
        register(engine)

    register_hook.__name__ = hook
    plain = plugin_module("voxgate_plain", **{hook: hookimpl(register_hook)})
    pm = make_plugin_manager(plugins=[plain], entry_points_enabled=False)
    with pytest.raises(PluginError) as info:
        _ = Hooks(pm).registry
    message = str(info.value)
    assert "plugin `voxgate_plain`" in message
    assert f"{engine.__name__}.{method} must be a generator function" in message


def test_every_built_in_and_example_engine_registers(monkeypatch):
    template = Path(__file__).resolve().parents[2] / "docs" / "plugins" / "template"
    monkeypatch.syspath_prepend(str(template))
    import voxgate_example

    import voxgate_coqui
    import voxgate_faster_whisper
    import voxgate_kokoro
    import voxgate_piper

    builtins = [voxgate_faster_whisper, voxgate_kokoro, voxgate_piper, voxgate_coqui]
    pm = make_plugin_manager(
        plugins=[*builtins, fakes, voxgate_example], entry_points_enabled=False
    )
    registry = Hooks(pm).registry
    assert set(registry.stt) == {"faster-whisper", "fake-stt"}
    assert {"kokoro", "piper", "coqui", "fake-tts"} <= set(registry.tts)
    assert len(registry.tts) == 5, "the template's example engine too"


def test_broken_entry_point_names_the_plugin(install_dist):
    install_dist("voxgate-broken", "voxgate_broken", "raise ImportError('no such engine lib')\n")
    with pytest.raises(PluginError, match="`broken` from voxgate-broken failed to import"):
        make_plugin_manager()


def test_trace_logs_every_hook_call():
    pm = make_plugin_manager(
        plugins=[voxgate_routing, fakes], entry_points_enabled=False, trace=True
    )
    with structlog.testing.capture_logs() as logs:
        _ = Hooks(pm).registry
    traced = {entry["hook"] for entry in logs if entry["event"] == "hook call"}
    assert {"register_stt_engines", "register_tts_engines", "register_transcoders"} <= traced


def test_register_hooks_run_once_per_manager():
    calls = []

    @hookimpl
    def register_tts_engines(register):
        calls.append(1)

    counted = plugin_module("voxgate_counted", register_tts_engines=register_tts_engines)
    pm = make_plugin_manager(plugins=[counted], entry_points_enabled=False)
    _ = Hooks(pm).registry
    _ = Hooks(pm).registry  # the CLI's facade and the app's share one collection
    assert calls == [1]


def test_check_config_failure_names_the_problem():
    from voxgate.config import load_config_from_str

    @hookimpl
    def check_config(config):
        raise ValueError("broken check")

    broken = plugin_module("voxgate_broken_check", check_config=check_config)
    pm = make_plugin_manager(plugins=[broken], entry_points_enabled=False)
    with pytest.raises(PluginError, match="broken check"):
        load_config_from_str("", Hooks(pm), environ={})
