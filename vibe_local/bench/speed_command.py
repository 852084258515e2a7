"""`vibe-local bench speed` (being built)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `vibe-local bench speed`."""


def run(args: argparse.Namespace) -> int:
    from ..errors import InvalidRequestError

    raise InvalidRequestError("vibe-local bench speed is not built yet")
