"""The quality report as people read it: a terminal table and a Markdown file.

Numbers are printed the way llama-perplexity prints them (KLD to six decimals with its standard
error, probabilities in percent), so they can be set beside published llama.cpp figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from quantize.display import format_bytes, text_table

if TYPE_CHECKING:
    from .quality import QualityReport, QuantRow


def _accuracy(row: QuantRow) -> str:
    if row.task is None:
        return ""
    if row.task.stderr is None:
        return f"{100 * row.task.accuracy:.1f} %"
    return f"{100 * row.task.accuracy:.1f} ± {100 * row.task.stderr:.1f} %"


def _size(row: QuantRow) -> str:
    return "remote" if row.endpoint else format_bytes(row.bytes)


def _compact_cells(row: QuantRow, reference: bool = False) -> list[str]:
    f = row.fidelity
    cells = [row.quant, _size(row), "" if row.endpoint else f"{row.bpw:.2f}"]
    if f is None:
        return cells + ["(reference)" if reference else "", "", "", ""]
    return cells + [f"{f.kld_mean:.6f} ± {f.kld_err:.6f}", f"{100 * f.same_top:.2f} %",
                    f"{f.ppl_ratio:.4f}", f"{100 * f.dp_rms:.3f} %"]


def kld_note(report: QualityReport) -> str:
    """Whether the KLD is exact, or a lower bound and by how much at most."""
    f = report.fidelity
    if not f:
        return ""
    if f["exact"]:  # a --top-k at least the vocabulary runs the exact form too
        return (f"KLD is exact: over the whole {f['vocab']:,}-token vocabulary (the reference's "
                "log-probs kept on disk at 16 bits, its 64 most likely tokens exactly).")
    return (f"KLD is a lower bound (--top-k {f['top_k']:,}): the reference's top "
            f"{f['top_k']:,} of {f['vocab']:,} tokens plus one bucket for the rest; it never "
            f"put more than {100 * f['reference_max_tail_mass']:.3f} % of its probability "
            "outside them. Leave out --top-k for the exact KLD.")


def setup_line(report: QualityReport) -> str:
    ref, c, f = report.reference, report.corpus, report.fidelity
    line = f"reference {ref.quant} ({format_bytes(ref.bytes)})"
    if c:
        line += (f": PPL {f['reference_ppl']:.4f} on {c['scored_tokens']:,} scored tokens "
                 f"({c['chunks']} chunks of {c['ctx']}; corpus: {c['source']})")
    if report.task:
        line += f"; task {report.task['name']}"
    return line


def format_quality_table(report: QualityReport) -> str:
    """Compact table: quant, size, bpw, mean KLD, same top, PPL ratio, RMS Δp, accuracy."""
    header = ["quant", "size", "bpw", "mean KLD", "same top", "PPL ratio", "RMS Δp"]
    rows = [_compact_cells(r) for r in report.rows]
    if report.task:
        header.append("accuracy")
        rows = [_compact_cells(report.reference, reference=True)] + rows
        rows = [cells + [_accuracy(r)] for cells, r in zip(rows, [report.reference,
                                                                  *report.rows])]
    if not report.corpus:  # accuracy only: drop the empty fidelity columns
        header, rows = header[:3] + header[7:], [r[:3] + r[7:] for r in rows]
    lines = [setup_line(report), text_table(header, rows)]
    notes = [kld_note(report), _sandbox_note(report)]
    return "\n".join(lines + [n for n in notes if n])


def _sandbox_note(report: QualityReport) -> str | None:
    """How model-written code was isolated (humaneval), so a reader knows what ran it."""
    used = {r.task.isolation for r in [report.reference, *report.rows]
            if r.task is not None and r.task.isolation}
    return f"Generated code ran in the sandbox with isolation: {', '.join(sorted(used))}." \
        if used else None


def _pm(value: float, err: float, digits: int, scale: float = 1.0, unit: str = "") -> str:
    return f"{scale * value:.{digits}f} ± {scale * err:.{digits}f}{unit}"


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _fidelity_tables(report: QualityReport) -> list[str]:
    measured = [r for r in report.rows if r.fidelity is not None]
    if not measured:
        return []
    main = [[r.quant, format_bytes(r.bytes), f"{r.bpw:.2f}",
             _pm(r.fidelity.kld_mean, r.fidelity.kld_err, 6),
             _pm(r.fidelity.same_top, r.fidelity.same_top_err, 2, 100, " %"),
             _pm(r.fidelity.ppl, r.fidelity.ppl_err, 4),
             _pm(r.fidelity.ppl_ratio, r.fidelity.ppl_ratio_err, 4),
             _pm(r.fidelity.ln_ppl_ratio, r.fidelity.ln_ppl_ratio_err, 5),
             _pm(r.fidelity.dp_mean, r.fidelity.dp_err, 3, 100, " %"),
             _pm(r.fidelity.dp_rms, r.fidelity.dp_rms_err, 3, 100, " %"),
             f"{r.fidelity.extra.get('seconds', 0):.1f}"] for r in measured]
    kld_keys = list(measured[0].fidelity.kld)
    dp_keys = list(measured[0].fidelity.dp)
    return [
        "## Fidelity to the reference\n",
        _markdown_table(["quant", "size", "bpw", "mean KLD", "same top", "PPL(Q)",
                         "PPL(Q)/PPL(base)", "ln(PPL(Q)/PPL(base))", "mean Δp", "RMS Δp",
                         "seconds"], main),
        "\n" + kld_note(report) + "\n",
        "### KLD distribution over tokens\n",
        _markdown_table(["quant", *kld_keys],
                        [[r.quant, *(f"{v:.6f}" for v in r.fidelity.kld.values())]
                         for r in measured]),
        "\n### Δp distribution over tokens (p_Q − p_base of the actual next token)\n",
        _markdown_table(["quant", *dp_keys],
                        [[r.quant, *(f"{100 * v:.3f} %" for v in r.fidelity.dp.values())]
                         for r in measured]),
    ]


def _task_table(report: QualityReport) -> list[str]:
    if not report.task:
        return []
    rows = [[r.quant, _size(r), _accuracy(r), str(r.task.n_items),
             str(r.task.samples), f"{r.task.seconds:.0f}"]
            for r in [report.reference, *report.rows] if r.task is not None]
    settings = ", ".join(f"{k} {v}" for k, v in report.task.items() if k != "name")
    return [f"\n## Task accuracy: {report.task['name']}\n", f"Settings: {settings}.\n",
            _markdown_table(["quant", "size", "accuracy", "items", "samples", "seconds"], rows)]


GLOSSARY = """
## What the numbers mean

- **mean KLD**: KL divergence of the quant's next-token distribution from the reference's,
  averaged over the scored tokens (nats; 0 = identical). The best single fidelity number.
- **same top**: how often the quant's most likely next token is the reference's.
- **PPL(Q)/PPL(base)**: ratio of the quant's perplexity on the text to the reference's
  (1 = no loss); ln of it with its uncertainty, which accounts for the correlation of the two.
- **Δp**: change in the probability of the token that actually comes next; RMS Δp is its
  typical size.
- Uncertainties are one standard error, computed as llama.cpp's `llama-perplexity` does.
"""


def to_markdown(report: QualityReport) -> str:
    """A standalone Markdown report: setup, fidelity tables, task accuracy, glossary."""
    parts = [f"# Quality of {report.model} per quant\n", setup_line(report) + ".\n"]
    parts += _fidelity_tables(report) + _task_table(report) + [GLOSSARY]
    return "\n".join(parts)


def write_markdown(report: QualityReport, target: str | Path) -> Path:
    """`to_markdown(report)` written to `target` atomically; returns the path."""
    from quantize.atomic import atomic_output

    target = Path(target)
    with atomic_output(target) as temp:
        temp.write_text(to_markdown(report), encoding="utf-8")
    return target
