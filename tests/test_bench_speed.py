"""`vibe-local bench speed`: real measurements on the tiny ladder, the roofline model, failures.

Figures are only checked for sign and shape (positive, sd >= 0), never against a clock.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from vibe_local.bench import bandwidth
from vibe_local.bench.roofline import token_traffic, weight_bytes_per_token
from vibe_local.bench.speed import SpeedSettings, mean_sd, measure_speed, run_worker
from vibe_local.cli import main
from vibe_local.errors import InvalidModelError
from vibe_local.gguf_info import GGUFHeader, TensorInfo, options_from_path

FAST = {"reps": 2, "pp": 8, "tg": 4, "threads": 1}
FAST_ARGS = ["--reps", "2", "--pp", "8", "--tg", "4", "--threads", "1"]
SMALL_BUFFER = 64 * 2**20  # still twice the largest L3 here; keeps each test's measurement short


@pytest.fixture(autouse=True)
def _machine(backend_ready) -> None:
    """The session's self-test verdict, and this home's bandwidth measured on a small buffer."""
    from vibe_local.hardware import probe

    bandwidth.machine_bandwidth(probe(), buffer_bytes=SMALL_BUFFER)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["bench", "speed", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- statistics --------------------------------------------------------------------------------

def test_mean_sd_is_llama_bench_sample_standard_deviation() -> None:
    mean, sd = mean_sd([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])
    assert mean == 5.0
    assert sd == pytest.approx((32 / 7) ** 0.5)  # squares of deviations sum to 32; n - 1 = 7
    assert mean_sd([3.5]) == (3.5, 0.0)
    with pytest.raises(ValueError):
        mean_sd([])


# --- the roofline model ------------------------------------------------------------------------

def _gguf_tensor_bytes(path: Path) -> dict[str, tuple[int, int]]:
    """name -> (bytes, rows) read with the gguf package's own reader (not ours)."""
    import gguf

    return {t.name: (int(t.n_bytes), int(t.shape[-1])) for t in gguf.GGUFReader(path).tensors}


def test_bytes_per_token_tied_reads_the_whole_embedding(ladder_dir: Path) -> None:
    path = ladder_dir / next(o.path.name for o in options_from_path(ladder_dir)
                             if o.quant == "Q4_K_M")
    sizes = _gguf_tensor_bytes(path)
    assert "output.weight" not in sizes  # the fixture ties its output to the embedding
    traffic = token_traffic(path, n_gen=4)
    assert traffic.weights == sum(n for n, _ in sizes.values())
    # 2 layers x 2 KV heads x (64 K + 64 V) x 2 bytes (f16) per position, mean position 2.5
    assert traffic.mean_position == 2.5
    assert traffic.kv_cache == 2 * 2 * 128 * 2 * 2.5
    assert traffic.total == traffic.weights + 2560


def test_bytes_per_token_untied_reads_one_embedding_row(scripted) -> None:
    sizes = _gguf_tensor_bytes(scripted.gguf)
    embd_bytes, rows = sizes["token_embd.weight"]
    assert "output.weight" in sizes and embd_bytes == rows * 256 * 4  # F32 rows of 256
    everything = sum(n for n, _ in sizes.values())
    assert token_traffic(scripted.gguf, n_gen=128).weights == everything - embd_bytes + 256 * 4


def test_weight_bytes_on_constructed_tables() -> None:
    def table(*tensors: tuple[str, tuple[int, ...], int]) -> GGUFHeader:
        return GGUFHeader({}, [TensorInfo(n, s, 0, b, 0) for n, s, b in tensors])

    untied = table(("token_embd.weight", (8, 10), 800), ("output.weight", (8, 10), 400),
                   ("blk.0.attn_q.weight", (8, 8), 64))
    assert weight_bytes_per_token(untied) == 80 + 400 + 64
    tied = table(("token_embd.weight", (8, 10), 800), ("blk.0.attn_q.weight", (8, 8), 64))
    assert weight_bytes_per_token(tied) == 800 + 64


def test_truncated_file_is_an_invalid_model(ladder_dir: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    data = next(ladder_dir.glob("*Q8_0.gguf")).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidModelError, match="truncated"):
        token_traffic(cut, n_gen=4)


# --- memory bandwidth --------------------------------------------------------------------------

def test_bandwidth_is_measured_once_per_machine_and_cached(isolated_home: Path) -> None:
    from vibe_local.hardware import probe

    hw = probe()
    first = bandwidth.machine_bandwidth(hw)  # the autouse fixture measured and cached it
    assert first.key == bandwidth.machine_key(hw) and first.buffer_bytes == SMALL_BUFFER
    assert first.bytes_per_s == max(first.runs) > 0 and len(first.runs) == bandwidth.RUNS
    assert bandwidth.machine_bandwidth(hw) == first
    cache = isolated_home / "vibe-local" / bandwidth.CACHE_FILE
    stale = {**json.loads(cache.read_text()), "key": "another CPU", "bytes_per_s": 1.0}
    cache.write_text(json.dumps(stale))
    again = bandwidth.machine_bandwidth(hw, buffer_bytes=SMALL_BUFFER)
    assert again.key == first.key and again.bytes_per_s > 1.0
    assert json.loads(cache.read_text())["measured_at"] == again.measured_at


def test_a_figure_measured_busy_is_measured_again_when_quiet(
        isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other work streaming the same RAM makes a measurement far too low: a figure taken at a
    high load is kept while the machine stays busy, measured again once it is quiet, and the
    better of the two is kept (then settled)."""
    from vibe_local.hardware import probe

    hw, load = probe(), {"now": 3.0}
    monkeypatch.setattr(bandwidth, "load_per_cpu", lambda: load["now"])
    busy = bandwidth.machine_bandwidth(hw, refresh=True, buffer_bytes=SMALL_BUFFER)
    assert busy.load_per_cpu == 3.0
    assert bandwidth.machine_bandwidth(hw) == busy  # still busy: the cache holds
    load["now"] = 0.1
    quiet = bandwidth.machine_bandwidth(hw, buffer_bytes=SMALL_BUFFER)
    assert quiet.load_per_cpu == 0.1 and quiet.bytes_per_s >= busy.bytes_per_s
    assert quiet.measured_at >= busy.measured_at
    assert bandwidth.machine_bandwidth(hw) == quiet  # settled


def test_cpu_compute_measured_busy_is_measured_again_when_quiet(
        isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vibe_local import speed_store

    load = {"now": 3.0}
    monkeypatch.setattr(bandwidth, "load_per_cpu", lambda: load["now"])
    assert speed_store.save_flops("m", 5e10, load_per_cpu=3.0) == 5e10
    assert speed_store.cached_flops("m") == 5e10  # still busy
    load["now"] = 0.2
    assert speed_store.cached_flops("m") is None  # quiet now: measure again
    assert speed_store.save_flops("m", 4e10, load_per_cpu=0.2) == 5e10  # the better one kept
    assert speed_store.cached_flops("m") == 5e10  # settled
    assert speed_store.save_flops("m", 9e10, load_per_cpu=0.2) == 9e10


# --- measuring the ladder ----------------------------------------------------------------------

def test_every_quant_gets_a_row_with_figures(ladder_dir: Path) -> None:
    lines: list[str] = []
    report = measure_speed(ladder_dir, progress=lines.append, **FAST)
    assert [r.quant for r in report.rows] == [o.quant for o in options_from_path(ladder_dir)]
    for row in report.rows:
        assert row.error is None
        assert len(row.pp_ts) == len(row.tg_ts) == 2
        assert all(x > 0 for x in row.pp_ts + row.tg_ts)
        assert row.pp[1] >= 0 and row.tg[1] >= 0
        assert row.load_s > 0 and row.peak_rss_bytes > row.file_bytes > 0
        assert row.traffic["total"] > row.traffic["weights"] > 0
        assert row.bandwidth == pytest.approx(row.traffic["total"] * row.tg[0])
        assert report.percent_of_measured(row) > 0
    assert any(line.startswith("Q4_K_M: tg4: 2/2") for line in lines)


def test_json_schema(capsys, ladder_dir: Path) -> None:
    code, out, err = _run(capsys, "-m", str(ladder_dir), "--quants", "q4_k_m", "--json",
                          *FAST_ARGS)
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {"model", "settings", "machine", "memory_bandwidth", "llama_cpp_python",
                         "rows"}
    assert data["llama_cpp_python"] == version("llama-cpp-python")
    assert data["settings"] == {"pp": 8, "tg": 4, "reps": 2, "threads": 1,
                                "repack": data["settings"]["repack"], "seed": 0,
                                "n_batch": 512, "n_ubatch": 512, "flash_attn": True,
                                "kv_type": "f16"}
    assert {"cpu_name", "physical_cores", "ram_total", "simd"} <= set(data["machine"])
    assert data["memory_bandwidth"]["bytes_per_s"] > 0 and data["memory_bandwidth"]["method"]
    [row] = data["rows"]
    assert row["quant"] == "Q4_K_M" and row["error"] is None
    assert {"file_bytes", "load_s", "pp_ts", "tg_ts", "pp_mean", "pp_sd", "tg_mean", "tg_sd",
            "peak_rss_bytes", "traffic", "bandwidth_bytes_per_s",
            "percent_of_measured_bandwidth"} <= set(row)
    assert row["pp_mean"] > 0 and row["tg_sd"] >= 0
    assert "Q4_K_M: loading" in err  # progress on stderr, stdout is pure JSON


def test_bad_model_path_is_one_line(capsys, tmp_path: Path) -> None:
    code, out, err = _run(capsys, "-m", str(tmp_path / "missing.gguf"))
    assert code == 1 and out == ""
    assert err.startswith("vibe-local: error: no such model file") and err.count("\n") == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["--quants", "Q9_X"], "has no Q9_X; it has"),
    (["--reps", "0"], "reps must be at least 1"),
])
def test_bad_request_is_one_line(capsys, ladder_dir: Path, argv, message) -> None:
    code, _, err = _run(capsys, "-m", str(ladder_dir), *argv)
    assert code == 1 and message in err and err.count("\n") == 1


def test_truncated_file_in_a_ladder_becomes_an_error_row(capsys, ladder_dir: Path,
                                                        tmp_path: Path) -> None:
    ladder = tmp_path / "ladder"
    shutil.copytree(ladder_dir, ladder)
    broken = next(ladder.glob("*Q8_0.gguf"))
    broken.write_bytes(broken.read_bytes()[:100_000])
    code, out, err = _run(capsys, "-m", str(ladder), "--quants", "Q8_0,Q4_K_M", *FAST_ARGS)
    assert code == 1  # something failed, but the table came
    q8 = next(line for line in out.splitlines() if line.startswith("Q8_0"))
    assert "error:" in q8 and "truncated" in q8
    q4 = next(line for line in out.splitlines() if line.startswith("Q4_K_M"))
    assert "±" in q4 and "error" not in q4
    assert "Q8_0: failed:" in err


def test_a_worker_killed_by_a_signal_becomes_an_error_row(ladder_dir: Path) -> None:
    suicide = [sys.executable, "-c", "import os, signal; print('progress: loading', "
               "file=__import__('sys').stderr, flush=True); os.kill(os.getpid(), signal.SIGKILL)"]
    path = options_from_path(ladder_dir)[0].path
    seen: list[str] = []
    row = run_worker("Q8_0", path, SpeedSettings(), seen.append, command=suicide)
    assert row.error == f"the measuring process died with {signal.SIGKILL.name}"
    assert row.pp_ts == [] and row.file_bytes == path.stat().st_size
    assert "Q8_0: loading" in seen

