"""The model catalogue: the shipped models.toml, the user's additions, and malformed entries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vibe_local.catalog import (
    CatalogEntry,
    GgufSource,
    catalog_files,
    get_entry,
    load_catalog,
    split_ref,
)
from vibe_local.errors import CatalogError, ModelNotFoundError

GOOD = """
[models."my-model"]
name = "My-Model"
source = "me/My-Model"
architecture = "Qwen2ForCausalLM"
parameters = 1000
context = 4096
ladder = ["q8_0", "Q4_K_M"]
colour = "blue"   # unknown keys are ignored

[models."my-model".sampling]
temperature = 1
top_p = 0.9

[[models."my-model".gguf]]
repo = "me/My-Model-GGUF"
pattern = "My-Model-{quant}.gguf"
"""


def _user_catalog(text: str) -> Path:
    path = Path(os.environ["VIBE_LOCAL_HOME"]) / "models.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_catalogue_has_both_vibethinker_models() -> None:
    catalog = load_catalog()
    assert {"vibethinker-1.5b", "vibethinker-3b"} <= set(catalog)
    entry = catalog["vibethinker-3b"]
    assert (entry.source, entry.base) == ("WeiboAI/VibeThinker-3B", "Qwen/Qwen2.5-Coder-3B")
    assert entry.context == 40960 and entry.license == "MIT" and "Q4_K_M" in entry.ladder
    assert catalog["vibethinker-1.5b"].source == "WeiboAI/VibeThinker-1.5B"
    sampling = entry.sampling
    assert (sampling.temperature, sampling.top_p, sampling.top_k, sampling.max_tokens) == \
        (0.6, 0.95, 0, 40960)
    assert catalog_files()[0].name == "models.toml"


def test_user_entries_extend_and_replace() -> None:
    _user_catalog(GOOD + """
[models."vibethinker-3b"]
name = "Mine"
source = "me/other"
architecture = "Qwen2ForCausalLM"
parameters = 1
context = 1024
ladder = ["Q8_0"]
""")
    catalog = load_catalog()
    mine = catalog["my-model"]
    assert isinstance(mine, CatalogEntry) and mine.ladder == ("Q8_0", "Q4_K_M")
    assert mine.gguf == (GgufSource("me/My-Model-GGUF", "My-Model-{quant}.gguf"),)
    assert mine.gguf[0].filename("Q8_0") == "My-Model-Q8_0.gguf"
    assert mine.sampling.temperature == 1.0 and mine.sampling.top_k == 0
    assert catalog["vibethinker-3b"].source == "me/other"
    assert catalog["vibethinker-1.5b"].source == "WeiboAI/VibeThinker-1.5B"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace('source = "me/My-Model"\n', ""),
     "entry 'my-model' lacks the required key 'source'"),
    (lambda t: t.replace("context = 4096", 'context = "long"'),
     "entry 'my-model', key 'context' must be an integer"),
    (lambda t: t.replace("parameters = 1000", "parameters = true"),
     "key 'parameters' must be an integer"),
    (lambda t: t.replace('ladder = ["q8_0", "Q4_K_M"]', "ladder = []"),
     "key 'ladder' must be a non-empty list"),
    (lambda t: t.replace("top_p = 0.9", 'top_p = "high"'), "key 'sampling.top_p' must be a number"),
    (lambda t: t.replace("My-Model-{quant}.gguf", "My-Model.gguf"), "must contain {quant}"),
    (lambda t: t.replace('repo = "me/My-Model-GGUF"\n', ""), "key 'gguf[0].repo' is missing"),
    (lambda t: t + "\n[models.broken\n", "is not valid TOML"),
])
def test_malformed_entries_name_the_entry_and_key(edit, message: str) -> None:
    path = _user_catalog(edit(GOOD))
    with pytest.raises(CatalogError) as err:
        load_catalog()
    assert message in str(err.value) and str(path) in str(err.value)


def test_malformed_catalogue_is_one_line_in_the_cli(capsys) -> None:
    from vibe_local.cli import main

    _user_catalog(GOOD.replace("context = 4096", "context = 1.5"))
    assert main(["pull", "my-model"]) == 1
    err = capsys.readouterr().err
    assert "key 'context' must be an integer" in err and "Traceback" not in err


def test_unknown_id_lists_the_known_ones() -> None:
    with pytest.raises(ModelNotFoundError, match="vibethinker-1.5b, vibethinker-3b"):
        get_entry("nope")


def test_split_ref() -> None:
    assert split_ref("vibethinker-3b:q4_k_m") == ("vibethinker-3b", "Q4_K_M")
    assert split_ref("vibethinker-3b") == ("vibethinker-3b", None)
