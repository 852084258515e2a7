"""Quantizing with an importance matrix: the same bytes as llama.cpp's quantizer given the same
data, the IQ types, the -imat naming and the manifest's record."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import gguf
import numpy as np
import pytest

from fixtures.qwen2_checkpoint import TinyCheckpoint
from quantize.cli import main
from quantize.errors import ImatrixRequiredError
from quantize.imatrix.imatrix_file import Imatrix, read_imatrix, write_imatrix
from quantize.imatrix.quant_params import ImatrixInput
from quantize.imatrix.run import RunOptions, collect_imatrix
from quantize.ladder import build_ladder
from quantize.llama_quantize import quantize_gguf
from quantize.manifest import load_manifest, sha256_file
from quantize.quant_types import ftype_of


@pytest.fixture(scope="module")
def imatrix(tiny_f16_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Imatrix]:
    from quantize.imatrix.calibration import default_text

    collected = collect_imatrix(tiny_f16_gguf, default_text(30), dataset="calib.txt",
                                options=RunOptions(n_ctx=64, chunks=4))
    path = write_imatrix(collected, tmp_path_factory.mktemp("imat") / "tiny.imatrix.gguf")
    return path, read_imatrix(path)


def direct_quantize(src: Path, dst: Path, type_name: str, imatrix: Imatrix, label: str) -> None:
    """llama_model_quantize called by hand, filled as llama-quantize fills it."""
    import llama_cpp

    means = {}
    for name, entry in imatrix.entries.items():
        sums = entry.sums.astype(np.float32)
        means[name] = np.ascontiguousarray(sums / np.float32(entry.counts[0]), dtype=np.float32)
    data = (llama_cpp.llama_model_imatrix_data * (len(means) + 1))()
    names = [name.encode() for name in means]
    for slot, name, mean in zip(data, names, means.values()):
        slot.name, slot.size = name, mean.size
        slot.data = mean.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    kv = (llama_cpp.llama_model_kv_override * 5)()
    strings = [("quantize.imatrix.file", label), ("quantize.imatrix.dataset", imatrix.datasets[0])]
    for slot, (key, value) in zip(kv, strings):
        slot.key, slot.tag = key.encode(), llama_cpp.LLAMA_KV_OVERRIDE_TYPE_STR
        slot.value.val_str = value.encode()
    ints = [("quantize.imatrix.entries_count", len(means)),
            ("quantize.imatrix.chunks_count", imatrix.chunk_count)]
    for slot, (key, value) in zip(kv[2:], ints):
        slot.key, slot.tag = key.encode(), llama_cpp.LLAMA_KV_OVERRIDE_TYPE_INT
        slot.value.val_i64 = value
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.nthread = ftype_of(type_name), 2
    params.imatrix = ctypes.cast(data, ctypes.POINTER(llama_cpp.llama_model_imatrix_data))
    params.kv_overrides = ctypes.cast(kv, ctypes.POINTER(llama_cpp.llama_model_kv_override))
    assert llama_cpp.llama_model_quantize(os.fsencode(src), os.fsencode(dst),
                                          ctypes.byref(params)) == 0


@pytest.mark.parametrize("type_name", ["Q4_K_M", "Q2_K", "IQ2_XS", "IQ4_XS"])
def test_byte_identical_to_llama_model_quantize_with_the_same_data(
        tiny_f16_gguf: Path, imatrix, tmp_path: Path, type_name: str) -> None:
    path, data = imatrix
    ours, theirs, plain = (tmp_path / f"{n}.gguf" for n in ("ours", "theirs", "plain"))
    quantize_gguf(tiny_f16_gguf, ours, type_name, imatrix=ImatrixInput(data, str(path)))
    direct_quantize(tiny_f16_gguf, theirs, type_name, data, str(path))
    assert ours.read_bytes() == theirs.read_bytes()
    if type_name.startswith("Q"):  # the imatrix really changed the quantization
        quantize_gguf(tiny_f16_gguf, plain, type_name)
        assert plain.read_bytes() != ours.read_bytes()
    fields = gguf.GGUFReader(ours).fields
    assert fields["quantize.imatrix.file"].contents() == str(path)
    assert fields["quantize.imatrix.dataset"].contents() == "calib.txt"
    assert fields["quantize.imatrix.entries_count"].contents() == 14
    assert fields["quantize.imatrix.chunks_count"].contents() == 4


@pytest.mark.parametrize("type_name", ["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS"])
def test_types_that_need_an_imatrix_are_refused_without_one(
        tiny_f16_gguf: Path, tmp_path: Path, type_name: str) -> None:
    with pytest.raises(ImatrixRequiredError, match="--imatrix"):
        quantize_gguf(tiny_f16_gguf, tmp_path / "x.gguf", type_name)
    assert list(tmp_path.iterdir()) == []


def test_ladder_refuses_before_any_work(tiny_checkpoint: TinyCheckpoint, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    code = main(["ladder", str(tiny_checkpoint.path), "--out", str(out), "--types",
                 "Q4_K_M,IQ2_XS"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "IQ2_XS needs an importance matrix" in err[0]
    assert "--imatrix" in err[0] and not out.exists()
    code = main(["ladder", str(tiny_checkpoint.path), "--out", str(out), "--imatrix",
                 str(tmp_path / "none.gguf")])
    assert code == 1 and "does not exist" in capsys.readouterr().err and not out.exists()


def test_ladder_with_an_imatrix_file_names_and_records_it(
        tiny_checkpoint: TinyCheckpoint, imatrix, tmp_path: Path) -> None:
    path, _ = imatrix
    out = tmp_path / "ladder"
    build_ladder(tiny_checkpoint.path, out, ["Q4_K_M"], name="tiny")
    manifest = build_ladder(tiny_checkpoint.path, out, ["Q4_K_M", "IQ2_XS"], name="tiny",
                            imatrix=str(path))
    assert [f.quant for f in manifest.files] == ["BF16", "Q4_K_M", "Q4_K_M-imat",
                                                 "IQ2_XS-imat"]  # IQ2_XS plain was refused
    entry = manifest.entry("Q4_K_M-imat")
    assert entry.file == "tiny-Q4_K_M-imat.gguf" and entry.ftype == ftype_of("Q4_K_M")
    assert entry.imatrix == {"file": str(path), "sha256": sha256_file(path),
                             "dataset": "calib.txt", "chunks": 4}
    assert manifest.entry("Q4_K_M").imatrix is None
    assert load_manifest(out).entry("IQ2_XS-imat").imatrix == entry.imatrix


def test_ladder_imatrix_auto_is_made_once_and_kept(tiny_checkpoint: TinyCheckpoint,
                                                   tmp_path: Path, monkeypatch) -> None:
    from quantize.imatrix import calibration, make

    # the first 12 problems of the default text: the same kind of text, a tenth of the time
    monkeypatch.setattr(make, "default_text", lambda: calibration.default_text(12))
    lines: list[str] = []
    out = tmp_path / "ladder"
    build_ladder(tiny_checkpoint.path, out, ["IQ3_XXS"], name="tiny", imatrix="auto",
                 report=lines.append)
    auto = out / "tiny.imatrix.gguf"
    assert read_imatrix(auto).datasets == ["vibe-quantize default calibration v1"]
    assert any("computing tiny.imatrix.gguf" in line for line in lines)
    lines.clear()  # a "-imat" name asks for the same thing without --imatrix
    manifest = build_ladder(tiny_checkpoint.path, out, ["iq3_xxs-IMAT"], name="tiny",
                            report=lines.append)
    assert "reusing tiny.imatrix.gguf" in lines[1] and "up to date" in lines[2]
    assert [f.quant for f in manifest.files] == ["BF16", "IQ3_XXS-imat"]


def test_a_lone_file_made_with_an_imatrix_is_named_imat(tiny_f16_gguf: Path, imatrix,
                                                        tmp_path: Path) -> None:
    from vibe_local.gguf_info import options_from_path

    path, data = imatrix
    quantize_gguf(tiny_f16_gguf, tmp_path / "a.gguf", "Q4_K_M", imatrix=ImatrixInput(data, "x"))
    quantize_gguf(tiny_f16_gguf, tmp_path / "b.gguf", "Q4_K_M")
    assert options_from_path(tmp_path / "a.gguf")[0].quant == "Q4_K_M-imat"
    assert options_from_path(tmp_path / "b.gguf")[0].quant == "Q4_K_M"


@pytest.mark.parametrize(("quant", "bits"), [("Q4_K_M-imat", 4.5), ("IQ4_XS-imat", 4.25),
                                             ("IQ3_M", 3.4375), ("IQ2_XS-imat", 2.3125)])
def test_size_estimates_before_download_know_the_new_types(quant: str, bits: float) -> None:
    from vibe_local.remote_fit import estimated_bpw

    assert estimated_bpw(quant) == bits


def test_catalogue_names_are_canonical(tmp_path: Path) -> None:
    from vibe_local.catalog import get_entry, split_ref

    assert split_ref("vibethinker-3b:iq4_xs-IMAT") == ("vibethinker-3b", "IQ4_XS-imat")
    ladder = get_entry("vibethinker-1.5b").ladder
    assert {"Q4_K_M-imat", "IQ4_XS-imat", "Q2_K-imat", "IQ2_XS-imat"} <= set(ladder)
