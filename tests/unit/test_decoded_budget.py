"""The server's cap on decoded audio in flight: 503 while full, 400 for what never fits."""

from __future__ import annotations

import pytest

from voxgate.errors import InvalidRequestError, ServiceUnavailableError
from voxgate.services.decoded_budget import DecodedAudioBudget


def test_reserve_until_full_then_503_with_retry_after():
    budget = DecodedAudioBudget(100)
    release = budget.reserve(60, retry_after=3)
    with pytest.raises(ServiceUnavailableError) as raised:
        budget.reserve(50, retry_after=3)
    assert raised.value.headers == {"Retry-After": "3"}
    assert raised.value.code == "decoded_audio_limit"
    release()
    release()  # twice gives back once
    assert budget.held == 0
    budget.reserve(100, retry_after=1)
    assert budget.held == 100


def test_more_than_the_whole_budget_is_a_400():
    with pytest.raises(InvalidRequestError, match="max_decoded_audio_bytes") as raised:
        DecodedAudioBudget(100).reserve(101, retry_after=1)
    assert raised.value.param == "file"
