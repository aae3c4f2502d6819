"""Logs never carry keys, audio payloads or base64; JSON when asked."""

from __future__ import annotations

import base64
import json
import logging

import structlog

from voxgate.logging import configure_logging, redact


def test_sensitive_keys_are_redacted():
    event = redact(
        None,
        "info",
        {
            "event": "upstream call",
            "api_key": "sk-live-123",
            "authorization": "Bearer sk-live-123",
            "audio": b"\x00\x01" * 100,
            "input_audio": "AAAA",
            "model": "whisper-1",
        },
    )
    assert event["api_key"] == "[redacted]"
    assert event["authorization"] == "[redacted]"
    assert event["audio"] == "[redacted]"
    assert event["input_audio"] == "[redacted]"
    assert event["model"] == "whisper-1"


def test_payloads_hidden_in_other_fields_are_scrubbed():
    blob = base64.b64encode(bytes(range(256)) * 4).decode()
    event = redact(
        None,
        "info",
        {"event": f"got {blob}", "note": f"header was Bearer sk-abc and {blob}", "raw": b"xyz"},
    )
    assert blob not in event["event"]
    assert blob not in event["note"]
    assert "sk-abc" not in event["note"]
    assert event["raw"] == "<3 bytes>"


def test_long_strings_are_truncated():
    event = redact(None, "info", {"event": "x", "text": "word " * 500})
    assert len(event["text"]) < 600


def test_json_output_for_structlog_and_stdlib(capsys):
    configure_logging("json", "info", cache=False)
    try:
        structlog.get_logger("voxgate.test").info("hello", api_key="sk-secret", n=1)
        logging.getLogger("thirdparty").warning("stdlib line with Bearer sk-secret2")
        err = capsys.readouterr().err.strip().splitlines()
        records = [json.loads(line) for line in err]
        assert records[0]["event"] == "hello"
        assert records[0]["api_key"] == "[redacted]"
        assert records[0]["n"] == 1
        assert records[1]["logger"] == "thirdparty"
        assert "sk-secret" not in "\n".join(err)
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


def test_keys_in_urls_and_subprotocols_are_scrubbed():
    event = redact(
        None,
        "info",
        {
            "event": 'WS "GET /v1/realtime?model=x&api_key=sk-1" [accepted] openai-insecure-api-key.sk-2'
        },
    )
    assert "sk-1" not in event["event"]
    assert "sk-2" not in event["event"]
    assert "model=x" in event["event"]
