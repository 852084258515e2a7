"""Sample input/output pairs in a competitive-programming question, for the chat's `/test`.

Problem statements write samples as headed blocks: `Input:` / `Output:`, `Sample Input 1` /
`Sample Output 1`, `**Example 2** Input: 3 4 Output: 7`, often fenced. A heading is a line
that is (after Markdown emphasis) only such a word, or the word and a colon followed by the
text on the same line; so "Output the answer modulo 10^9+7." is not one. Outputs compare as a
judge does: the same whitespace-separated tokens. A body ends at the next heading or, outside
a fence, at a blank line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(
    r"^[\s#>*_]*(?:(?:sample|example)\s*(?:test)?\s*(?:case)?\s*)?(input|output)s?"
    r"\s*(?:#?\d+)?\s*[*_]*\s*(?::[*_]*\s*(.*)|[*_]*\s*)$", re.IGNORECASE)
_OTHER = re.compile(r"^[\s#>*_]*(?:example|sample|explanation|note|constraints?)\b",
                    re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Sample:
    """One sample: what goes to stdin, what should come out."""

    input: str
    output: str


def find_samples(question: str) -> list[Sample]:
    """The input/output pairs of `question`, in order (an input without an output is left out)."""
    sections = _sections(question)
    samples = []
    for (kind, text), (next_kind, next_text) in zip(sections, sections[1:]):
        if kind == "input" and next_kind == "output":
            samples.append(Sample(text, next_text))
    return samples


def _sections(question: str) -> list[tuple[str, str]]:
    """(input|output|other, body) for each headed section."""
    sections: list[tuple[str, list[str]]] = []
    fenced = False
    for line in question.splitlines():
        heading = None if fenced else _HEADING.match(line)
        if heading:
            sections.append((heading.group(1).lower(), [heading.group(2) or ""]))
        elif _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (_OTHER.match(line) or not line.strip() and sections
                             and "".join(sections[-1][1]).strip()):
            sections.append(("other", []))  # a blank line after a body ends it, outside fences
        elif sections:
            sections[-1][1].append(line)
    return [(kind, _body(lines)) for kind, lines in sections]


def _body(lines: list[str]) -> str:
    text = "\n".join(lines).strip("\n")
    text = re.sub(r"^`+|`+$", "", text.strip())  # `3 4` written as inline code
    return text.strip() + "\n" if text.strip() else ""


def same_output(expected: str, got: str) -> bool:
    """What online judges accept: equal tokens, whatever the spacing and line ends."""
    return expected.split() == got.split()
