"""`vibe-quantize`: the command line over `quantize.convert` and `quantize.build_ladder`.

It only parses, calls and prints. Every failure is one line on stderr (cli_errors.py): a
QuantizeError exits 1, a usage error 2, a bug 1 with its traceback logged; no traceback reaches
the user (set VIBE_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .cli_errors import OneLineParser, run_guarded
from .display import format_bytes, progress_bar, text_table
from .errors import QuantizeError


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="vibe-quantize",
        description="Convert a Hugging Face Qwen2 checkpoint (VibeThinker-1.5B / -3B) to GGUF "
        "and quantize it with llama.cpp.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    conv = sub.add_parser("convert", help="checkpoint directory -> one F32/F16/BF16 GGUF file")
    conv.add_argument("src", help="local checkpoint directory (config.json, *.safetensors, ...)")
    conv.add_argument("--outtype", default="f16", choices=["f32", "f16", "bf16"],
                      help="tensor type of the output (default: f16)")
    conv.add_argument("-o", "--out", required=True, help="output .gguf path")
    conv.add_argument("--name", help="model name for the GGUF header")

    lad = sub.add_parser("ladder", help="16-bit master + quantized files + manifest.json")
    lad.add_argument("src", help="local checkpoint directory or Hugging Face repo id")
    lad.add_argument("--out", required=True, help="output directory")
    lad.add_argument("--types", help="comma-separated types (default: "
                     "Q2_K,Q3_K_M,Q4_K_M,Q5_K_M,Q6_K,Q8_0); `vibe-quantize types` lists all")
    lad.add_argument("--name", help="model name used in file names (default: source name)")
    lad.add_argument("--revision", help="Hub branch, tag or commit (repo ids only)")
    lad.add_argument("--force", action="store_true", help="rebuild files even if up to date")
    lad.add_argument("--verbose", action="store_true", help="show llama.cpp's own log lines")
    lad.add_argument("--imatrix", metavar="auto|FILE",
                     help="quantize with an importance matrix (files named TYPE-imat): `auto` "
                     "computes it from the master on the default calibration text and keeps it "
                     "in --out; FILE is one from `vibe-quantize imatrix` or llama-imatrix")

    imat = sub.add_parser("imatrix", help="importance matrix of a model on calibration text "
                          "(for better low-bit quants and the IQ types)")
    imat.add_argument("model", help="GGUF file (normally the 16-bit master) or ladder directory")
    imat.add_argument("--calibration", default="default", metavar="FILE|default|self",
                      help="text to run: a UTF-8 file, `default` (shipped math and code problems "
                      "with worked reasoning) or `self` (the model's own thinking on shipped "
                      "problems); default: default")
    imat.add_argument("--chunks", type=int, help="chunks to evaluate (default: the whole text; "
                      "16 for self)")
    imat.add_argument("--ctx", type=int, default=512, help="tokens per chunk (default: 512)")
    imat.add_argument("--threads", type=int, help="CPU threads (default: all)")
    imat.add_argument("-o", "--out", required=True, help="output file (.gguf, llama.cpp's format)")
    imat.add_argument("--verbose", action="store_true", help="show llama.cpp's own log lines")

    sub.add_parser("types", help="list the quantization types that can be built")
    return parser


def main(argv: list[str] | None = None) -> int:
    def command() -> int:
        args = build_parser().parse_args(argv)
        return _COMMANDS[args.command](args)

    return run_guarded("vibe-quantize", command,
                       known=(QuantizeError,), log_dir=_log_dir,
                       interrupted="interrupted; no partial files were kept")


def _log_dir() -> Path:
    """Crash logs: the platform's user log directory (vibe-quantize knows no vibe-local home)."""
    from platformdirs import user_log_dir

    return Path(user_log_dir("vibe-quantize", appauthor=False))


def _convert(args: argparse.Namespace) -> int:
    from .convert import convert

    started = time.perf_counter()
    result = convert(args.src, args.out, args.outtype, name=args.name,
                     on_tensor=progress_bar("converting"))
    print(f"wrote {result.path} ({format_bytes(result.bytes)}, {result.outtype.upper()}, "
          f"{result.n_parameters:,} parameters) in {time.perf_counter() - started:.1f} s")
    return 0


def _ladder(args: argparse.Namespace) -> int:
    from .ladder import build_ladder

    manifest = build_ladder(args.src, args.out, args.types, name=args.name, force=args.force,
                            revision=args.revision, verbose=args.verbose, imatrix=args.imatrix,
                            report=lambda line: print(line, file=sys.stderr, flush=True))
    print(text_table(("quant", "size", "bpw", "file"),
                     [(f.quant, format_bytes(f.bytes), f"{f.bpw:.2f}", f.file)
                      for f in manifest.files], right=(1, 2)))
    print(f"manifest: {os.path.join(args.out, 'manifest.json')}")
    return 0


def _imatrix(args: argparse.Namespace) -> int:
    from .imatrix.make import ImatrixRequest, make_imatrix

    started = time.perf_counter()
    request = ImatrixRequest(args.model, args.out, args.calibration, args.chunks, args.ctx,
                             args.threads, args.verbose)
    result = make_imatrix(request, on_chunk=progress_bar("imatrix"),
                          on_writing=progress_bar("self-calibration"))
    print(f"wrote {args.out}: {len(result.entries)} matrices, {result.chunk_count} chunks of "
          f"{result.chunk_size} tokens of {result.datasets[0]!r}, "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


def _types(args: argparse.Namespace) -> int:
    from .quant_types import DEFAULT_LADDER, NEEDS_IMATRIX, available_types

    for name, ftype in available_types().items():
        mark = "  (default ladder)" if name in DEFAULT_LADDER else ""
        mark += "  (needs --imatrix)" if name in NEEDS_IMATRIX else ""
        print(f"{name:<8} ftype {ftype:>2}{mark}")
    return 0


_COMMANDS = {"convert": _convert, "ladder": _ladder, "imatrix": _imatrix, "types": _types}

if __name__ == "__main__":
    sys.exit(main())
