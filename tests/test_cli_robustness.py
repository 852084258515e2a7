"""Every subcommand of both command lines against a corpus of bad inputs (issue 12's "must show").

For each (command, input) pair, in a subprocess with its own user folders: exit status 1 (2 for
usage errors), exactly one line on stderr (none for a closed stdout) and no traceback, and no
file left behind or changed, in the case's folders or in the shared corpus. The harness is
tests/fixtures/cli_harness.py; the cases are listed here so a reader sees what is covered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.cli_harness import Case, Corpus, Outcome, Runner, problems, run_cases, snapshot

VL, VQ = "vibe-local", "vibe-quantize"

# -m values that name no usable model (files, directories, damaged ladders)
BAD_MODELS = ["{missing}", "{empty}", "{truncated_gguf}", "{header_only_gguf}", "{random}",
              "{text}", "{dir}", "{ladder_manifest_random}", "{ladder_manifest_empty}",
              "{ladder_manifest_list}", "{ladder_manifest_ghost}", "{ladder_random_gguf}",
              "{blocked}/model.gguf", "no-such-catalogue-id", "vibethinker-1.5b:Q9_X"]
BAD_CHECKPOINTS = ["{missing}", "{afile}", "{random}", "{ckpt_empty_dir}", "{ckpt_config_empty}",
                   "{ckpt_config_random}", "{ckpt_config_truncated}", "{ckpt_shard_truncated}",
                   "{ckpt_shard_random}", "{ckpt_tokenizer_random}", "{ckpt_config_is_dir}"]
BAD_CORPUS_FILES = ["{missing}", "{empty}", "{random}", "{not_utf8}", "{dir}"]
BAD_HOMES = ["{afile}", "{blocked}/home"]


def _model_cases() -> list[Case]:
    runs = [Case(VL, ("run", "-m", m, "What is 2 + 2?")) for m in BAD_MODELS]
    fits = [Case(VL, ("fit", "-m", m)) for m in BAD_MODELS]
    chats = [Case(VL, ("chat", "-m", m)) for m in BAD_MODELS]
    speed = [Case(VL, ("bench", "speed", "-m", m, "--reps", "1")) for m in BAD_MODELS]
    quality = [Case(VL, ("bench", "quality", "-m", m, "--chunks", "1")) for m in BAD_MODELS]
    serve = [Case(VL, ("serve", "-m", m, "--port", "0")) for m in BAD_MODELS[:12]]
    return runs + fits + chats + speed + quality + serve


def _serve_cases() -> list[Case]:
    serve = ("serve", "-m", "{good_gguf}")
    cases = [Case(VL, (*serve, *extra)) for extra in
             [("--port", "-1"), ("--port", "70000"), ("--max-queue", "-1"),
              ("--think-budget", "-1"), ("--host", "0.0.0.0", "--port", "0")]]
    cases += [Case(VL, (*serve, "--port", "0", "--api-key-file", f)) for f in
              ("{missing}", "{dir}", "{empty}", "{not_utf8}")]
    cases += [Case(VL, (*serve, "--port", "x"), 2),
              Case(VL, (*serve, "--api-key", "k", "--api-key-file", "{text}"), 2)]
    return cases


def _quantize_cases() -> list[Case]:
    convert = [Case(VQ, ("convert", c, "-o", "{out}/m.gguf")) for c in BAD_CHECKPOINTS]
    ladder = [Case(VQ, ("ladder", c, "--out", "{out}/ladder")) for c in BAD_CHECKPOINTS]
    outputs = [
        Case(VQ, ("convert", "{good_ckpt}", "-o", "{dir}")),  # an existing directory
        Case(VQ, ("convert", "{good_ckpt}", "-o", "{blocked}/m.gguf")),
        Case(VQ, ("convert", "{good_ckpt}", "-o", "{out}")),
        Case(VQ, ("ladder", "{good_ckpt}", "--out", "{afile}")),  # an existing file
        Case(VQ, ("ladder", "{good_ckpt}", "--out", "{blocked}")),
        Case(VQ, ("ladder", "{good_ckpt}", "--out", "{out}/l", "--types", "Q9_X")),
        Case(VQ, ("ladder", "{good_ckpt}", "--out", "{out}/l", "--types", ",")),
        Case(VQ, ("convert", "{good_ckpt}", "-o", "{out}/m.gguf", "--outtype", "q4"), 2),
        Case(VQ, ("convert",), 2),
        Case(VQ, ("ladder", "{good_ckpt}"), 2),
        Case(VQ, ("types", "extra"), 2),
        Case(VQ, ("nonsense",), 2),
        Case(VQ, ("types",), closed_stdout=True),
        Case(VQ, ("--help",), 0, closed_stdout=True),
    ]
    return convert + ladder + outputs + _imatrix_cases()


def _imatrix_cases() -> list[Case]:
    out = ("-o", "{out}/m.imatrix.gguf", "--ctx", "32", "--chunks", "1")
    models = [Case(VQ, ("imatrix", m, *out)) for m in BAD_MODELS[:6]]
    texts = [Case(VQ, ("imatrix", "{good_gguf}", "--calibration", f, *out))
             for f in BAD_CORPUS_FILES]
    files = [Case(VQ, ("ladder", "{good_ckpt}", "--out", "{out}/l", "--types", "Q4_K_M",
                       "--imatrix", f)) for f in ("{missing}", "{empty}", "{random}", "{text}")]
    return models + texts + files + [
        Case(VQ, ("imatrix", "{good_gguf}", "-o", "{dir}")),
        Case(VQ, ("imatrix", "{good_gguf}", "--ctx", "4", "-o", "{out}/m.gguf")),
        Case(VQ, ("ladder", "{good_ckpt}", "--out", "{out}/l", "--types", "IQ2_XS")),
        Case(VQ, ("imatrix", "{good_gguf}"), 2),
    ]


def _number_cases() -> list[Case]:
    run = ("run", "-m", "{good_gguf}")
    usage = [("--ctx", "-1"), ("--ctx", "0"), ("--ctx", "many"), ("--temperature", "nan"),
             ("--temperature", "-1"), ("--temperature", "inf"), ("--top-p", "2"),
             ("--top-p", "0"), ("--top-k", "-1"), ("--min-p", "1.5"), ("--max-tokens", "0"),
             ("--max-tokens", "-5"), ("--think-budget", "-1"), ("--seed", "-1"),
             ("--seed", str(2**64))]
    cases = [Case(VL, (*run, flag, value, "q"), 2) for flag, value in usage]
    cases += [Case(VL, (*run, "--ctx", str(10**12), "q")),
              Case(VL, (*run, "--memory", "-1", "q")), Case(VL, (*run, "--memory", "1", "q")),
              Case(VL, (*run, "--memory", "lots", "q")), Case(VL, (*run, "--gpu", "cuda:x", "q")),
              Case(VL, ("fit", "-m", "{good_gguf}", "--ctx", str(10**12))),
              Case(VL, ("fit", "-m", "{good_gguf}", "--ctx", "-1"), 2),
              Case(VL, ("fit", "-m", "{good_gguf}", "--memory", "0")),
              Case(VL, ("chat", "-m", "{good_gguf}", "--ctx", "-1"), 2),
              Case(VL, ("chat", "-m", "{good_gguf}", "--gpu", "tpu")),
              Case(VL, ("demo", "--questions", "-1")), Case(VL, ("demo", "--quality-limit", "0")),
              Case(VL, ("demo", "--questions", "x"), 2)]
    speed = ("bench", "speed", "-m", "{good_gguf}")
    cases += [Case(VL, (*speed, flag, value)) for flag, value in
              [("--reps", "0"), ("--pp", "-1"), ("--tg", "0"), ("--threads", "0"),
               ("--threads", "-3")]]
    quality = ("bench", "quality", "-m", "{ladder}")
    cases += [Case(VL, (*quality, *extra)) for extra in
              [("--samples", "0"), ("--chunks", "0"), ("--ctx", "0"), ("--ctx", str(10**12)),
               ("--limit", "-1"), ("--top-k", "-1"), ("--threads", "0"), ("--gpu-layers", "-2"),
               ("--task", "arithmetic", "--max-tokens", "0"),
               ("--task", "arithmetic", "--think-budget", "-1"), ("--task", "nonsense"),
               ("--quants", "Q9_X")]]
    return cases


def _output_and_corpus_cases() -> list[Case]:
    quality = ("bench", "quality", "-m", "{ladder}", "--quants", "Q8_0", "--chunks", "1")
    cases = [Case(VL, (*quality, "--corpus", c)) for c in BAD_CORPUS_FILES]
    cases += [Case(VL, (*quality, "--markdown", "{blocked}/report.md")),
              Case(VL, (*quality, "--markdown", "{dir}")),
              Case(VL, (*quality, "--plot", "{blocked}/plot.png")),
              Case(VL, (*quality, "--plot", "{dir}"))]
    return cases


def _store_and_home_cases() -> list[Case]:
    cases = [Case(VL, ("pull", ref)) for ref in
             ("no-such-id", "vibethinker-1.5b:Q9_X", ":", "vibethinker-1.5b")]  # offline
    cases += [Case(VL, ("rm", ref)) for ref in ("no-such-id", "..", "../models", "/tmp", "a:b:c")]
    cases += [Case(VL, ("pull",), 2), Case(VL, ("rm",), 2), Case(VL, ("list", "--bogus"), 2),
              Case(VL, ("bench",), 2), Case(VL, ("bench", "speed", "--reps", "x"), 2),
              Case(VL, ("nonsense",), 2), Case(VL, ("doctor", "--rerun", "x"), 2)]
    for home in BAD_HOMES:
        env = (("VIBE_LOCAL_HOME", home),)
        cases += [Case(VL, argv, env=env) for argv in
                  [("list",), ("demo",), ("pull", "vibethinker-nano"), ("doctor",),
                   ("rm", "vibethinker-nano"), ("fit", "-m", "{good_gguf}"),
                   ("run", "-m", "{good_gguf}", "q"), ("chat",),
                   ("bench", "speed", "-m", "{good_gguf}"),
                   ("bench", "quality", "-m", "{ladder}"), ("serve", "--port", "0")]]
    return cases


def _stream_cases() -> list[Case]:
    not_utf8 = b"caf\xe9 \xff\xfe what is 2 + 2?\n"
    return [
        Case(VL, ("run", "-m", "{good_gguf}"), stdin=not_utf8, says="not UTF-8"),
        Case(VL, ("run", "-m", "{good_gguf}", "Solve it."), stdin=not_utf8, says="not UTF-8"),
        Case(VL, ("run", "-m", "{good_gguf}", "--json", "q"), stdin=not_utf8),
        Case(VL, ("run", "-m", "{good_gguf}", "   ")),  # an empty prompt
        Case(VL, ("run", "-m", "{good_gguf}", "--max-tokens", "64", "What is 2 + 2?"),
             closed_stdout=True),
        Case(VL, ("run", "-m", "{good_gguf}", "--json", "--max-tokens", "8", "q"),
             closed_stdout=True),
        Case(VL, ("fit", "-m", "{ladder}"), closed_stdout=True),
        Case(VL, ("fit", "-m", "{ladder}", "--json"), closed_stdout=True),
        Case(VL, ("list",), closed_stdout=True),
        Case(VL, ("doctor",), closed_stdout=True),
        Case(VL, ("--help",), 0, closed_stdout=True),
        Case(VL, ("chat", "-m", "{good_gguf}")),  # no terminal to draw on
    ]


CASES = (_model_cases() + _quantize_cases() + _number_cases() + _output_and_corpus_cases()
         + _serve_cases() + _store_and_home_cases() + _stream_cases())


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, tiny_f16_gguf: Path, tiny_checkpoint, ladder_dir: Path,
             scripted, backend_verdict: Path) -> dict[str, Outcome]:
    """Every case run once, a few at a time; the shared corpus must come out unchanged."""
    root = tmp_path_factory.mktemp("robustness")
    corpus = Corpus(root / "corpus", tiny_f16_gguf, tiny_checkpoint.path)
    corpus.paths.update(good_gguf=scripted.gguf, good_ckpt=tiny_checkpoint.path,
                        ladder=ladder_dir)
    shared = [root / "corpus", tiny_checkpoint.path, ladder_dir, scripted.gguf.parent]
    before = [snapshot(p) for p in shared]
    runner = Runner(corpus, root / "work", seed_home={backend_verdict.name: backend_verdict})
    results = {o.case.id: o for o in run_cases(runner, CASES)}
    slowest = sorted(results.values(), key=lambda o: -o.seconds)[:5]
    print("slowest:", ", ".join(f"{o.case.id} {o.seconds:.1f} s" for o in slowest))  # pytest -s
    assert [snapshot(p) for p in shared] == before, "a case changed the shared inputs"
    return results


def test_the_corpus_covers_every_subcommand() -> None:
    commands = {case.command for case in CASES}
    wanted = {f"{VL} {c}" for c in ("demo", "run", "chat", "serve", "fit", "pull", "list", "rm",
                                    "doctor", "bench speed", "bench quality")}
    wanted |= {f"{VQ} {c}" for c in ("convert", "ladder", "imatrix", "types")}
    assert wanted <= commands, wanted - commands
    assert len({case.id for case in CASES}) == len(CASES), "two cases with the same id"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_fails_in_one_line_and_leaves_nothing(case: Case,
                                                        outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case.id]
    assert problems(outcome) == [], f"stdout: {outcome.stdout[-300:]!r}\nstderr: {outcome.stderr}"
