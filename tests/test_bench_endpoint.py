"""`vibe-local bench quality --task T --endpoint URL`: task accuracy of a model behind an
OpenAI-compatible server, here `vibe-local serve` on the demo model, equal to the in-process
bench on the same model, items and seeds."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")

import vibe_local  # noqa: E402
from vibe_local.bench.accuracy import evaluate  # noqa: E402
from vibe_local.bench.endpoint import EndpointModel  # noqa: E402
from vibe_local.bench.tasks import get_task  # noqa: E402
from vibe_local.cli import main  # noqa: E402
from vibe_local.generation import Sampling  # noqa: E402
from vibe_local.server.app import ServerConfig  # noqa: E402
from vibe_local.server.runner import BackgroundServer  # noqa: E402

# Sampled, not greedy, so the seeds decide the replies: they must reach the server intact.
SAMPLED = Sampling(temperature=1.0, top_p=0.95, max_tokens=448)


@pytest.fixture
def served(backend_ready):
    with vibe_local.load("vibethinker-nano", sampling=SAMPLED) as model, \
            BackgroundServer(model, ServerConfig(model_id="vibethinker-nano",
                                                 api_key="k")) as server:
        yield model, server


def test_endpoint_accuracy_equals_the_in_process_bench(served) -> None:
    model, server = served
    task = get_task("arithmetic")
    settings = {"limit": 6, "samples": 2, "seed": 3}
    local = evaluate(model, task, **settings)
    remote = evaluate(EndpointModel(f"{server.url}/v1", "k", sampling=SAMPLED), task,
                      **settings)
    assert [i.passes for i in remote.items] == [i.passes for i in local.items]
    assert [i.extracted for i in remote.items] == [i.extracted for i in local.items]
    assert [i.completion_tokens for i in remote.items] == [i.completion_tokens
                                                           for i in local.items]
    assert remote.accuracy == local.accuracy


def test_cli_endpoint_alone_and_beside_the_local_quants(served, capsys) -> None:
    _, server = served
    args = ["bench", "quality", "--task", "arithmetic", "--limit", "3", "--endpoint",
            server.url, "--api-key", "k"]  # the URL without /v1 works too
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"vibethinker-nano at {server.url}/v1: arithmetic: ")
    assert main([*args, "-m", "vibethinker-nano", "--quants", "BF16", "--no-kld"]) == 0
    table = capsys.readouterr().out.splitlines()
    local = next(line for line in table if line.startswith("BF16"))
    remote = next(line for line in table if line.startswith("vibethinker-nano (endpoint)"))
    # the server runs the same BF16 file; both are asked with the same sampling and seeds
    assert "remote" in remote and local.split()[-4:] == remote.split()[-4:]


@pytest.mark.parametrize(("extra", "says"), [
    (["--api-key", "wrong"], "answered 401"),
    (["--api-key", "k", "--endpoint-model", "nope"], "answered 404"),
])
def test_cli_endpoint_errors_are_one_line(served, capsys, extra, says) -> None:
    _, server = served
    code = main(["bench", "quality", "--task", "arithmetic", "--limit", "1", "--endpoint",
                 server.url, *extra])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and says in err


def test_unreachable_endpoint_and_missing_task(capsys) -> None:
    assert main(["bench", "quality", "--task", "arithmetic", "--endpoint",
                 "http://127.0.0.1:9/v1"]) == 1
    assert "cannot use http://127.0.0.1:9/v1/models" in capsys.readouterr().err
    assert main(["bench", "quality", "--endpoint", "http://127.0.0.1:9/v1"]) == 1
    assert "add --task" in capsys.readouterr().err
