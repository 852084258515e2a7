"""`vibe-local bench quality [-m MODEL] [--quants Q4_K_M,Q8_0] [--corpus FILE] [--task NAME]`.

Fidelity of each quant to the model's 16-bit file, with llama-perplexity's KL-divergence
statistics: mean KLD, how often the top token agrees, PPL(Q)/PPL(base), RMS Δp. The text is
cut into --ctx chunks and the second half of each is scored; by default it is text the 16-bit
model writes itself for a fixed set of questions (generated once, cached). --task adds task
accuracy (arithmetic, gsm8k, humaneval) with the same prompts and seeds for every quant.
Progress goes to stderr; the table (or --json) to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..commands.common import add_ladder_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vibe-local bench quality`."""
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_ladder_arguments(parser, model_help="a catalogue id or a ladder directory with "
                         "manifest.json; its BF16/F16/F32 file is the reference",
                         quants_help="quants to compare")
    fidelity = parser.add_argument_group("fidelity (KL divergence)")
    fidelity.add_argument("--corpus", type=Path, help="text file to score (default: text the "
                          "reference model writes for a fixed set of questions)")
    fidelity.add_argument("--ctx", type=int, default=512,
                          help="tokens per chunk; the second half is scored (default 512)")
    fidelity.add_argument("--chunks", type=int,
                          help="use the first N chunks (default: all; 4 of generated text)")
    fidelity.add_argument("--top-k", type=int, default=1024,
                          help="reference log-probs kept per token (default 1024)")
    fidelity.add_argument("--no-kld", action="store_true",
                          help="skip the fidelity passes (with --task: accuracy only)")
    task = parser.add_argument_group("task accuracy")
    task.add_argument("--task", help="arithmetic, gsm8k or humaneval")
    task.add_argument("--limit", type=int, help="items of the task to use (default: all)")
    task.add_argument("--samples", type=int, default=1, help="samples per item (default 1)")
    task.add_argument("--greedy", action="store_true", help="greedy decoding instead of "
                      "VibeThinker's sampling")
    task.add_argument("--seed", type=int, default=0, help="seed of the sampling and of the "
                      "generated corpus (default 0)")
    task.add_argument("--think-budget", type=int, help="close the thinking after N tokens")
    task.add_argument("--max-tokens", type=int, help="cap each reply at N tokens")
    remote = parser.add_argument_group("a model served elsewhere (task accuracy only)")
    remote.add_argument("--endpoint", metavar="URL", help="an OpenAI-compatible server's /v1 URL "
                        "(vibe-local serve, vLLM, llama-server): measured alone, or as one more "
                        "row next to --quants")
    remote.add_argument("--api-key", help="key for --endpoint (env VIBE_LOCAL_API_KEY)")
    remote.add_argument("--endpoint-model", metavar="ID",
                        help="model id to ask --endpoint for (default: the first it lists)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="full statistics as JSON")
    out.add_argument("--markdown", type=Path, metavar="FILE", help="write a Markdown report")
    out.add_argument("--plot", type=Path, metavar="FILE.png",
                     help="plot quality against file size (needs vibe-local[plot])")
    parser.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")
    parser.add_argument("--gpu-layers", type=int, default=0,
                        help="layers offloaded to the GPU in the fidelity passes (default 0)")


def run(args: argparse.Namespace) -> int:
    from ..errors import InvalidRequestError
    from .quality import run_quality
    from .quality_report import format_quality_table, to_markdown

    if args.no_kld and not args.task:
        raise InvalidRequestError("--no-kld leaves nothing to measure; add --task NAME")
    endpoint = _endpoint(args)
    if endpoint is not None and not args.quants:
        return _endpoint_only(endpoint, args)
    if args.plot is not None:
        _check_plot_available()
    quants = [q.strip() for q in args.quants.split(",") if q.strip()] if args.quants else None
    report = run_quality(
        args.model, quants, args.corpus, args.task, limit=args.limit, samples=args.samples,
        seed=args.seed, greedy=args.greedy, think_budget=args.think_budget,
        max_tokens=args.max_tokens, ctx=args.ctx, chunks=args.chunks, top_k=args.top_k,
        fidelity=not args.no_kld, threads=args.threads, gpu_layers=args.gpu_layers,
        assume_yes=args.yes, progress=_to_stderr, endpoint=endpoint)
    if args.markdown is not None:
        from quantize.atomic import atomic_output

        with atomic_output(args.markdown) as temp:
            temp.write_text(to_markdown(report), encoding="utf-8")
        _to_stderr(f"wrote {args.markdown}")
    if args.plot is not None:
        from .quality_plot import write_plot

        _to_stderr(f"wrote {write_plot(report, args.plot)}")
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_quality_table(report))
    return 0


def _endpoint(args: argparse.Namespace):
    """The --endpoint model (checked to answer before any local work), or None."""
    import os

    from ..errors import InvalidRequestError
    from .endpoint import EndpointModel

    if args.endpoint is None:
        return None
    if not args.task:
        raise InvalidRequestError("--endpoint measures task accuracy; add --task NAME")
    if not args.quants and (args.markdown or args.plot):
        raise InvalidRequestError("--markdown and --plot report a local ladder; with --endpoint "
                                  "add --quants to put the endpoint in that report")
    key = args.api_key or os.environ.get("VIBE_LOCAL_API_KEY")
    return EndpointModel(args.endpoint, key, args.endpoint_model)


def _endpoint_only(endpoint, args: argparse.Namespace) -> int:
    """Task accuracy of the endpoint alone (no --quants): one line, or --json."""
    from .accuracy import evaluate
    from .tasks import get_task

    task = get_task(args.task)
    result = evaluate(endpoint, task, limit=args.limit, samples=args.samples, seed=args.seed,
                      greedy=args.greedy, think_budget=args.think_budget,
                      max_tokens=args.max_tokens,
                      progress=lambda done, total: _to_stderr(f"{args.task} {done}/{total}"))
    if args.json:
        print(json.dumps({"endpoint": endpoint.url, "model": endpoint.model,
                          "task": result.to_dict()}, indent=2))
    else:
        print(f"{endpoint.model} at {endpoint.url}: {result.summary()}")
    return 0


def _check_plot_available() -> None:
    """Fail before the long passes, not after them, when --plot cannot be drawn."""
    import importlib.util

    from ..errors import InvalidRequestError
    from .quality_plot import NO_MATPLOTLIB

    if importlib.util.find_spec("matplotlib") is None:
        raise InvalidRequestError(NO_MATPLOTLIB)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
