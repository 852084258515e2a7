"""`vibe-local serve [-m MODEL]`: an OpenAI-compatible HTTP server on this machine.

Editors, chat front-ends and scripts that speak the OpenAI API (Continue, Open WebUI, aider, the
`openai` package) can use the model at http://127.0.0.1:8000/v1. Thinking comes apart from the
answer (`reasoning_content`), with a per-request thinking budget (`thinking_budget_tokens`).
The fit chooses quant, GPU offload and context as for `run`. One reply is generated at a time;
up to --max-queue requests wait, beyond that the server answers 503 at once.
Binds 127.0.0.1; another --host needs --api-key (or VIBE_LOCAL_API_KEY), or --no-auth.
Needs the `server` extra: pip install 'vibe-local[server]'.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .common import (
    add_machine_arguments,
    add_model_arguments,
    add_speculate_argument,
    machine_options,
    resolve_options,
)

API_KEY_ENV = "VIBE_LOCAL_API_KEY"


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="serve the model over an OpenAI-compatible HTTP API",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    add_machine_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on "
                        "(default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any)")
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--api-key", help=f"require 'Authorization: Bearer KEY' (env {API_KEY_ENV})")
    key.add_argument("--api-key-file", type=Path, help="read the key from this file")
    parser.add_argument("--no-auth", action="store_true",
                        help="allow a non-loopback --host without a key")
    parser.add_argument("--think-budget", type=int, help="default thinking budget in tokens "
                        "(a request's thinking_budget_tokens overrides it)")
    parser.add_argument("--max-queue", type=int, default=8,
                        help="requests that may wait behind the running one (default 8)")
    add_speculate_argument(parser)


def run(args: argparse.Namespace) -> int:
    from ..api import load
    from ..server import require_extra

    require_extra()
    from ..server.app import ServerConfig
    from ..server.runner import bind, check_bind, serve, url_of

    _check_numbers(args)
    api_key = _api_key(args)
    warning = check_bind(args.host, api_key, args.no_auth)
    sock = bind(args.host, args.port)  # before loading: a taken port fails in a second
    try:
        model = load(args.model, args.quant, args.ctx, **machine_options(args),
                     **resolve_options(args))
    except BaseException:
        sock.close()
        raise
    config = ServerConfig(model_id=served_id(args.model), api_key=api_key,
                          max_queue=args.max_queue, think_budget=args.think_budget,
                          speculate=args.speculate)
    with model:
        _announce(config, model, url_of(sock), warning)
        serve(model, config, sock)
    print("vibe-local: server stopped", file=sys.stderr)
    return 0


def served_id(model_arg: str) -> str:
    """The model's name in the API: the catalogue id (its `:QUANT` is answered to as well, see
    the app's names), or the file/directory name."""
    path = Path(model_arg)
    if path.suffix == ".gguf":
        return path.stem
    return path.name if path.exists() else model_arg.split(":", 1)[0]


def _check_numbers(args: argparse.Namespace) -> None:
    from ..errors import InvalidRequestError

    if not 0 <= args.port <= 65535:
        raise InvalidRequestError(f"--port must be from 0 to 65535, not {args.port}")
    if args.max_queue < 0:
        raise InvalidRequestError(f"--max-queue must be 0 or more, not {args.max_queue}")
    if args.think_budget is not None and args.think_budget < 0:
        raise InvalidRequestError(f"--think-budget must be 0 or more, not {args.think_budget}")


def _api_key(args: argparse.Namespace) -> str | None:
    """--api-key, --api-key-file or VIBE_LOCAL_API_KEY; never printed or logged."""
    from ..errors import InvalidRequestError

    if args.api_key_file is not None:
        try:
            key = args.api_key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidRequestError(f"cannot read --api-key-file {args.api_key_file}: "
                                      f"{getattr(exc, 'strerror', None) or exc}") from None
        if not key:
            raise InvalidRequestError(f"--api-key-file {args.api_key_file} is empty")
        return key
    return args.api_key or os.environ.get(API_KEY_ENV) or None


def _announce(config, model, url: str, warning: str | None) -> None:
    """What runs (the fit's choice), where, and a request to try; never the key itself."""
    info = model.info
    reason = info.extra.get("reason")
    print(f"vibe-local: serving {config.model_id} ({info.quant}, context {info.ctx:,}, "
          f"{info.n_gpu_layers} GPU layers){f': {reason}' if reason else ''}", file=sys.stderr)
    if warning:
        print(f"vibe-local: warning: {warning}", file=sys.stderr)
    auth = f' -H "Authorization: Bearer ${API_KEY_ENV}"' if config.api_key else ""
    print(f"vibe-local: OpenAI-compatible API at {url}/v1 (Ctrl+C to stop); try:\n"
          f"  curl {url}/v1/chat/completions{auth} -H 'Content-Type: application/json' \\\n"
          f"    -d '{{\"model\": \"{config.model_id}\", \"messages\": "
          f"[{{\"role\": \"user\", \"content\": \"What is 17 * 23?\"}}]}}'",
          file=sys.stderr, flush=True)
