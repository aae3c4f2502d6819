"""``Component`` is generic over its config: ``TtsEngine[PiperConfig]`` sets ``Config`` too."""

from __future__ import annotations

from pathlib import Path
from typing import Generic, TypeVar

import pytest

from voxgate import (
    ComponentContext,
    ConfigBase,
    EmptyConfig,
    SttEngine,
    Transcoder,
    TtsEngine,
)
from voxgate.testing import FakeTtsEngine, WavTranscoder
from voxgate.testing.fakes import FakeTtsConfig


class BeepConfig(ConfigBase):
    frequency: float = 440.0


class LoudBeepConfig(BeepConfig):
    gain: float = 2.0


class BeepEngine(TtsEngine[BeepConfig]):
    kind = "beep"


def context() -> ComponentContext:
    return ComponentContext(instance="x", cache_dir=Path(), resolve_model_path=Path)


def test_config_comes_from_the_type_argument():
    assert BeepEngine.Config is BeepConfig
    assert FakeTtsEngine.Config is FakeTtsConfig
    config = FakeTtsConfig(frequency=220.0)
    assert FakeTtsEngine(config, context()).config is config


def test_a_bare_subclass_takes_no_options():
    class Plain(SttEngine):
        kind = "plain"

    assert Plain.Config is EmptyConfig
    assert WavTranscoder.Config is EmptyConfig
    assert Transcoder.Config is EmptyConfig


def test_subclasses_inherit_their_parents_config():
    class Louder(BeepEngine):
        kind = "louder"

    assert Louder.Config is BeepConfig


def test_an_explicit_config_still_works_when_it_agrees():
    class Same(TtsEngine[BeepConfig]):
        Config = BeepConfig

    class Narrower(TtsEngine[BeepConfig]):
        Config = LoudBeepConfig

    class Untyped(TtsEngine):
        Config = BeepConfig

    assert Same.Config is BeepConfig
    assert Narrower.Config is LoudBeepConfig
    assert Untyped.Config is BeepConfig


def test_an_explicit_config_that_disagrees_is_refused():
    with pytest.raises(TypeError, match="config type BeepConfig"):

        class Wrong(TtsEngine[BeepConfig]):
            Config = EmptyConfig


def test_the_type_argument_must_be_a_config():
    with pytest.raises(TypeError, match="must be a ConfigBase subclass"):

        class Wrong(TtsEngine[int]):  # type: ignore[type-var]
            pass


def test_a_generic_intermediate_leaves_config_to_its_subclasses():
    C = TypeVar("C", bound=ConfigBase)

    class Base(TtsEngine[C], Generic[C]):
        pass

    class Concrete(Base[LoudBeepConfig]):
        kind = "concrete"

    assert Base.Config is EmptyConfig
    assert Concrete.Config is LoudBeepConfig
