"""`vibe-local bench quality [-m MODEL] [--quants Q4_K_M,Q8_0] [--corpus FILE] [--task NAME]`.

Fidelity of each quant to the model's 16-bit file, with llama-perplexity's KL-divergence
statistics: mean KLD, how often the top token agrees, PPL(Q)/PPL(base), RMS Δp. The text is
cut into --ctx chunks and the second half of each is scored; by default it is text the 16-bit
model writes itself for a fixed set of questions (generated once, cached). --task adds task
accuracy (arithmetic, gsm8k, humaneval) with the same prompts and seeds for every quant.
Everything is checked before the first pass: numbers, options, packages, task data, outputs.
Progress goes to stderr; the table (or --json) to stdout; the full results are also saved as
JSON under the data directory (bench/reports/) before --markdown and --plot are written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import quant_list, to_stderr

SUMMARY = "fidelity to the 16-bit model (KLD, PPL ratio) and task accuracy"
MODEL_HELP = ("a catalogue id or a ladder directory with manifest.json; its BF16/F16/F32 file "
              "is the reference")
QUANTS_HELP = "quants to compare"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `vibe-local bench quality` besides -m, -y and --quants."""
    fidelity = parser.add_argument_group("fidelity (KL divergence)")
    fidelity.add_argument("--corpus", type=Path, help="text file to score (default: text the "
                          "reference model writes for a fixed set of questions)")
    fidelity.add_argument("--ctx", type=int,
                          help="tokens per chunk; the second half is scored (default 512)")
    fidelity.add_argument("--chunks", type=int,
                          help="use the first N chunks (default: all; 4 of generated text)")
    fidelity.add_argument("--top-k", type=int, metavar="K",
                          help="keep only the reference's top K log-probs per token, in memory: "
                          "a lower bound on the KLD (default: the whole vocabulary, on disk, "
                          "exact)")
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
    out.add_argument("--json", action="store_true", help="full statistics as JSON on stdout")
    out.add_argument("--markdown", type=Path, metavar="FILE", help="write a Markdown report")
    out.add_argument("--plot", type=Path, metavar="FILE.png",
                     help="plot quality against file size (needs vibe-local[plot])")
    parser.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")
    parser.add_argument("--gpu-layers", type=int, default=0,
                        help="layers offloaded to the GPU in the fidelity passes (default 0)")


def run(args: argparse.Namespace) -> int:
    from ..bench.quality import run_quality
    from ..bench.quality_report import format_quality_table

    _check_outputs(args.markdown, args.plot)
    endpoint = _endpoint(args)
    if endpoint is not None and not args.quants:
        return _endpoint_only(endpoint, args)
    report = run_quality(
        args.model, quant_list(args.quants), args.corpus, args.task, limit=args.limit,
        samples=args.samples, seed=args.seed, greedy=args.greedy,
        think_budget=args.think_budget, max_tokens=args.max_tokens, ctx=args.ctx,
        chunks=args.chunks, top_k=args.top_k, fidelity=not args.no_kld, threads=args.threads,
        gpu_layers=args.gpu_layers, assume_yes=args.yes, progress=to_stderr, endpoint=endpoint)
    # The hours of work are kept first; the artefacts that can still fail come after.
    saved, failures = _attempt("saving the results", report.save)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_quality_table(report),
          flush=True)
    if saved is not None:
        to_stderr(f"results saved in {saved}")
    failures += _write_artefacts(report, args.markdown, args.plot)
    if failures:
        from ..errors import InvalidRequestError

        kept = f"; the results are saved in {saved}" if saved is not None else ""
        raise InvalidRequestError("; ".join(failures) + kept)
    return 0


def _endpoint(args: argparse.Namespace):
    """The --endpoint model (checked to answer before any local work), or None."""
    import os

    from ..bench.endpoint import EndpointModel
    from ..errors import InvalidRequestError

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
    from ..bench.quality import endpoint_accuracy

    result = endpoint_accuracy(endpoint, args.task, limit=args.limit, samples=args.samples,
                               seed=args.seed, greedy=args.greedy,
                               think_budget=args.think_budget, max_tokens=args.max_tokens,
                               fidelity_options={"corpus": args.corpus, "ctx": args.ctx,
                                                 "chunks": args.chunks, "top_k": args.top_k},
                               progress=to_stderr)
    if args.json:
        print(json.dumps({"endpoint": endpoint.url, "model": endpoint.model,
                          "task": result.to_dict()}, indent=2))
    else:
        print(f"{endpoint.model} at {endpoint.url}: {result.summary()}")
    return 0


def _check_outputs(markdown: Path | None, plot: Path | None) -> None:
    """Refuse an output that cannot be written, or a plot without matplotlib, before the run."""
    from quantize.atomic import check_output_file

    if markdown is not None:
        check_output_file(markdown, example="quality.md")
    if plot is not None:
        from ..bench.quality_plot import require_matplotlib

        require_matplotlib()
        check_output_file(plot, example="quality.png")
    if markdown is not None and plot is not None and markdown.resolve() == plot.resolve():
        from ..errors import InvalidRequestError

        raise InvalidRequestError(f"--markdown and --plot both name {markdown}; give two files")


def _write_artefacts(report, markdown: Path | None, plot: Path | None) -> list[str]:
    """Write the Markdown report and the plot; what failed, as short clauses for one line."""
    failures: list[str] = []
    if markdown is not None:
        from ..bench.quality_report import write_markdown

        done, failed = _attempt("the Markdown report", write_markdown, report, markdown)
        failures += failed
        if done is not None:
            to_stderr(f"wrote {done}")
    if plot is not None:
        from ..bench.quality_plot import write_plot

        done, failed = _attempt("the plot", write_plot, report, plot)
        failures += failed
        if done is not None:
            to_stderr(f"wrote {done}")
    return failures


def _attempt(what: str, write, *args) -> tuple[Path | None, list[str]]:
    """Call `write(*args)`; a failure becomes a clause for the one error line, not an exit."""
    from quantize.errors import QuantizeError

    from ..errors import VibeLocalError

    try:
        return write(*args), []
    except (VibeLocalError, QuantizeError, OSError) as exc:
        return None, [f"{what} could not be written ({exc})"]
