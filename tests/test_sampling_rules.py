"""One set of sampling rules for the CLI flags, the Python API and the chat UI's /set."""

from __future__ import annotations

import math

import pytest

from vibe_local.cli import main
from vibe_local.errors import InvalidRequestError
from vibe_local.generation import Sampling
from vibe_local.sampling_rules import SEED_MAX, check_sampling_value, validate_sampling
from vibe_local.tui.commands import parse_setting

BAD = [
    ("temperature", "nan", "finite"), ("temperature", "inf", "finite"),
    ("temperature", "-0.1", "between 0.0 and 2.0"), ("temperature", "2.5", "between"),
    ("top_p", "0", "above 0.0"), ("top_p", "1.5", "at most 1.0"), ("top_p", "nan", "finite"),
    ("top_k", "-1", "at least 0"), ("top_k", "2.5", "whole number"),
    ("min_p", "-0.5", "between 0.0 and 1.0"), ("min_p", "inf", "finite"),
    ("max_tokens", "0", "at least 1"), ("max_tokens", "-5", "at least 1"),
    ("max_tokens", "x", "whole number"), ("think_budget", "-1", "at least 0"),
    ("seed", "-1", "between 0 and"), ("seed", str(SEED_MAX + 1), "between 0 and"),
]


@pytest.mark.parametrize("name, raw, words", BAD)
def test_the_rules_refuse_with_one_clear_message(name: str, raw: str, words: str) -> None:
    with pytest.raises(InvalidRequestError, match=f"^{name} must be .*{words}"):
        check_sampling_value(name, raw)


@pytest.mark.parametrize("name, raw", [(n, r) for n, r, _ in BAD])
def test_the_cli_refuses_the_same_values_as_a_usage_error(capsys, name: str, raw: str) -> None:
    flag = f"--{name.replace('_', '-')}"
    with pytest.raises(SystemExit) as caught:
        main(["run", "-m", "model.gguf", f"{flag}={raw}", "hi"])
    err = capsys.readouterr().err
    assert caught.value.code == 2 and len(err.strip().splitlines()) == 1
    assert f"argument {flag}: {name} must be" in err


@pytest.mark.parametrize("name, raw", [(n, r) for n, r, _ in BAD])
def test_the_chat_ui_refuses_the_same_values(name: str, raw: str) -> None:
    with pytest.raises(InvalidRequestError, match=f"{name} must be"):
        parse_setting(f"{name} {raw}")


def test_good_values_keep_their_kind() -> None:
    assert check_sampling_value("temperature", 0) == 0.0
    assert isinstance(check_sampling_value("temperature", "1"), float)
    assert check_sampling_value("top_k", 40.0) == 40 and check_sampling_value("seed", "7") == 7
    assert check_sampling_value("think_budget", None) is None
    assert check_sampling_value("seed", "off") is None
    for kind, bad in (("max_tokens", True), ("max_tokens", 1.5), ("temperature", "")):
        with pytest.raises(InvalidRequestError):
            check_sampling_value(kind, bad)


def test_a_whole_sampling_is_checked() -> None:
    assert validate_sampling(Sampling()) == Sampling()
    with pytest.raises(InvalidRequestError, match="top_p"):
        validate_sampling(Sampling(top_p=math.nan))


def test_the_api_refuses_the_same_values(scripted, backend_ready) -> None:
    import vibe_local

    with vibe_local.load(scripted.gguf) as model:
        for name, raw, _ in BAD:
            with pytest.raises(InvalidRequestError, match=f"{name} must be"):
                model.chat("hi", **{name: _typed(name, raw)})
        assert model.chat("hi", temperature=0, seed=1, max_tokens=3).stats.completion_tokens <= 3


def _typed(name: str, raw: str):
    """The value as a Python caller would pass it (numbers as numbers where they parse)."""
    try:
        return float(raw) if name in ("temperature", "top_p", "min_p") else int(raw)
    except ValueError:
        return raw
