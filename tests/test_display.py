"""quantize/display.py: the one byte-size format, table renderer and progress helpers, and
quantize/hub_errors.py's mapping of the errors that need no HTTP response to build."""

from __future__ import annotations

import io

import pytest

from quantize.display import format_bytes, progress_bar, status_line, text_table
from quantize.hub_errors import explain, hub_errors


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("n", "text"), [
    (0, "0.0 KiB"), (1536, "1.5 KiB"), (2**20, "1.0 MiB"), (938 * 2**20, "938.0 MiB"),
    (2**30 - 1, "1,024.0 MiB"), (2**30, "1.00 GiB"), (int(1.86 * 2**30), "1.86 GiB"),
])
def test_format_bytes_uses_binary_units(n: int, text: str) -> None:
    assert format_bytes(n) == text


def test_text_table_aligns_columns_two_spaces_apart() -> None:
    table = text_table(("quant", "size", "note"),
                       [("Q4_K_M", "938.0 MiB", "[bold]kept[/bold]"), ("Q8_0", "1.6 GiB", "")],
                       right=(1,))
    assert table.splitlines() == [
        "quant        size  note",
        "Q4_K_M  938.0 MiB  [bold]kept[/bold]",  # cells are text, never rich markup
        "Q8_0      1.6 GiB",  # no trailing spaces
    ]


def test_progress_draws_nothing_when_not_a_terminal() -> None:
    piped = io.StringIO()
    bar = progress_bar("converting", stream=piped)
    for i in range(1, 4):
        bar(i, 3, f"tensor {i}")
    show, clear = status_line(stream=piped)
    show("reference: chunk 1/4")
    clear()
    assert piped.getvalue() == ""


def test_progress_on_a_terminal_is_rewritten_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    terminal = Terminal()
    show, clear = status_line(stream=terminal)
    show("reference: chunk 1/4")
    clear()
    written = terminal.getvalue()
    assert "reference: chunk 1/4" in written and "\n" not in written and "\r" in written


def test_hub_errors_without_a_response() -> None:
    from huggingface_hub import errors as hf_errors

    offline = explain(hf_errors.OfflineModeIsEnabled("off"), "org/model")
    assert offline.offline and "HF_HUB_OFFLINE is set" in offline.message
    uncached = explain(hf_errors.LocalEntryNotFoundError("x"), "org/model", filename="a.json")
    assert uncached.offline and "a.json from org/model is not in the local cache" in uncached.cause
    refused = explain(ConnectionRefusedError("refused"), "org/model")
    assert refused.offline and "cannot reach the Hugging Face Hub" in refused.cause
    assert all(isinstance(e, type) for e in hub_errors()) and OSError in hub_errors()
