"""Arguments several commands share: which model, which quant, and the simulated machine."""

from __future__ import annotations

import argparse

DEFAULT_MODEL = "vibethinker-1.5b"  # the smaller one runs on most laptops


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_choice(parser, "a catalogue id (vibethinker-3b, vibethinker-3b:Q4_K_M), a .gguf "
                     "file or a ladder directory with manifest.json")
    parser.add_argument("--quant", default="auto",
                        help="quant to use (default: auto, the best that fits)")
    parser.add_argument("--ctx", type=positive_int, help="context length in tokens "
                        "(default: the model's recommended length when it fits)")


def positive_int(text: str) -> int:
    """An argparse type for counts (--ctx, ...): a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def resolve_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for `api.fit`/`api.load`: pull with --yes, or ask on a terminal."""
    import sys

    interactive = sys.stdin is not None and sys.stdin.isatty() and sys.stderr.isatty()
    return {"assume_yes": args.yes, "interactive": interactive}


SAMPLING_FLAGS = {  # name -> help; checked by sampling_rules, as the API and /set check them
    "max_tokens": "cap on the whole reply, thinking included",
    "think_budget": "close the thinking after this many tokens and answer",
    "temperature": "sampling temperature, 0 to 2 (default 0.6; 0 is greedy)",
    "top_p": "nucleus sampling, above 0 and at most 1 (default 0.95; 1 is off)",
    "top_k": "keep the K most likely tokens (default 0: off)",
    "min_p": "drop tokens below this share of the most likely one, 0 to 1 (default 0: off)",
    "seed": "seed for a reproducible reply",
}


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """--max-tokens, --think-budget, --temperature, --top-p, --top-k, --min-p, --seed."""
    for name, text in SAMPLING_FLAGS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=_sampling_value(name), help=text,
                            metavar="N")


def add_speculate_argument(parser: argparse.ArgumentParser) -> None:
    """--no-speculate: decode one token per step (to compare; the output is the same)."""
    parser.add_argument("--no-speculate", dest="speculate", action="store_false",
                        help="turn off self-speculative decoding (drafts from the context, "
                        "verified in batches; same tokens, usually faster)")


def _sampling_value(name: str):
    """An argparse type: the shared sampling rule, a bad value becoming a usage error."""

    def parse(text: str):
        from ..errors import InvalidRequestError
        from ..sampling_rules import check_sampling_value

        try:
            return check_sampling_value(name, text)
        except InvalidRequestError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def add_machine_arguments(parser: argparse.ArgumentParser) -> None:
    """--memory and --gpu (simulate a machine), --min-speed and --prefer (how to choose)."""
    from ..speed_choice import DEFAULT_MIN_SPEED, PREFERENCES

    parser.add_argument("--memory", help="simulate this much RAM, e.g. 8GiB "
                        "(env VIBE_LOCAL_MEMORY)")
    parser.add_argument("--gpu", help="simulate a GPU: none, cuda:12GiB, metal or metal:16GiB "
                        "(env VIBE_LOCAL_GPU)")
    parser.add_argument("--min-speed", type=positive_number, metavar="TOK_S",
                        help="generated tokens/s the automatic choice aims at: the best quant "
                        f"predicted this fast, else the fastest (default {DEFAULT_MIN_SPEED:g})")
    parser.add_argument("--prefer", choices=PREFERENCES, default="speed",
                        help="speed: as --min-speed says (default); quality: the most bits "
                        "per weight that fit, however slow")


def machine_options(args: argparse.Namespace) -> dict:
    """The machine and choice flags as keyword arguments for `api.fit` / `api.load`."""
    return {"memory": args.memory, "gpu": args.gpu, "min_speed": args.min_speed,
            "prefer": args.prefer}


def positive_number(text: str) -> float:
    """An argparse type for rates (--min-speed): a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def add_model_choice(parser: argparse.ArgumentParser, model_help: str) -> None:
    """-m MODEL (what `model_help` says it may be) and -y (pull it without asking)."""
    parser.add_argument("-m", "--model", default=DEFAULT_MODEL,
                        help=f"{model_help} (default: {DEFAULT_MODEL})")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="pull a catalogue model that is not downloaded yet without asking")


def quant_list(text: str | None) -> list[str] | None:
    """--quants as a list of names (None: every quant the model has)."""
    if text is None:
        return None
    return [q.strip() for q in text.split(",") if q.strip()] or None


def to_stderr(line: str) -> None:
    """Progress lines: stderr, flushed, so stdout holds only the result."""
    import sys

    print(line, file=sys.stderr, flush=True)
