"""`vibe-local bench quality` (being built)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vibe-local bench quality`."""


def run(args: argparse.Namespace) -> int:
    from ..errors import InvalidRequestError

    raise InvalidRequestError("vibe-local bench quality is not built yet")
