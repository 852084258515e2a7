"""The private or unstable parts of llama-cpp-python and huggingface_hub that vibe-local uses.

Each check names the API and where we use it. When an upgrade removes or renames one, this test
fails with that name and the floor pyproject.toml declares, instead of the product quietly
losing a guarantee (a ctypes field set on a struct that no longer declares it is silently
ignored; a renamed keyword of `http_get` would break every resumed download).

Where each appeared was read from the released sources: everything below exists in
llama-cpp-python 0.3.14 except `llama_model_params.use_extra_bufts` (0.3.15; 0.3.16 has the same
Python bindings with a newer llama.cpp); the huggingface_hub helpers exist in 0.34.0.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"


def floor(package: str) -> str:
    """The `>=` bound pyproject.toml declares for `package`."""
    found = re.search(rf'"{re.escape(package)}(>=[^";]+)', PYPROJECT.read_text())
    assert found, f"pyproject.toml declares no floor for {package}"
    return found.group(1)


def require(package: str, api: str, used_in: str, check: Callable[[], object]) -> None:
    """Run `check`; on failure say which API vanished, where we use it, and the floor."""
    try:
        ok = check()
    except (ImportError, AttributeError, TypeError, ValueError, KeyError) as exc:
        ok, why = False, f"{type(exc).__name__}: {exc}"
    else:
        why = "check returned False"
    if not ok:
        pytest.fail(f"{package} {version(package)} no longer provides {api} ({why}); "
                    f"vibe-local relies on it in {used_in}. pyproject.toml declares "
                    f"{package}{floor(package)}: pin a version that has it, or adapt {used_in}.")


def has_params(func: Callable, *names: str) -> bool:
    params = inspect.signature(func).parameters
    return all(name in params for name in names)


# -- llama-cpp-python, no model needed ------------------------------------------------------

def _bindings():
    import llama_cpp.llama

    return llama_cpp.llama.llama_cpp


def _declares(struct: str, *fields: str) -> Callable[[], bool]:
    from quantize.llama_params import missing_fields

    return lambda: not missing_fields(getattr(_bindings(), struct), fields)


def _chat_formatter() -> bool:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter("{{ bos_token }}{{ messages[0]['content'] }}{{ eos_token }}",
                                    eos_token="</s>", bos_token="<s>")
    return formatter(messages=[{"role": "user", "content": "hi"}]).prompt == "<s>hi</s>"


LOW_LEVEL = ["llama_model_default_params", "llama_model_quantize_default_params",
             "llama_model_quantize", "llama_backend_init", "llama_log_set", "llama_log_callback",
             "llama_print_system_info", "llama_supports_gpu_offload", "llama_vocab_is_eog",
             "llama_model_get_vocab", "llama_vocab_n_tokens", "llama_vocab_bos",
             "llama_vocab_get_add_bos", "llama_synchronize", "llama_sampler_chain_n",
             "llama_sampler_chain_get", "llama_sampler_name", "llama_model_load_from_file",
             "llama_init_from_model", "llama_context_default_params", "llama_tokenize",
             "llama_batch_init", "llama_batch_free", "llama_decode", "llama_get_memory",
             "llama_memory_clear", "llama_free", "llama_model_free", "llama_sampler_chain_init",
             "llama_sampler_chain_default_params", "llama_sampler_chain_add",
             "llama_sampler_init_top_p", "llama_sampler_init_temp", "llama_sampler_init_dist",
             "llama_sampler_sample", "llama_sampler_free", "ggml_backend_sched_eval_callback",
             "llama_get_logits", "llama_get_logits_ith"]


def _ggml_functions() -> bool:
    from quantize.imatrix import ggml_tensor

    return ggml_tensor.op_name(0) == "NONE" and ggml_tensor.type_name(0) == "f32"


LLAMA_CPP_NO_MODEL = [
    ("llama_model_params.use_extra_bufts (the AMX crash guard)", "vibe_local/backend.py",
     _declares("llama_model_params", "use_extra_bufts")),
    ("llama_model_quantize_params.ftype / .nthread", "quantize/llama_quantize.py",
     _declares("llama_model_quantize_params", "ftype", "nthread")),
    ("llama_context_params.cb_eval / .cb_eval_user_data / .n_ubatch / .n_seq_max",
     "quantize/imatrix/run.py", _declares("llama_context_params", "cb_eval", "cb_eval_user_data",
                                          "n_ubatch", "n_seq_max")),
    ("llama_cpp._ggml.libggml (ggml_op_name, ggml_type_name, ggml_get_name, ggml_nbytes, "
     "ggml_backend_buffer_is_host, ggml_backend_tensor_get) and struct ggml_tensor's layout "
     "(checked against ggml_get_name/ggml_nbytes when collecting)",
     "quantize/imatrix/ggml_tensor.py", _ggml_functions),
    ("llama_batch.token / .pos / .n_seq_id / .seq_id / .logits", "vibe_local/bench/logit_pass.py",
     _declares("llama_batch", "n_tokens", "token", "pos", "n_seq_id", "seq_id", "logits")),
    ("llama_cpp.llama.llama_cpp (the bindings module Llama.__init__ reads its defaults from)",
     "vibe_local/backend.py", lambda: _bindings() is __import__("llama_cpp").llama_cpp),
    ("llama_cpp.llama_chat_format.Jinja2ChatFormatter(template, eos_token=, bos_token=)",
     "vibe_local/chat_template.py", _chat_formatter),
    ("Llama(flash_attn=, type_k=, type_v=, n_ubatch=, n_threads_batch=, logits_all=, "
     "vocab_only=, n_gpu_layers=)", "vibe_local/api.py, vibe_local/bench",
     lambda: has_params(__import__("llama_cpp").Llama.__init__, "flash_attn", "type_k", "type_v",
                        "n_ubatch", "n_threads_batch", "logits_all", "vocab_only",
                        "n_gpu_layers")),
    *[(f"llama_cpp.{name}", "vibe_local, quantize", lambda name=name: callable(
        getattr(_bindings(), name))) for name in LOW_LEVEL],
]


@pytest.mark.parametrize(("api", "used_in", "check"), LLAMA_CPP_NO_MODEL,
                         ids=[api.split(" ")[0] for api, _, _ in LLAMA_CPP_NO_MODEL])
def test_llama_cpp_python_api(api: str, used_in: str, check: Callable[[], object]) -> None:
    require("llama-cpp-python", api, used_in, check)


# -- llama-cpp-python, on a loaded model ----------------------------------------------------

def test_llama_reads_its_model_params_where_the_guard_patches_them(tiny_f16_gguf: Path,
                                                                   monkeypatch) -> None:
    from vibe_local.backend import open_llama

    low_level, seen = _bindings(), []
    original = low_level.llama_model_default_params

    def spy():
        params = original()
        seen.append(params)
        return params

    monkeypatch.setattr(low_level, "llama_model_default_params", spy)
    open_llama(tiny_f16_gguf, repack=False, vocab_only=True).close()
    require("llama-cpp-python", "Llama.__init__ calling llama_cpp.llama_model_default_params()",
            "vibe_local/backend.py", lambda: len(seen) == 1)
    assert seen[0].use_extra_bufts is False  # the guard's value reached the struct llama.cpp got


def test_llama_internals_the_engine_uses(tiny_f16_gguf: Path) -> None:
    import llama_cpp
    import numpy as np

    from vibe_local.backend import open_llama

    llm = open_llama(tiny_f16_gguf, repack=False, n_ctx=64, n_threads=1)
    try:
        llm.eval([1, 2, 3])
        checks = [
            ("Llama._ctx (a LlamaContext whose .ctx and .model.n_vocab() the sampler reads)",
             "vibe_local/sampler.py",
             lambda: llm._ctx.ctx is not None and llm._ctx.model.n_vocab() == llm.n_vocab()),
            ("Llama._model.vocab and llama_vocab_is_eog(vocab, token)",
             "vibe_local/generation.py",
             lambda: llama_cpp.llama_vocab_is_eog(llm._model.vocab, 1) in (True, False)),
            ("Llama._model.token_get_text(id)", "vibe_local/chat_template.py",
             lambda: isinstance(llm._model.token_get_text(1), str)),
            ("Llama._input_ids holding the evaluated tokens", "vibe_local/sampler.py",
             lambda: list(np.asarray(llm._input_ids[: llm.n_tokens])) == [1, 2, 3]),
            ("Llama.ctx / Llama.model (raw pointers)",
             "vibe_local/bench/speed_worker.py, vibe_local/bench/logit_pass.py",
             lambda: llm.ctx is not None and llm.model is not None),
        ]
        for api, used_in, check in checks:
            require("llama-cpp-python", api, used_in, check)
    finally:
        llm.close()


# -- huggingface_hub ------------------------------------------------------------------------

def _hf(path: str):
    module, _, name = path.rpartition(".")
    return getattr(__import__(module, fromlist=[name]), name)


HF_NAMES = ["huggingface_hub.utils.build_hf_headers", "huggingface_hub.hf_hub_url",
            "huggingface_hub.try_to_load_from_cache", "huggingface_hub.constants.HF_HUB_OFFLINE",
            "huggingface_hub.constants.HF_HUB_CACHE", "huggingface_hub.constants.ENDPOINT",
            "huggingface_hub.constants.HF_HUB_ETAG_TIMEOUT",
            "huggingface_hub.errors.OfflineModeIsEnabled", "huggingface_hub.errors.GatedRepoError",
            "huggingface_hub.errors.RepositoryNotFoundError",
            "huggingface_hub.errors.RevisionNotFoundError",
            "huggingface_hub.errors.LocalEntryNotFoundError",
            "huggingface_hub.errors.HfHubHTTPError"]

HF_API = [
    ("huggingface_hub.file_download.http_get(url, file, resume_size=, headers=, expected_size=, "
     "displayed_filename=) (private)", "vibe_local/download.py",
     lambda: has_params(_hf("huggingface_hub.file_download.http_get"), "resume_size", "headers",
                        "expected_size", "displayed_filename")),
    ("HfApi.model_info(revision=, files_metadata=, timeout=)", "vibe_local/pull.py",
     lambda: has_params(_hf("huggingface_hub.HfApi").model_info, "revision", "files_metadata",
                        "timeout")),
    ("RepoSibling(rfilename, size, blob_id, lfs) and BlobLfsInfo.sha256",
     "vibe_local/pull.py, quantize/hub.py",
     lambda: has_params(_hf("huggingface_hub.hf_api.RepoSibling"), "rfilename", "size",
                        "blob_id", "lfs")
     and "sha256" in inspect.signature(_hf("huggingface_hub.hf_api.BlobLfsInfo")).parameters),
    ("snapshot_download(allow_patterns=) / hf_hub_download(local_files_only=)",
     "quantize/hub.py, vibe_local/pull.py",
     lambda: has_params(_hf("huggingface_hub.snapshot_download"), "allow_patterns")
     and has_params(_hf("huggingface_hub.hf_hub_download"), "local_files_only")),
    *[(name, "vibe_local/download.py, vibe_local/pull.py, quantize/hub.py",
       lambda name=name: _hf(name) is not None) for name in HF_NAMES],
]


@pytest.mark.parametrize(("api", "used_in", "check"), HF_API,
                         ids=[api.split("(")[0].split(" ")[0] for api, _, _ in HF_API])
def test_huggingface_hub_api(api: str, used_in: str, check: Callable[[], object]) -> None:
    require("huggingface-hub", api, used_in, check)


def test_a_vanished_api_fails_with_its_name_and_the_floor() -> None:
    with pytest.raises(pytest.fail.Exception) as failure:
        require("llama-cpp-python", "llama_cpp.gone_in_the_future", "vibe_local/x.py",
                lambda: _bindings().gone_in_the_future)
    message = str(failure.value)
    assert "llama_cpp.gone_in_the_future" in message and "vibe_local/x.py" in message
    assert floor("llama-cpp-python") in message and version("llama-cpp-python") in message
