"""`vibe-local run -m MODEL [options] [PROMPT]`: one question, streamed answer.

Piped stdin is put before PROMPT (`cat problem.txt | vibe-local run -m M "Solve this."`).
On a terminal the thinking is shown dimmed, then the answer, then speed on stderr, with LaTeX
math shown as Unicode (--raw: as written); when stdout is not a terminal the output is the plain
text as generated, the thinking between <think> and </think> lines.
Ctrl+C stops the generation and keeps what came. --json prints one object at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from .common import (
    SAMPLING_FLAGS,
    add_machine_arguments,
    add_model_arguments,
    add_sampling_arguments,
    add_speculate_argument,
    machine_options,
    resolve_options,
)
from .stream_printer import StreamPrinter

EXIT_INTERRUPTED = 130


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="answer one prompt", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    add_machine_arguments(parser)
    parser.add_argument("prompt", nargs="?", default="", help="the question (or pipe it in)")
    add_sampling_arguments(parser)
    add_speculate_argument(parser)
    parser.add_argument("--hide-thinking", action="store_true", help="print only the answer")
    parser.add_argument("--raw", action="store_true",
                        help="print LaTeX as written (on a terminal math is shown as Unicode)")
    parser.add_argument("--json", action="store_true",
                        help='print {"model", "quant", "thinking", "answer", "stats"}')


def run(args: argparse.Namespace) -> int:
    from ..api import load
    from ..errors import InvalidRequestError

    prompt = _prompt(args)
    if not prompt.strip():
        raise InvalidRequestError("the prompt is empty; pass a question or pipe one in")
    model = load(args.model, args.quant, args.ctx, **machine_options(args),
                 **resolve_options(args))
    with model:
        printer = StreamPrinter(sys.stdout, hide_thinking=args.hide_thinking, quiet=args.json,
                                raw=args.raw)
        printer.announce(startup_line(model.info))
        interrupted = False
        try:
            sampling = {name: getattr(args, name) for name in SAMPLING_FLAGS}
            sampling["speculate"] = args.speculate
            for event in model.stream(prompt, **sampling):
                printer.show(event)
        except KeyboardInterrupt:
            interrupted = True
        printer.finish(interrupted)
        if args.json:
            print(json.dumps(_as_json(args.model, model, printer), indent=2))
    return EXIT_INTERRUPTED if interrupted else 0


def startup_line(info) -> str:
    """`Q4_K_M · CPU · context 40,960 · 15.6 tokens/s predicted, an 8,000-token reply in 9 min`."""
    from ..speed_choice import speed_summary

    where = "CPU" if info.n_gpu_layers == 0 else f"{info.n_gpu_layers} GPU layers"
    fit = info.extra.get("fit")
    row = next((r for r in fit.rows if r["quant"] == info.quant), {}) if fit else {}
    speed = speed_summary(row)
    return f"{info.quant} · {where} · context {info.ctx:,}" + (f" · {speed}" if speed else "")


def _prompt(args: argparse.Namespace) -> str:
    """PROMPT, with piped stdin (if any) in front of it.

    Raises:
        InvalidRequestError: stdin is not UTF-8 text.
    """
    from ..errors import InvalidRequestError

    try:
        piped = "" if sys.stdin is None or sys.stdin.isatty() else _read_stdin()
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(f"the text piped in is not UTF-8 ({exc.reason} at byte "
                                  f"{exc.start}); convert it, e.g. with iconv -t UTF-8") from None
    parts = [p.strip("\n") for p in (piped, args.prompt) if p and p.strip()]
    return "\n\n".join(parts)


def _read_stdin() -> str:
    """All of stdin, decoded as strict UTF-8 (the text stream may be lenient: surrogateescape
    under a C locale lets bad bytes through to fail later, deep in the tokenizer)."""
    buffer = getattr(sys.stdin, "buffer", None)
    return buffer.read().decode("utf-8") if buffer is not None else sys.stdin.read()


def _as_json(model_arg: str, model, printer: StreamPrinter) -> dict:
    return {"model": model_arg, "quant": model.info.quant, "thinking": "".join(printer.thinking),
            "answer": "".join(printer.answer),
            "stats": asdict(printer.stats) if printer.stats else None}
