"""Load test of `vibe-local serve` on the demo model: many clients at once, some hanging up.

    python tests/benchmarks/serve_load.py [--clients 32] [--requests 4] [--max-queue 8]

Starts `vibe-local serve -m vibethinker-nano` in a child process, then:
1. serves every request alone, one after another: the reference reply for each (question, seed);
2. runs --clients threads at once, each sending --requests streamed requests in turn; every
   fourth client hangs up after a few chunks of each of its requests; the others read to the end;
3. repeats step 2 --waves times, reading the server's RSS after each wave.
Every request must be answered or refused with 503 (none may hang: a 120 s socket timeout counts
as hung), every answer must equal its reference (the same seed gives the same reply whatever else
the server is doing), and the RSS must stay flat from wave to wave after the first.
Sampling is VibeThinker's (temperature 0.6, top_p 0.95) with a seed per request, so the replies
are real draws, not greedy. Not a test: it prints what it saw.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

QUESTIONS = ["What is 12 + 34?", "What is 305 - 127?", "What is 23 * 7?", "What is 481 + 519?",
             "What is 96 - 58?", "What is 14 * 12?", "What is 700 + 65?", "What is 9 * 9?"]
HANG_UP_AFTER = 3  # chunks a disconnecting client reads


def request(url: str, question: str, seed: int, hang_up: bool) -> tuple[str, str]:
    """One streamed chat request: (outcome, reply text). Outcomes: ok, refused, gone, hung,
    error."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    body = {"messages": [{"role": "user", "content": question}], "stream": True, "seed": seed,
            "temperature": 0.6, "top_p": 0.95, "reasoning_format": "none"}
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(body),
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        if response.status == 503:
            return ("refused" if response.getheader("Retry-After") else "error"), ""
        text, chunks, done = [], 0, False
        for line in response:
            if line.startswith(b"data: [DONE]"):
                done = True
            elif line.startswith(b"data: {"):
                chunks += 1
                choices = json.loads(line[6:])["choices"]
                text.append((choices[0]["delta"].get("content") or "") if choices else "")
                if hang_up and chunks >= HANG_UP_AFTER:
                    return "gone", ""
        return ("ok" if done else "error"), "".join(text)
    except TimeoutError:
        return "hung", ""
    finally:
        conn.close()


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


def wave(url: str, clients: int, per_client: int, reference: dict) -> Counter:
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def client(c: int) -> None:
        for k in range(per_client):
            key = (QUESTIONS[(c + k) % len(QUESTIONS)], c * per_client + k)
            outcome, text = request(url, *key, hang_up=c % 4 == 0)
            if outcome == "ok" and text != reference[key]:
                outcome = "different"
            with lock:
                outcomes[outcome] += 1

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--max-queue", type=int, default=8)
    parser.add_argument("--waves", type=int, default=3)
    args = parser.parse_args()
    process = subprocess.Popen([sys.executable, "-m", "vibe_local.cli", "serve", "-m",
                                "vibethinker-nano", "--port", "0", "--max-queue",
                                str(args.max_queue)], stderr=subprocess.PIPE, text=True, cwd=ROOT)
    url = next(m.group(1) for line in process.stderr
               if (m := re.search(r"API at (http://\S+)/v1", line)))
    try:
        keys = {(QUESTIONS[(c + k) % len(QUESTIONS)], c * args.requests + k)
                for c in range(args.clients) for k in range(args.requests)}
        started = time.perf_counter()
        reference = {key: request(url, *key, hang_up=False)[1] for key in sorted(keys)}
        alone = time.perf_counter() - started
        print(f"{len(reference)} reference replies served alone in {alone:.1f} s; "
              f"server RSS {rss_mib(process.pid):.1f} MiB")
        for n in range(args.waves):
            started = time.perf_counter()
            outcomes = wave(url, args.clients, args.requests, reference)
            print(f"wave {n + 1}: {dict(sorted(outcomes.items()))} in "
                  f"{time.perf_counter() - started:.1f} s; server RSS "
                  f"{rss_mib(process.pid):.1f} MiB", flush=True)
        health = http.client.HTTPConnection(*url.removeprefix("http://").rsplit(":", 1))
        health.request("GET", "/health")
        print("server queue counts:", json.loads(health.getresponse().read())["queue"])
    finally:
        process.terminate()
        print(f"server exit status after SIGTERM: {process.wait(30)}")


if __name__ == "__main__":
    main()
