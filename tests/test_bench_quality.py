"""`vibe-local bench quality`: the statistics on distributions known by hand, then the whole bench
through real llama.cpp on the tiny ladder (CLI and API), its reports, caches and errors."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from vibe_local.bench.kld_stats import ReferenceTopK, TokenScores, score_tokens, summarize
from vibe_local.cli import main

LN2 = math.log(2)


def _logits(*probs: float) -> np.ndarray:
    return np.log(np.array([probs]))


# --- statistics on constructed distributions ---------------------------------------------------

def test_kld_dp_same_top_and_nll_of_a_known_pair() -> None:
    p, q = _logits(0.5, 0.25, 0.25), _logits(0.25, 0.5, 0.25)
    ref = ReferenceTopK.from_logits(p, np.array([1]), k=3)
    scores = score_tokens(q, ref, np.array([1]))
    assert scores.kld[0] == pytest.approx(0.5 * LN2 + 0.25 * math.log(0.5))  # = ln2 / 4
    assert scores.p_diff[0] == pytest.approx(0.5 - 0.25)
    assert scores.nll[0] == pytest.approx(LN2) and scores.nll_base[0] == pytest.approx(2 * LN2)
    assert not scores.same_top[0]  # reference's top is token 0, the quant's token 1


def test_tail_bucket_is_the_kld_of_the_merged_distribution() -> None:
    p, q = _logits(0.5, 0.25, 0.25), _logits(0.25, 0.5, 0.25)
    ref = ReferenceTopK.from_logits(p, np.array([0]), k=1)
    assert ref.ids.tolist() == [[0]] and math.exp(ref.tail_logp[0]) == pytest.approx(0.5)
    assert ref.max_tail_mass == pytest.approx(0.5)
    kld = score_tokens(q, ref, np.array([0])).kld[0]
    # {0}: 0.5 vs 0.25; {1, 2} merged: 0.5 vs 0.75
    assert kld == pytest.approx(0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75))
    assert kld < LN2 / 4  # merging outcomes can only lower a KL divergence


def test_top_k_is_exact_when_the_vocabulary_fits_and_a_lower_bound_otherwise() -> None:
    rng = np.random.default_rng(0)
    p_logits, q_logits = rng.normal(0, 3, (50, 300)), rng.normal(0, 3, (50, 300))
    next_tokens = rng.integers(0, 300, 50)
    lp = p_logits - np.log(np.exp(p_logits).sum(1, keepdims=True))
    lq = q_logits - np.log(np.exp(q_logits).sum(1, keepdims=True))
    full = (np.exp(lp) * (lp - lq)).sum(1)
    exact = score_tokens(q_logits, ReferenceTopK.from_logits(p_logits, next_tokens, 300),
                         next_tokens)
    np.testing.assert_allclose(exact.kld, full, rtol=1e-6)
    for k in (1, 10, 100):
        ref = ReferenceTopK.from_logits(p_logits, next_tokens, k)
        np.testing.assert_allclose(np.exp(ref.tail_logp) + np.exp(ref.logp).sum(1), 1.0,
                                   rtol=1e-6)  # log-probs are kept as float32
        bucketed = score_tokens(q_logits, ref, next_tokens).kld
        assert np.all(bucketed <= full + 1e-6) and np.all(bucketed >= -1e-6)
    # nll, Δp and the top token do not depend on K
    np.testing.assert_allclose(exact.nll, -lq[np.arange(50), next_tokens])
    assert np.array_equal(exact.same_top, lp.argmax(1) == lq.argmax(1))


def _scores(n: int, kld=None, nll=None, nll_base=None, same=None, p_diff=None) -> TokenScores:
    zeros = np.zeros(n)
    return TokenScores(kld=zeros if kld is None else kld, p_diff=zeros if p_diff is None
                       else p_diff, nll=zeros if nll is None else nll,
                       nll_base=zeros if nll_base is None else nll_base,
                       same_top=np.ones(n, bool) if same is None else same)


def test_summary_means_errors_and_percentiles() -> None:
    values = np.arange(101, dtype=float)  # 0..100: percentile q is q itself
    same = np.arange(101) < 75
    stats = summarize(_scores(101, kld=values, same=same, p_diff=values / 1000))
    assert stats.tokens == 101 and stats.kld_mean == pytest.approx(50)
    assert stats.kld_err == pytest.approx(np.std(values, ddof=1) / math.sqrt(101))
    assert stats.kld == pytest.approx({"max": 100, "p99.9": 99.9, "p99": 99, "p95": 95, "p90": 90,
                                       "median": 50, "p10": 10, "p5": 5, "p1": 1, "p0.1": 0.1,
                                       "min": 0})
    assert list(stats.dp)[:7] == ["max", "p99.9", "p99", "p95", "p90", "p75", "median"]
    assert stats.dp_rms == pytest.approx(math.sqrt(np.mean((values / 1000) ** 2)))
    assert stats.same_top == pytest.approx(75 / 101)
    assert stats.same_top_err == pytest.approx(math.sqrt(75 / 101 * 26 / 101 / 100))


def test_ppl_ratio_and_its_uncertainty_account_for_correlation() -> None:
    base = np.random.default_rng(1).uniform(1, 5, 400)
    stats = summarize(_scores(400, nll=base + LN2, nll_base=base))  # every token 2x less likely
    assert stats.ppl_ratio == pytest.approx(2) and stats.ln_ppl_ratio == pytest.approx(LN2)
    assert stats.ppl_base == pytest.approx(math.exp(base.mean()))
    assert stats.ppl_err > 0 and stats.ppl_base_err > 0
    assert stats.ln_ppl_ratio_err == pytest.approx(0, abs=1e-6)  # the shift is exact
    assert stats.ppl_correlation == pytest.approx(1)
    few = summarize(_scores(5, kld=np.arange(5.0)))
    assert few.kld_err == 0  # llama.cpp gives no uncertainty for ≤ 10 values


# --- the bench on the tiny ladder ------------------------------------------------------------

FAST = ("--ctx", "128", "--chunks", "4")


@pytest.fixture(scope="module")
def bench_home(tmp_path_factory: pytest.TempPathFactory, backend_verdict: Path) -> Path:
    """One home for the module, so the generated corpus and reference cache are built once."""
    home = tmp_path_factory.mktemp("bench-home")
    shutil.copy(backend_verdict, home / backend_verdict.name)
    return home


@pytest.fixture
def home(bench_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIBE_LOCAL_HOME", str(bench_home))
    return bench_home


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["bench", "quality", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _kld(report: dict) -> dict[str, float]:
    return {q["quant"]: q["fidelity"]["kld_mean"] for q in report["quants"]}


def test_cli_json_kld_grows_as_bits_fall(capsys, home: Path, ladder_dir: Path) -> None:
    code, out, err = _cli(capsys, "-m", str(ladder_dir), "--json", *FAST)
    assert code == 0, err
    report = json.loads(out)
    kld = _kld(report)
    assert set(kld) == {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"}
    assert 0 < kld["Q8_0"] < kld["Q6_K"] < kld["Q4_K_M"] < kld["Q2_K"]
    assert report["reference"]["quant"] == "BF16" and report["reference"]["fidelity"] is None
    assert report["corpus"] == {"source": "generated by the reference model",
                                "tokens": report["corpus"]["tokens"], "ctx": 128, "chunks": 4,
                                "scored_tokens": 4 * 63}
    assert report["fidelity"]["exact"] and report["fidelity"]["vocab"] == 1024
    assert report["fidelity"]["reference_max_tail_mass"] == 0
    q2 = report["quants"][-1]
    assert q2["quant"] == "Q2_K" and q2["bytes"] > 0 and q2["task"] is None
    assert set(q2["fidelity"]) >= {"kld_mean", "kld_err", "kld", "ppl", "ppl_base", "ppl_ratio",
                                   "ln_ppl_ratio_err", "dp_rms", "same_top", "same_top_err"}
    assert 0 <= q2["fidelity"]["same_top"] < report["quants"][0]["fidelity"]["same_top"] <= 1
    assert "reference: chunk 4/4" in err and "Q2_K: chunk 4/4" in err
    assert list((home / "bench").glob("corpus-*.txt"))


def test_api_subset_table_and_cached_reference(home: Path, ladder_dir: Path) -> None:
    from vibe_local.bench.quality import run_quality
    from vibe_local.bench.quality_report import format_quality_table

    report = run_quality(ladder_dir, quants=["Q2_K", "q8_0"], ctx=128, chunks=4)
    assert [r.quant for r in report.rows] == ["Q2_K", "Q8_0"]
    assert report.rows[1].fidelity.kld_mean < report.rows[0].fidelity.kld_mean
    lines: list[str] = []
    again = run_quality(ladder_dir, quants=["Q4_K_M"], ctx=128, chunks=4, progress=lines.append)
    assert again.fidelity["reference_cached"]
    assert not any(line.startswith("reference: chunk") for line in lines)
    assert "Q4_K_M: chunk 4/4" in lines
    assert report.rows[1].fidelity.kld_mean < again.rows[0].fidelity.kld_mean \
        < report.rows[0].fidelity.kld_mean
    table = format_quality_table(report)
    assert table.splitlines()[1].split()[:7] == ["quant", "size", "bpw", "mean", "KLD", "same",
                                                 "top"]
    assert "Q2_K" in table and "KLD is exact" in table


def test_task_accuracy_same_items_for_every_file(capsys, home: Path, ladder_dir: Path) -> None:
    code, out, err = _cli(capsys, "-m", str(ladder_dir), "--quants", "Q8_0,Q2_K", "--no-kld",
                          "--task", "arithmetic", "--limit", "2", "--max-tokens", "8", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["task"]["name"] == "arithmetic" and report["corpus"] == {}
    rows = [report["reference"], *report["quants"]]
    assert [r["quant"] for r in rows] == ["BF16", "Q8_0", "Q2_K"]
    items = [[item["id"] for item in r["task"]["items"]] for r in rows]
    assert items[0] == items[1] == items[2] and len(items[0]) == 2
    assert all(r["task"]["seed"] == 0 and r["task"]["max_tokens"] == 8 for r in rows)
    assert all(r["fidelity"] is None for r in rows)
    code, out, err = _cli(capsys, "-m", str(ladder_dir), "--quants", "Q8_0", "--no-kld",
                          "--task", "arithmetic", "--limit", "2", "--max-tokens", "8")
    assert code == 0 and out.splitlines()[1].split() == ["quant", "size", "bpw", "accuracy"]


def test_smaller_top_k_gives_a_lower_bound_and_says_so(home: Path, ladder_dir: Path) -> None:
    from vibe_local.bench.quality import run_quality
    from vibe_local.bench.quality_report import format_quality_table

    exact = run_quality(ladder_dir, quants=["Q2_K"], ctx=128, chunks=4)
    bounded = run_quality(ladder_dir, quants=["Q2_K"], ctx=128, chunks=4, top_k=16)
    assert not bounded.fidelity["exact"] and 0 < bounded.fidelity["reference_max_tail_mass"] < 1
    assert 0 < bounded.rows[0].fidelity.kld_mean < exact.rows[0].fidelity.kld_mean
    assert bounded.rows[0].fidelity.same_top == exact.rows[0].fidelity.same_top
    assert "lower bound" in format_quality_table(bounded)


def test_markdown_report_and_plot(capsys, home: Path, ladder_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    md, png = tmp_path / "quality.md", tmp_path / "quality.png"
    code, out, err = _cli(capsys, "-m", str(ladder_dir), "--quants", "Q8_0,Q4_K_M,Q2_K",
                          "--markdown", str(md), "--plot", str(png), *FAST)
    assert code == 0, err
    text = md.read_text()
    assert text.startswith("# Quality of") and "## Fidelity to the reference" in text
    assert "### KLD distribution over tokens" in text and "## What the numbers mean" in text
    assert all(f"| {q} |" in text for q in ("Q8_0", "Q4_K_M", "Q2_K"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Q4_K_M" in out and not list(tmp_path.glob(".*partial*"))


def test_given_corpus_file(capsys, home: Path, ladder_dir: Path, tmp_path: Path) -> None:
    from fixtures.qwen2_checkpoint import TOKENIZATION_CORPUS

    corpus = tmp_path / "text.txt"
    corpus.write_text("\n".join(TOKENIZATION_CORPUS * 6))
    code, out, err = _cli(capsys, "-m", str(ladder_dir), "--corpus", str(corpus), "--quants",
                          "Q8_0,Q2_K", "--ctx", "64", "--chunks", "3", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["corpus"]["source"] == str(corpus) and report["corpus"]["chunks"] == 3
    assert report["corpus"]["tokens"] >= 3 * 64 and report["corpus"]["scored_tokens"] == 3 * 31
    kld = _kld(report)
    assert kld["Q8_0"] < kld["Q2_K"]


def test_pareto_front() -> None:
    from vibe_local.bench.quality_plot import pareto_front

    sizes, losses = [1, 2, 3, 4, 5], [0.5, 0.6, 0.2, 0.3, 0.1]
    assert pareto_front(sizes, losses) == [0, 2, 4]  # 2 and 4 are beaten by smaller, better ones


def test_default_questions_include_the_demo_curriculum() -> None:
    from vibe_local.bench.corpus import questions

    asked = questions()
    assert len(asked) == 12 and len(set(asked)) == 12
    drawn = [q for q in asked if re.fullmatch(r"What is \d+ [-+*] \d+\?", q)]
    assert len(drawn) == 4 and {q.split()[3] for q in drawn} == {"+", "-", "*"}


# --- errors: one line, no traceback -----------------------------------------------------------

def _error(capsys, *argv: str) -> str:
    code, out, err = _cli(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith("vibe-local: error: ") and err.count("\n") == 1, err
    return err


def test_corpus_errors(capsys, home: Path, ladder_dir: Path, tmp_path: Path) -> None:
    m = ("-m", str(ladder_dir))
    assert "no such corpus file" in _error(capsys, *m, "--corpus", str(tmp_path / "none.txt"))
    (tmp_path / "empty.txt").write_text("  \n")
    assert "is empty" in _error(capsys, *m, "--corpus", str(tmp_path / "empty.txt"))
    (tmp_path / "short.txt").write_text("What is 1 + 1?")
    err = _error(capsys, *m, "--corpus", str(tmp_path / "short.txt"), "--ctx", "128")
    assert "needs at least 128 tokens" in err and "tokens long" in err


def test_model_and_request_errors(capsys, home: Path, ladder_dir: Path, tmp_path: Path) -> None:
    assert "no such" in _error(capsys, "-m", str(tmp_path / "nowhere"))
    quants_only = tmp_path / "no-reference"
    quants_only.mkdir()
    shutil.copy(ladder_dir / "manifest.json", quants_only)
    shutil.copy(next(ladder_dir.glob("*Q4_K_M.gguf")), quants_only)
    assert "no 16-bit reference" in _error(capsys, "-m", str(quants_only))
    m = ("-m", str(ladder_dir))
    assert "unknown task 'nope'" in _error(capsys, *m, "--task", "nope")
    assert "unknown quant(s) Q9_X" in _error(capsys, *m, "--quants", "Q9_X")
    assert "nothing to measure" in _error(capsys, *m, "--no-kld")
