"""`vibe-local fit -m MODEL [--ctx N] [--memory SIZE] [--gpu SPEC] [--json]`.

For each quant: weights, KV cache, compute buffer and total memory, and whether it runs fully
on the GPU, partly, on the CPU, or not at all; then the choice and why, in one line.
A catalogue model that is not downloaded yet is planned from the catalogue (its geometry, and
sizes estimated from bits per weight), offline; `--yes` pulls it first and fits the real files.
"""

from __future__ import annotations

import argparse
import json

from .common import (
    add_machine_arguments,
    add_model_arguments,
    machine_options,
    resolve_options,
)

EXIT_DOES_NOT_FIT = 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("fit", help="which quant, GPU offload and context fit this machine",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    add_machine_arguments(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..api import fit
    from ..fitting import format_table

    result = fit(args.model, quant=args.quant, ctx=args.ctx, **machine_options(args),
                 **resolve_options(args))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(machine_line(result.hardware))
        print(format_table(result))
        if result.download_plan:
            print(f"Nothing was downloaded. After `vibe-local pull {args.model}` the fit decides "
                  "again from the real files.")
    return 0 if result.choice else EXIT_DOES_NOT_FIT


def machine_line(hw) -> str:
    gpus = ", ".join(f"{g.name} {g.free_bytes / 2**30:.1f} GiB free" for g in hw.gpus) or "no GPU"
    simulated = f" (simulated: {', '.join(hw.simulated)})" if hw.simulated else ""
    return (f"machine: {hw.physical_cores} cores, {hw.ram_available / 2**30:.1f} GiB RAM "
            f"available, {gpus}{simulated}")
