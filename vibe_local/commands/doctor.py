"""`vibe-local doctor [--rerun] [--json]`: the build, the machine and the backend self-test."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("doctor", help="what this machine and llama.cpp build can do",
                            description=__doc__)
    parser.add_argument("--rerun", action="store_true",
                        help="run the backend self-test again instead of using its cached result")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..doctor import diagnose, format_report
    from ..errors import BackendError

    report = diagnose(rerun_selftest=args.rerun)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    if report.import_error:  # the report is out; the exit status and one line say it failed
        raise BackendError(f"llama-cpp-python cannot be imported ({report.import_error}); "
                           "the report's advice says how to fix it")
    return 0
