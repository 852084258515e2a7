"""Benchmark: what `vibe-local serve` adds to the engine — generation speed and time to first token.

The same GGUF is loaded in this process (the Python API, `Model.stream`) and served by
`vibe-local serve` in a child process; rounds alternate between the two so machine noise hits
both alike. Each round sends a fresh prompt (a round number in front, so no cached prefix helps
either side) and generates --tokens tokens with the same sampling and seed.

    python tests/benchmarks/serve_overhead.py [--model FILE.gguf] [--rounds 10] [--tokens 64]

Without --model it builds (once, in --workdir) a Q4_K_M of a synthetic checkpoint with
VibeThinker-1.5B's exact shapes (tests/benchmarks/convert_vs_reference.py).

Measured per round:
- time to first token as a client sees it: from the call (in-process) or from sending the HTTP
  request (server, streamed) to the first piece of text. Added TTFT = median(server) -
  median(in-process).
- generation tokens/s: the engine's own figure (`generation_tokens_per_s`, reported by the
  server in the last chunk's `vibe_local` field), and the rate the client receives text
  ((chunks - 1) / time from the first to the last piece).
Targets from issue 13: server tokens/s >= 0.97x in-process; added TTFT <= 15 ms (median of 10).
Then a follow-up turn of a conversation whose first turn is ~500 tokens: its time to first
token with the conversation's prefix in the KV cache, and after an unrelated request evicted it.
Not a test: it reports figures measured in one run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

PROMPT = "Round {n}. Tell me a long story about a fox who learns arithmetic."
SAMPLING = {"temperature": 0.6, "top_p": 0.95, "top_k": 40}


def model_file(workdir: Path) -> Path:
    """The 1.5B-shaped Q4_K_M, built once."""
    from convert_vs_reference import build_checkpoint

    from quantize.ladder import build_ladder

    target = workdir / "ladder" / "vibethinker-1.5b-synthetic-Q4_K_M.gguf"
    if not target.is_file():
        src = workdir / "vibethinker-1.5b-synthetic"
        if not (src / "config.json").is_file():
            print(f"building a 1.5B-shaped checkpoint in {src} ...", flush=True)
            build_checkpoint(src)
        build_ladder(src, workdir / "ladder", ["Q4_K_M"])
    found = sorted((workdir / "ladder").glob("*Q4_K_M.gguf"))
    return found[0]


def in_process(model, n: int, tokens: int) -> dict | None:
    """One in-process reply; None when it ended early or wrote no text (a random-weight model
    can draw an end-of-generation token), so the round is retried with another seed."""
    started = time.perf_counter()
    first = None
    for event in model.stream(PROMPT.format(n=n), max_tokens=tokens, seed=n, **SAMPLING):
        if first is None and getattr(event, "text", ""):
            first = time.perf_counter()
        stats = getattr(event, "stats", None)
    if first is None or stats.completion_tokens < tokens:
        return None
    return {"ttft": first - started, "engine_tps": stats.generation_tokens_per_s,
            "tokens": stats.completion_tokens}


def through_server(url: str, n: int, tokens: int) -> dict:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    body = {"messages": [{"role": "user", "content": PROMPT.format(n=n)}], "stream": True,
            "max_tokens": tokens, "seed": n, "reasoning_format": "none", **SAMPLING}
    started = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Content-Type": "application/json"})
    response = conn.getresponse()
    times, details = [], {}
    for line in response:
        if not line.startswith(b"data: {"):
            continue
        choice = json.loads(line[6:])["choices"][0]
        if choice["delta"].get("content"):
            times.append(time.perf_counter())
        details = choice.get("vibe_local") or details
    conn.close()
    client_tps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    return {"ttft": times[0] - started, "engine_tps": details["generation_tokens_per_s"],
            "client_tps": client_tps}


LONG = ("The quick brown fox jumps over the lazy dog while the old man reads a book about the "
        "history of the river and the mountains that surround the small village. ") * 16


def follow_up(url: str, tokens: int) -> dict:
    """TTFT of a second turn with the first turn cached (warm) and not (cold), via the server."""
    first = [{"role": "user", "content": LONG + "Summarize this."}]
    reply = _post(url, {"messages": first, "max_tokens": tokens, "seed": 1,
                        "reasoning_format": "none", **SAMPLING})
    turn = [*first, {"role": "assistant", "content": reply["choices"][0]["message"]["content"]},
            {"role": "user", "content": "Now say it in one word."}]
    warm = _post(url, {"messages": turn, "max_tokens": 2, "seed": 1, **SAMPLING})
    _post(url, {"messages": [{"role": "user", "content": "Unrelated."}], "max_tokens": 2})
    cold = _post(url, {"messages": turn, "max_tokens": 2, "seed": 1, **SAMPLING})
    return {name: (r["usage"]["prompt_tokens"], r["usage"]["prompt_tokens_details"][
        "cached_tokens"], r["choices"][0]["vibe_local"]["time_to_first_token_s"])
            for name, r in (("warm", warm), ("cold", cold))}


def _post(url: str, body: dict) -> dict:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Content-Type": "application/json"})
    answer = json.loads(conn.getresponse().read())
    conn.close()
    return answer


def start_server(path: Path, ctx: int) -> tuple[subprocess.Popen, str]:
    """`vibe-local serve` on a free port, with the same context as the in-process model."""
    command = [sys.executable, "-m", "vibe_local.cli", "serve", "-m", str(path), "--port", "0",
               "--ctx", str(ctx)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    for line in process.stderr:
        found = re.search(r"API at (http://\S+)/v1", line)
        if found:
            return process, found.group(1)
    raise RuntimeError(f"the server did not start (exit {process.wait()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a GGUF (default: the 1.5B-shaped Q4_K_M)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/vibe-serve-bench"))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--ctx", type=int, default=2048, help="context (the follow-up turn "
                        "runs from 2048)")
    args = parser.parse_args()
    import vibe_local

    path = args.model or model_file(args.workdir)
    model = vibe_local.load(path, ctx=args.ctx)
    process, url = start_server(path, args.ctx)
    try:
        ours, served, seed = [], [], 0
        while in_process(model, seed, 8) is None:  # warm-up, both sides
            seed += 1
        through_server(url, seed, 8)
        while len(ours) < args.rounds:
            seed += 1
            mine = in_process(model, seed, args.tokens)
            if mine is None:
                continue
            ours.append(mine)
            served.append(through_server(url, seed, args.tokens))
            n = len(ours) - 1
            print(f"round {n}: in-process ttft {ours[-1]['ttft'] * 1e3:.1f} ms "
                  f"{ours[-1]['engine_tps']:.2f} t/s | server ttft "
                  f"{served[-1]['ttft'] * 1e3:.1f} ms {served[-1]['engine_tps']:.2f} t/s "
                  f"(client sees {served[-1]['client_tps']:.2f})", flush=True)
        turns = follow_up(url, args.tokens) if args.ctx >= 2048 else {}
    finally:
        process.terminate()
        process.wait(30)
        model.close()
    report(path, ours, served)
    for name, (prompt, cached, ttft) in turns.items():
        print(f"follow-up turn, {name}: {prompt} prompt tokens, {cached} cached, time to first "
              f"token {ttft * 1e3:.0f} ms")


def report(path: Path, ours: list[dict], served: list[dict]) -> None:
    def median(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    tps_ratio = median(served, "engine_tps") / median(ours, "engine_tps")
    client_ratio = median(served, "client_tps") / median(ours, "engine_tps")
    added = (median(served, "ttft") - median(ours, "ttft")) * 1e3
    print(f"\nmodel: {path.name}, {len(ours)} rounds (medians)")
    print(f"time to first token: in-process {median(ours, 'ttft') * 1e3:.1f} ms, server "
          f"{median(served, 'ttft') * 1e3:.1f} ms, added {added:+.1f} ms (target <= 15)")
    print(f"generation: in-process {median(ours, 'engine_tps'):.2f} t/s, server "
          f"{median(served, 'engine_tps'):.2f} t/s = {tps_ratio:.3f}x (target >= 0.97); "
          f"rate received by the client {client_ratio:.3f}x")


if __name__ == "__main__":
    main()
