"""One module per `vibe-local` command: `add_parser(subparsers)` and `run(args) -> exit code`."""
