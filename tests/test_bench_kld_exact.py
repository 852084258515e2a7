"""The KL divergence of `bench quality` is exact by default: the full-vocabulary reference file
(16-bit codes, exact top tokens) against float64 NumPy, and the whole bench against a NumPy
computation from full logits that llama-cpp-python's own `Llama.eval` returns."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from llama_support import log_softmax as _log_softmax

from vibe_local.bench.kld_stats import score_full
from vibe_local.bench.logprob_file import EXACT, LogProbFile, LogProbWriter


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """The tests' own float64 log-softmax (llama_support), not the code under test."""
    return _log_softmax(np.asarray(logits, dtype=np.float64))


def _kld(lp: np.ndarray, lq: np.ndarray) -> np.ndarray:
    return (np.exp(lp) * (lp - lq)).sum(axis=1)


def _write(path: Path, logits: np.ndarray, next_tokens: np.ndarray, block: int = 7) -> LogProbFile:
    with open(path, "wb") as out:
        writer = LogProbWriter(out, len(logits), logits.shape[1])
        for i in range(0, len(logits), block):
            writer.add(logits[i:i + block], next_tokens[i:i + block])
        writer.finish()
    return LogProbFile(path)


@pytest.mark.parametrize("spread", [1.0, 4.0, 12.0])  # broad … peaked
def test_file_reads_back_the_kld_to_a_ten_thousandth(tmp_path: Path, spread: float) -> None:
    rng = np.random.default_rng(0)
    vocab = 20000
    p_logits = rng.normal(0, spread, (40, vocab)).astype(np.float32)
    q_logits = (p_logits + rng.normal(0, 0.05, p_logits.shape)).astype(np.float32)
    next_tokens = rng.integers(0, vocab, 40)
    ref = _write(tmp_path / "ref.logp", p_logits, next_tokens)
    lp, lq = log_softmax(p_logits), log_softmax(q_logits)
    scores = score_full(q_logits, ref.logp(0, 40), ref.next_logp, ref.argmax, next_tokens)
    exact = _kld(lp, lq)
    assert scores.kld.mean() == pytest.approx(exact.mean(), rel=1e-4)
    np.testing.assert_allclose(scores.kld, exact, rtol=1e-2)
    # what needs no rounding has none: the next token's log-prob, the argmax
    np.testing.assert_array_equal(ref.next_logp, lp[np.arange(40), next_tokens])
    np.testing.assert_array_equal(ref.argmax, lp.argmax(axis=1))
    np.testing.assert_allclose(scores.nll, -lq[np.arange(40), next_tokens])
    assert np.array_equal(scores.same_top, lp.argmax(1) == lq.argmax(1))
    assert (tmp_path / "ref.logp").stat().st_size < 40 * vocab * 2 * 1.1  # 16 bits per entry


def test_rows_read_back_as_distributions_and_below_the_window_as_zero(tmp_path: Path) -> None:
    logits = np.zeros((3, 300), np.float32)
    logits[0, :5] = 50.0  # the rest lies 50 nats below: outside the 32-nat window
    logits[1] = np.linspace(-10, 10, 300)
    next_tokens = np.array([299, 0, 7])
    ref = _write(tmp_path / "ref.logp", logits, next_tokens)
    logp = ref.logp(0, 3)
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0, rtol=1e-12)
    # row 0: its EXACT most likely tokens keep their log-probs, the rest read back as 0
    assert np.isneginf(logp[0]).sum() == 300 - EXACT
    kept = np.isfinite(logp[0])
    np.testing.assert_allclose(logp[0, kept], log_softmax(logits)[0, kept], rtol=1e-12)
    np.testing.assert_allclose(logp[1:], log_softmax(logits)[1:], atol=5e-4)  # half a step
    assert ref.next_logp[0] == pytest.approx(-50 - np.log(5))  # exact though below the window
    np.testing.assert_allclose(np.exp(logp[2]), 1 / 300)  # a flat row: no scale at all


def test_small_vocabulary_is_kept_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 5, (9, EXACT)).astype(np.float32)
    ref = _write(tmp_path / "ref.logp", logits, np.zeros(9, int))
    np.testing.assert_allclose(ref.logp(2, 9), log_softmax(logits)[2:], rtol=1e-13)


def test_incomplete_files_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 1, (8, 100)).astype(np.float32)
    path = tmp_path / "ref.logp"
    _write(path, logits, np.zeros(8, int))
    data = path.read_bytes()
    for cut in (len(data) - 100, 500, 10):
        path.write_bytes(data[:cut])
        with pytest.raises((ValueError, EOFError, OSError)):
            LogProbFile(path).logp(0, 8)
    with open(tmp_path / "short.logp", "wb") as out:
        writer = LogProbWriter(out, 8, 100)
        writer.add(logits[:4], np.zeros(4, int))
        with pytest.raises(ValueError, match="4 rows written of the 8"):
            writer.finish()


# --- the whole bench against NumPy on full logits ---------------------------------------------

CTX, CHUNKS = 128, 3


def _numpy_fidelity(reference: Path, quant: Path, text: str) -> dict[str, float]:
    """Mean KLD, same-top and PPL ratio from every position's logits (`Llama.eval`, float64)."""
    from vibe_local.backend import open_llama
    from vibe_local.selftest import repack_allowed

    per_file = []
    for path in (reference, quant):
        llm = open_llama(path, repack=repack_allowed(), logits_all=True, n_ctx=CTX,
                         n_batch=CTX, n_ubatch=CTX, n_threads=2, type_k=1, type_v=1,
                         flash_attn=True)  # 1: GGML_TYPE_F16, the bench's KV cache
        try:
            tokens = llm.tokenize(text.encode(), add_bos=True, special=False)
            rows, targets = [], []
            for i in range(CHUNKS):
                llm.reset()
                llm.eval(tokens[i * CTX:(i + 1) * CTX])
                rows.append(log_softmax(llm.scores[CTX // 2:CTX - 1]))
                targets += tokens[i * CTX + CTX // 2 + 1:(i + 1) * CTX]
        finally:
            llm.close()
        per_file.append(np.concatenate(rows))
    lp, lq = per_file
    at = (np.arange(len(targets)), np.array(targets))
    return {"kld": float(_kld(lp, lq).mean()),
            "same_top": float((lp.argmax(1) == lq.argmax(1)).mean()),
            "ppl_ratio": float(np.exp(lp[at].mean() - lq[at].mean()))}


@pytest.fixture(scope="module")
def nano_ladder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled demo model: trained, so its distributions are peaked (the tiny one's flat)."""
    from quantize.ladder import build_ladder

    source = Path(__file__).parents[1] / "vibe_local" / "demo" / "vibethinker-nano"
    out = tmp_path_factory.mktemp("nano")
    build_ladder(source, out, ["Q8_0", "Q2_K"], name="nano")
    return out


@pytest.mark.parametrize("which", ["tiny", "nano"])
def test_default_kld_equals_numpy_on_full_logits(which: str, request, backend_ready,
                                                 tmp_path: Path) -> None:
    from fixtures.qwen2_checkpoint import TOKENIZATION_CORPUS
    from vibe_local.bench.quality import run_quality, split_ladder
    from vibe_local.gguf_info import options_from_path

    ladder = request.getfixturevalue("ladder_dir" if which == "tiny" else "nano_ladder")
    text = "\n".join(TOKENIZATION_CORPUS * 8)
    corpus = tmp_path / "text.txt"
    corpus.write_text(text)
    report = run_quality(ladder, quants=["Q8_0", "Q2_K"], corpus=corpus, ctx=CTX, chunks=CHUNKS)
    assert report.fidelity["exact"] and report.fidelity["top_k"] is None
    assert report.corpus["scored_tokens"] == CHUNKS * (CTX // 2 - 1)
    reference = split_ladder(options_from_path(ladder), None)[0].path
    for row in report.rows:
        want = _numpy_fidelity(reference, row.path, text)
        got = row.fidelity
        assert got.kld_mean == pytest.approx(want["kld"], rel=1e-3), row.quant
        assert got.same_top == pytest.approx(want["same_top"], abs=1.5 / len(got.kld) + 1e-9)
        assert got.ppl_ratio == pytest.approx(want["ppl_ratio"], rel=1e-4)
    assert report.rows[0].fidelity.kld_mean < report.rows[1].fidelity.kld_mean
    # a top K far below the vocabulary misses much of it, and says it is a bound
    bound = run_quality(ladder, quants=["Q2_K"], corpus=corpus, ctx=CTX, chunks=CHUNKS, top_k=8)
    assert not bound.fidelity["exact"]
    assert bound.rows[0].fidelity.kld_mean < report.rows[1].fidelity.kld_mean


def test_not_enough_disk_for_the_full_reference_is_one_line(capsys, backend_ready, ladder_dir,
                                                            monkeypatch, tmp_path) -> None:
    from fixtures.qwen2_checkpoint import TOKENIZATION_CORPUS
    from vibe_local.cli import main
    from vibe_local.paths import home_dir

    corpus = tmp_path / "text.txt"
    corpus.write_text("\n".join(TOKENIZATION_CORPUS * 8))
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=1 << 20))
    code = main(["bench", "quality", "-m", str(ladder_dir), "--quants", "Q8_0", "--ctx", "64",
                 "--chunks", "2", "--corpus", str(corpus)])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert "need 172.2 KiB" in err and "(62 tokens × 1,024)" in err  # 62 × (2 × 1,024 + 796)
    assert "1.0 MiB is free" in err and "--top-k" in err and "fewer --chunks" in err
    assert not list(home_dir().glob("bench/*.logp"))  # refused before the pass


def test_cache_keeps_the_newest_full_references(backend_ready, ladder_dir: Path,
                                                tmp_path: Path) -> None:
    from fixtures.qwen2_checkpoint import TOKENIZATION_CORPUS
    from vibe_local.bench.fidelity import KEEP
    from vibe_local.bench.quality import run_quality
    from vibe_local.paths import home_dir

    corpus = tmp_path / "text.txt"
    corpus.write_text("\n".join(TOKENIZATION_CORPUS * 8))
    for chunks in (1, 2, 3):
        run_quality(ladder_dir, quants=["Q8_0"], corpus=corpus, ctx=64, chunks=chunks)
    kept = list((home_dir() / "bench").glob("reference-*.logp"))
    assert len(kept) == KEEP
    again = run_quality(ladder_dir, quants=["Q8_0"], corpus=corpus, ctx=64, chunks=3)
    assert again.fidelity["reference_cached"]
