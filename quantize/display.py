"""How sizes, tables and progress look on a terminal, the same for both commands.

One byte-size convention (binary units, as memory and llama.cpp's logs count them), tables
laid out by `rich` and progress bars by `tqdm` (both declared dependencies, though Textual and
huggingface_hub bring them too). It sits in `quantize`, the lower package, so that
`vibe-quantize` and `vibe-local` share it; rich and tqdm are imported when first used.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TextIO

KIB, MIB, GIB = 2**10, 2**20, 2**30
_TABLE_WIDTH = 1_000  # wide enough never to wrap: the text is printed, piped and grepped


def format_bytes(n: float) -> str:
    """A size in binary units: "766.2 KiB", "830.0 MiB", "1.86 GiB"."""
    if n < MIB:
        return f"{n / KIB:,.1f} KiB"
    return f"{n / MIB:,.1f} MiB" if n < GIB else f"{n / GIB:,.2f} GiB"


def format_duration(seconds: float) -> str:
    """A wait as a person reads it: "45 s", "12 min", "1.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]],
               right: Sequence[int] = ()) -> str:
    """Plain-text columns two spaces apart, header first, no borders and no styling.

    Args:
        right: indexes of the columns aligned right (numbers); the others align left.
    """
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False,
                  header_style="none")
    for i, name in enumerate(header):
        table.add_column(Text(name), justify="right" if i in right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    out = io.StringIO()
    Console(file=out, width=_TABLE_WIDTH, color_system=None, force_terminal=False,
            no_color=True, emoji=False, highlight=False).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def progress_bar(description: str, stream: TextIO | None = None
                 ) -> Callable[[int, int, str], None]:
    """A callback `(done, total, label)` drawing a progress bar on a terminal.

    tqdm draws nothing when the stream is not a terminal (piped output stays clean) and uses
    no colour; the bar is removed when done reaches total.
    """
    from tqdm import tqdm

    bars: list = []  # made at the first call, when the total is known

    def show(done: int, total: int, label: str) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=description, file=stream or sys.stderr,
                             disable=None, leave=False, dynamic_ncols=True))
        bars[0].set_postfix_str(label, refresh=False)
        bars[0].update(done - bars[0].n)
        if done >= total:
            bars[0].close()

    return show


def status_line(stream: TextIO | None = None) -> tuple[Callable[[str], None], Callable[[], None]]:
    """(show, clear): one line of status rewritten in place on a terminal; on anything else
    both do nothing (no carriage returns in piped output)."""
    from tqdm import tqdm

    line = tqdm(file=stream or sys.stderr, disable=None, bar_format="{desc}", leave=False,
                dynamic_ncols=True)
    return line.set_description_str, line.close
