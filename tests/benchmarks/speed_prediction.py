"""Benchmark: the fit's predicted decode speed against measured, per quant of one ladder.

    uv run python tests/benchmarks/speed_prediction.py /work/scratch/b15/ladder \
        --quants BF16,Q8_0,Q4_K_M,Q2_K --rounds 3 --tg 16 --pp 32

Rounds interleave the quants (A B C D, A B C D, ...) so load from other work falls on all of
them alike; each measurement is `bench speed`'s (a fresh process per quant, one repetition after
a warm-up, the runtime's loading path). The machine's figures the prediction rests on (RAM
bandwidth, CPU compute) are measured in every round too, and medians of everything are used.

Two predictions per quant, both from the fit's own code (speed_model.roofline):
- roofline: the machine's figures and the typical shares, nothing learned;
- learned (leave one out): the roofline scaled by the median measured / roofline ratio of the
  *other* quants, as `fit` predicts a file it has not run yet once others have run on this
  machine ("learned" rows).
Target (issue 14): predicted within ±20 % of measured. Not a test: the machine may be shared;
the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from vibe_local.bench.bandwidth import measure_bandwidth  # noqa: E402
from vibe_local.bench.speed import measure_speed  # noqa: E402
from vibe_local.gguf_info import options_from_path, read_geometry  # noqa: E402
from vibe_local.hardware import probe  # noqa: E402
from vibe_local.machine_speed import FIRST_BUFFER_BYTES, DeviceSpeed, MachineSpeed, measure_flops  # noqa: E402,E501
from vibe_local.speed_model import roofline  # noqa: E402


def measure(ladder: Path, quants: list[str], rounds: int, pp: int, tg: int) -> dict:
    """Per quant: tg and pp t/s per round; and the machine's figures per round."""
    tg_ts: dict[str, list[float]] = {q: [] for q in quants}
    pp_ts: dict[str, list[float]] = {q: [] for q in quants}
    bandwidth, flops = [], []
    for r in range(rounds):
        bandwidth.append(measure_bandwidth(FIRST_BUFFER_BYTES).bytes_per_s)
        flops.append(measure_flops())
        for q in quants:
            row = measure_speed(ladder, [q], reps=1, pp=pp, tg=tg).rows[0]
            if row.error:
                raise SystemExit(f"{q}: {row.error}")
            tg_ts[q] += row.tg_ts
            pp_ts[q] += row.pp_ts
            print(f"round {r + 1}/{rounds} {q}: tg {row.tg_ts[0]:.2f} pp {row.pp_ts[0]:.2f} t/s "
                  f"(load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    return {"tg": tg_ts, "pp": pp_ts, "bandwidth": bandwidth, "flops": flops}


def report(ladder: Path, quants: list[str], data: dict, pp: int, tg: int) -> None:
    hw = probe()
    cpu = DeviceSpeed(hw.cpu_name, statistics.median(data["bandwidth"]),
                      statistics.median(data["flops"]), "measured in this run")
    machine = MachineSpeed("benchmark", cpu)
    paths = {o.quant: o.path for o in options_from_path(ladder)}
    rows = {}
    for q in quants:
        g = read_geometry(paths[q])
        gen = roofline(g, 0, "f16", machine, (tg + 1) / 2)[0]
        prompt = roofline(g, 0, "f16", machine, pp / 2)[1]
        rows[q] = (gen, statistics.median(data["tg"][q]), prompt, statistics.median(data["pp"][q]))
    print(f"machine: {hw.cpu_name}, {len(os.sched_getaffinity(0))} CPUs; RAM bandwidth "
          f"{cpu.bytes_per_s / 1e9:.1f} GB/s, compute {cpu.flops / 1e9:.1f} GFLOP/s (medians); "
          f"load average {os.getloadavg()}")
    print(f"tg{tg} / pp{pp}, medians of {len(data['bandwidth'])} interleaved rounds")
    print("quant   measured tg  roofline  ratio  learned(LOO)  ratio | measured pp  predicted  "
          "ratio")
    for q, (gen, got, prompt, got_pp) in rows.items():
        others = [rows[o][1] / rows[o][0] for o in rows if o != q]
        learned = gen * statistics.median(others) if others else float("nan")
        print(f"{q:7} {got:11.2f} {gen:9.2f} {gen / got:6.2f} {learned:13.2f} "
              f"{learned / got:6.2f} | {got_pp:11.2f} {prompt:10.2f} {prompt / got_pp:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ladder", type=Path)
    parser.add_argument("--quants", default="BF16,Q8_0,Q4_K_M,Q2_K")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pp", type=int, default=32)
    parser.add_argument("--tg", type=int, default=16)
    args = parser.parse_args()
    quants = [q.strip() for q in args.quants.split(",") if q.strip()]
    data = measure(args.ladder, quants, args.rounds, args.pp, args.tg)
    report(args.ladder, quants, data, args.pp, args.tg)


if __name__ == "__main__":
    main()
