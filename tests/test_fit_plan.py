"""`fit` before a download: the plan from the catalogue's geometry, offline, on simulated
machines (--memory, --gpu), with no network and no model files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fixtures.qwen2_checkpoint import TinyQwen2Spec
from vibe_local.catalog import Geometry, load_catalog
from vibe_local.cli import main
from vibe_local.fitting import plan
from vibe_local.gguf_info import options_from_path
from vibe_local.hardware import probe
from vibe_local.remote_fit import estimated_bytes, plan_download


def _fit(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["fit", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _qwen2_parameters(g: Geometry) -> int:
    """Parameters of a Qwen2 checkpoint of this shape (q/k/v carry biases)."""
    q, kv = g.heads * g.head_dim, g.kv_heads * g.head_dim
    attn = g.hidden * q + q + 2 * (g.hidden * kv + kv) + q * g.hidden
    layer = attn + 3 * g.hidden * g.ffn + 2 * g.hidden
    return g.vocab * g.hidden * (1 if g.tied else 2) + g.layers * layer + g.hidden


def test_shipped_geometry_agrees_with_the_parameter_count() -> None:
    """The catalogue's shape and its parameter count come from different public facts."""
    catalog = load_catalog()
    for model_id in ("vibethinker-1.5b", "vibethinker-3b"):
        entry = catalog[model_id]
        assert entry.geometry is not None
        assert _qwen2_parameters(entry.geometry) == entry.parameters, model_id


def test_plan_on_a_simulated_cpu_machine(capsys, isolated_home: Path) -> None:
    code, out, err = _fit(capsys, "-m", "vibethinker-3b", "--memory", "8GiB", "--gpu", "none",
                          "--json")
    assert code == 0, err
    data = json.loads(out)
    entry = load_catalog()["vibethinker-3b"]
    assert data["download_plan"] is True
    assert data["reason"].startswith("plan for a download (vibethinker-3b is not downloaded yet")
    assert data["choice"]["reason"] == data["reason"]
    assert [r["quant"] for r in data["rows"]] == list(entry.ladder)
    ctx = min(entry.context, entry.geometry.trained_context)
    for row in data["rows"]:
        assert row["ctx"] == ctx and row["verdict"] in ("CPU", "does not fit")
        # CPU only, tied: the whole file is resident; the layers share it evenly (rounding)
        assert 0 <= estimated_bytes(entry, row["quant"]) - row["weights_bytes"] < 36
        if row["kv_type"] == "f16":  # DESIGN.md: 36 KiB per token for the 3B at f16
            assert row["kv_bytes"] == 36 * 1024 * ctx
    assert not any(isolated_home.rglob("*.gguf")) and not any(isolated_home.rglob("config.json"))


@pytest.mark.parametrize(("gpu", "verdict"), [("cuda:24GiB", "full GPU"),
                                              ("cuda:2GiB", "partial GPU"),
                                              ("metal:16GiB", "full GPU")])
def test_plan_on_simulated_gpus(capsys, gpu: str, verdict: str) -> None:
    code, out, err = _fit(capsys, "-m", "vibethinker-1.5b", "--memory", "8GiB", "--gpu", gpu,
                          "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["download_plan"] is True and data["rows"][0]["ctx"] == 40960
    chosen = next(r for r in data["rows"] if r["quant"] == data["choice"]["quant"])
    assert chosen["verdict"] == verdict and chosen["gpu_bytes"] > 0


def test_plan_in_the_table_and_a_forced_quant(capsys) -> None:
    code, out, _ = _fit(capsys, "-m", "vibethinker-3b:q4_k_m", "--memory", "4GiB", "--gpu",
                        "none")
    assert code == 0
    assert "plan for a download (vibethinker-3b is not downloaded yet; sizes estimated from " \
           "bits per weight): Q4_K_M fits" in out
    assert "(the quant asked for)" in out and "Nothing was downloaded" in out
    code, out, _ = _fit(capsys, "-m", "vibethinker-3b", "--memory", "1GiB", "--gpu", "none")
    assert code == 3 and "plan for a download" in out and "nothing fits" in out


def test_plan_bad_requests_are_one_line(capsys) -> None:
    code, _, err = _fit(capsys, "-m", "vibethinker-3b:Q9_X", "--memory", "8GiB")
    assert code != 0 and "no quant 'Q9_X'" in err and "Traceback" not in err
    code, _, err = _fit(capsys, "-m", "vibethinker-3b", "--ctx", "65536", "--memory", "8GiB")
    assert code != 0 and "outside 1..32,768" in err and "Traceback" not in err


def _user_entry(model_id: str, spec: TinyQwen2Spec | None, parameters: int = 1000) -> None:
    text = (f'[models."{model_id}"]\nname = "{model_id}"\nsource = "me/{model_id}"\n'
            f'architecture = "Qwen2ForCausalLM"\nparameters = {parameters}\ncontext = 2048\n'
            f'ladder = ["F16"]\n')
    if spec is not None:
        text += (f'[models."{model_id}".geometry]\nlayers = {spec.num_hidden_layers}\n'
                 f"hidden = {spec.hidden_size}\nheads = {spec.num_attention_heads}\n"
                 f"kv_heads = {spec.num_key_value_heads}\n"
                 f"head_dim = {spec.hidden_size // spec.num_attention_heads}\n"
                 f"ffn = {spec.intermediate_size}\nvocab = {spec.vocab_size}\n"
                 f"tied = {str(spec.tie_word_embeddings).lower()}\n"
                 f"trained_context = {spec.max_position_embeddings}\n")
    path = Path(os.environ["VIBE_LOCAL_HOME"]) / "models.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_plan_agrees_with_the_fit_of_the_real_file(tiny_f16_gguf: Path) -> None:
    """Same shape, same machine: the catalogue plan and the GGUF header's fit give the same
    KV cache, compute and overhead; weights differ only by the bits-per-weight estimate."""
    spec = TinyQwen2Spec()
    g = Geometry(spec.num_hidden_layers, spec.hidden_size, spec.num_attention_heads,
                 spec.num_key_value_heads, spec.hidden_size // spec.num_attention_heads,
                 spec.intermediate_size, spec.vocab_size, spec.tie_word_embeddings,
                 spec.max_position_embeddings)
    _user_entry("tiny-plan", spec, _qwen2_parameters(g))
    entry = load_catalog()["tiny-plan"]
    for machine in ({"memory": "8GiB", "gpu": "none"}, {"memory": "8GiB", "gpu": "cuda:8GiB"}):
        hw = probe(**machine)
        planned = plan_download(entry, hw, Path("store"), ctx=1024).rows[0]
        real = plan(options_from_path(tiny_f16_gguf), hw, ctx=1024).rows[0]
        for key in ("kv_bytes", "compute_bytes", "overhead_bytes", "verdict", "n_gpu_layers"):
            assert planned[key] == real[key], (key, machine)
        assert planned["weights_bytes"] == pytest.approx(real["weights_bytes"], rel=0.02)


def test_user_entry_without_geometry_still_asks_for_the_download(capsys) -> None:
    _user_entry("no-shape", None)
    code, _, err = _fit(capsys, "-m", "no-shape", "--memory", "8GiB")
    assert code != 0 and "no-shape is not downloaded" in err and "pull no-shape" in err


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("ffn = 768\n", ""), "key 'geometry.ffn' is missing"),
    (lambda t: t.replace("tied = true", "tied = 1"), "key 'geometry.tied' must be true or false"),
    (lambda t: t.replace("layers = 2", "layers = 0"), "key 'geometry.layers' must be at least 1"),
])
def test_malformed_geometry_names_the_key(edit, message: str) -> None:
    from vibe_local.errors import CatalogError

    _user_entry("bad-shape", TinyQwen2Spec())
    path = Path(os.environ["VIBE_LOCAL_HOME"]) / "models.toml"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(CatalogError, match=message.replace("(", r"\(")):
        load_catalog()


def test_plan_for_a_download_knows_speed(capsys) -> None:
    """The plan predicts each quant's speed like the fit of real files, and a roomy CPU-only
    machine is not handed the 16-bit file by default (the conftest pins 20 GB/s, 200 GFLOP/s)."""
    code, out, err = _fit(capsys, "-m", "vibethinker-3b", "--memory", "64GiB", "--gpu", "none",
                          "--json")
    assert code == 0, err
    data = json.loads(out)
    rows = {r["quant"]: r for r in data["rows"]}
    assert all(r["gen_tok_s"] > 0 for r in rows.values())
    assert rows["Q4_K_M"]["gen_tok_s"] > rows["Q8_0"]["gen_tok_s"] > rows["BF16"]["gen_tok_s"]
    assert data["choice"]["quant"] != "BF16"
    assert data["speed"]["min_speed"] > 0
    code, out, err = _fit(capsys, "-m", "vibethinker-3b", "--memory", "64GiB", "--gpu", "none",
                          "--prefer", "quality", "--json")
    assert code == 0, err
    assert json.loads(out)["choice"]["quant"] == "BF16"
