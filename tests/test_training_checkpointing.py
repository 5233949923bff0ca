"""Activation checkpointing is on under every supported transformers, not only those that map the new name."""

from __future__ import annotations

import pytest
from transformers import TrainingArguments

from training.config import TuluDPOConfig, TuluRewardConfig, TuluSFTConfig

CONFIGS = (TuluSFTConfig, TuluDPOConfig, TuluRewardConfig)


@pytest.fixture
def fields_seen_by_transformers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, object]]:
    """Record both checkpointing fields as ``TrainingArguments.__post_init__`` receives them (the real one
    still runs). transformers < 5.23 reads ``gradient_checkpointing`` there and nothing else."""
    seen: list[tuple[object, object]] = []
    original = TrainingArguments.__post_init__

    def recording(self: TrainingArguments) -> None:
        seen.append((self.activation_checkpointing, self.gradient_checkpointing))
        original(self)

    monkeypatch.setattr(TrainingArguments, "__post_init__", recording)
    return seen


@pytest.mark.parametrize("config_class", CONFIGS)
def test_checkpointing_is_on_before_transformers_resolves_it(
    config_class: type, fields_seen_by_transformers: list
) -> None:
    args = config_class(mix="m", model="tiny")
    assert fields_seen_by_transformers[-1] == (True, True)
    assert (args.activation_checkpointing, args.gradient_checkpointing) == (True, True)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"activation_checkpointing": False}, False),
        ({"gradient_checkpointing": False}, False),  # the deprecated alias still switches it off
        ({"gradient_checkpointing": True}, True),
        ({"activation_checkpointing": False, "gradient_checkpointing": True}, False),  # the new name wins
    ],
)
def test_either_name_switches_it(flags: dict, expected: bool, fields_seen_by_transformers: list) -> None:
    args = TuluSFTConfig(mix="m", model="tiny", **flags)
    assert fields_seen_by_transformers[-1] == (expected, expected)
    assert (args.activation_checkpointing, args.gradient_checkpointing) == (expected, expected)
