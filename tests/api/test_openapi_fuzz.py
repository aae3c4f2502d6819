"""Schemathesis against voxgate's own OpenAPI document: no 5xx, every answer as documented.

The app runs on fake engines (and a fake chat upstream) in uvicorn on loopback; schemathesis
reads ``/docs/openapi.json`` and sends generated requests to every operation, valid and not.
CI runs a few examples per operation (``VOXGATE_FUZZ_EXAMPLES``, default 10); a longer run:

    VOXGATE_FUZZ_EXAMPLES=500 python -m pytest tests/api/test_openapi_fuzz.py
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from servers import served

import voxgate_openai_upstream
import voxgate_voices
from tests.conftest import FAKE_TOML
from voxgate.api.openapi import corrected
from voxgate.testing import build_test_app, fakes

EXAMPLES = int(os.environ.get("VOXGATE_FUZZ_EXAMPLES", "10"))
EXCLUDED = [
    # "schema-valid data must be accepted": voxgate also judges values no schema can state
    # (a language code it knows, a voice the engine has, a model the server routes)
    checks.positive_data_acceptance,
    # Litestar answers OPTIONS on a path whose GET and PUT come from a plugin with only
    # `Allow: GET, OPTIONS`; not an API route anyone calls (CORS preflights are answered apart)
    checks.allow_header_conformance,
]


def app_toml(upstream_url: str) -> str:
    return FAKE_TOML + f'\n[chat.upstream]\nkind = "openai"\nbase_url = "{upstream_url}"\n'


def fuzzed_app(upstream_url: str):
    return build_test_app(app_toml(upstream_url), [fakes, voxgate_voices, voxgate_openai_upstream])


@pytest.fixture(scope="module")
def fuzzed_server(upstream_server):
    """The app with every built-in route and a chat upstream, served once for the module."""
    with served(fuzzed_app(upstream_server.url)) as address:
        yield f"http://{address}"


# The document the server serves at /docs/openapi.json (the same function renders it); read
# here at import, as schemathesis parametrizes the test by operation when it is collected.
schema = schemathesis.openapi.from_dict(
    corrected(fuzzed_app("http://upstream.invalid/v1").openapi_schema.to_schema())
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # CI sees the same examples every run; the long run explores
)
def test_the_api_answers_as_documented(case, fuzzed_server):
    """Generated requests get documented answers: no 5xx, the envelope on every error."""
    case.call_and_validate(base_url=fuzzed_server, timeout=30, excluded_checks=EXCLUDED)


async def test_the_served_document_has_forms_audio_and_the_envelope(plugins):
    from voxgate.testing import app_client

    async with app_client(FAKE_TOML, plugins) as http:
        document = (await http.get("/docs/openapi.json")).json()
    paths = document["paths"]
    form = paths["/v1/audio/transcriptions"]["post"]["requestBody"]["content"]
    fields = form["multipart/form-data"]["schema"]
    assert {"file", "model"} <= set(fields["required"])
    assert "timestamp_granularities" in fields["properties"]
    speech = paths["/v1/audio/speech"]["post"]["responses"]
    assert {"audio/mpeg", "audio/wav", "text/event-stream"} <= set(speech["200"]["content"])
    for item in paths.values():
        for method, operation in item.items():
            if method == "head":
                continue  # HEAD /health and /ready: no body, no error
            for status in ("4XX", "5XX"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    envelope = document["components"]["schemas"]["ErrorDetail"]
    assert set(envelope["required"]) == {"message", "type", "param", "code"}
