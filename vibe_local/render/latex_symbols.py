"""The tables behind the LaTeX renderer: which command becomes which Unicode character.

Kept apart from the parser so the parser reads as grammar and these read as a glossary. Only
what VibeThinker writes (school and competition math) is here; anything else stays verbatim.
"""

from __future__ import annotations

_GREEK = ("alpha α beta β gamma γ delta δ epsilon ϵ varepsilon ε zeta ζ eta η theta θ "
          "vartheta ϑ iota ι kappa κ lambda λ mu μ nu ν xi ξ omicron ο pi π varpi ϖ rho ρ "
          "varrho ϱ sigma σ varsigma ς tau τ upsilon υ phi ϕ varphi φ chi χ psi ψ omega ω "
          "Gamma Γ Delta Δ Theta Θ Lambda Λ Xi Ξ Pi Π Sigma Σ Upsilon Υ Phi Φ Psi Ψ Omega Ω")

# Symbols written as they are, without spaces around them.
_ORDINARY = ("infty ∞ partial ∂ nabla ∇ emptyset ∅ varnothing ∅ forall ∀ exists ∃ nexists ∄ "
             "neg ¬ lnot ¬ cdots ⋯ ldots … dots … dotsc … dotsb ⋯ vdots ⋮ ddots ⋱ angle ∠ "
             "triangle △ prime ′ circ ∘ degree ° ell ℓ hbar ℏ Re ℜ Im ℑ aleph ℵ sum ∑ prod ∏ "
             "coprod ∐ int ∫ iint ∬ iiint ∭ oint ∮ bigcup ⋃ bigcap ⋂ langle ⟨ rangle ⟩ "
             "lfloor ⌊ rfloor ⌋ lceil ⌈ rceil ⌉ lvert | rvert | vert | lVert ‖ rVert ‖ Vert ‖ "
             "lbrace { rbrace } backslash ∖ surd √ checkmark ✓ square □ blacksquare ■ "
             "star ⋆ ast ∗ bullet • dagger † ddagger ‡ clubsuit ♣ diamondsuit ♢ heartsuit ♡ "
             "spadesuit ♠ flat ♭ sharp ♯ natural ♮ top ⊤ bot ⊥ diamond ⋄ Box □ qed ∎")

# Operators, relations and arrows: written with a space on each side.
_SPACED = ("times × cdot ⋅ div ÷ pm ± mp ∓ le ≤ leq ≤ leqslant ≤ ge ≥ geq ≥ geqslant ≥ "
           "ne ≠ neq ≠ approx ≈ equiv ≡ sim ∼ simeq ≃ cong ≅ propto ∝ in ∈ notin ∉ ni ∋ "
           "subset ⊂ subseteq ⊆ subsetneq ⊊ supset ⊃ supseteq ⊇ cup ∪ cap ∩ setminus ∖ "
           "land ∧ wedge ∧ lor ∨ vee ∨ perp ⊥ parallel ∥ mid ∣ nmid ∤ ll ≪ gg ≫ oplus ⊕ "
           "otimes ⊗ odot ⊙ to → rightarrow → leftarrow ← gets ← Rightarrow ⇒ Leftarrow ⇐ "
           "implies ⟹ impliedby ⟸ iff ⟺ Leftrightarrow ⇔ leftrightarrow ↔ mapsto ↦ "
           "longrightarrow ⟶ longleftarrow ⟵ Longrightarrow ⟹ Longleftarrow ⟸ "
           "Longleftrightarrow ⟺ longmapsto ⟼ uparrow ↑ downarrow ↓ nearrow ↗ searrow ↘ "
           "therefore ∴ because ∵ models ⊨ vdash ⊢ prec ≺ succ ≻ preceq ⪯ succeq ⪰ "
           "lesssim ≲ gtrsim ≳ asymp ≍ doteq ≐ triangleq ≜ coloneqq ≔ ngeq ≱ nleq ≰")

# Named functions, written upright as their name.
FUNCTIONS = frozenset(
    "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh coth log ln lg exp lim "
    "liminf limsup max min sup inf gcd lcm deg det dim ker arg hom Pr mod bmod".split())


def _pairs(table: str) -> dict[str, str]:
    words = table.split()
    return dict(zip(words[::2], words[1::2]))


GREEK = _pairs(_GREEK)
ORDINARY = {**GREEK, **_pairs(_ORDINARY)}
SPACED = _pairs(_SPACED)

# Single-character escapes: `\%` is a percent sign, `\,` a thin space (dropped), ...
ESCAPES = {"$": "$", "%": "%", "&": "&", "#": "#", "_": "_", "{": "{", "}": "}", "|": "‖",
           ",": "", "!": "", ";": " ", ":": " ", ">": " ", " ": " ", "/": ""}
SPACES = {"quad": "  ", "qquad": "   ", "enspace": " ", "thinspace": "", "medspace": "",
          "thickspace": " ", "negthinspace": "", "hfill": " ", "space": " ", "nobreakspace": " "}

# Commands that change only size or style and are dropped (their argument, if any, stays).
DROPPED = frozenset(
    "displaystyle textstyle scriptstyle limits nolimits left right big Big bigg Bigg bigl "
    "bigr Bigl Bigr biggl biggr Biggl Biggr middle hline nonumber notag centering "
    "allowbreak strut mathstrut".split())

# Commands whose single argument is shown as plain text.
TEXT_COMMANDS = frozenset(
    "text textrm textnormal textbf textit textsf texttt emph mbox hbox mathrm mathbf mathit "
    "mathsf mathtt mathnormal operatorname boldsymbol bm pmb underline".split())

# Accents: a combining character after each character of the argument.
ACCENTS = {"bar": "\u0304", "overline": "\u0305", "hat": "\u0302", "widehat": "\u0302",
           "tilde": "\u0303", "widetilde": "\u0303", "vec": "\u20d7", "overrightarrow": "\u20d7",
           "dot": "\u0307", "ddot": "\u0308", "acute": "\u0301", "grave": "\u0300",
           "breve": "\u0306", "check": "\u030c"}

FRACTIONS = frozenset({"frac", "dfrac", "tfrac", "cfrac"})
ENVIRONMENTS = frozenset(
    "aligned align align* alignat alignat* gather gather* gathered split equation equation* "
    "eqnarray eqnarray* cases dcases rcases array matrix pmatrix bmatrix Bmatrix vmatrix "
    "Vmatrix smallmatrix multline multline*".split())
MATRIX_BRACKETS = {"pmatrix": "()", "bmatrix": "[]", "Bmatrix": "{}", "vmatrix": "||",
                   "Vmatrix": "‖‖", "matrix": "", "smallmatrix": "", "array": ""}

_DOUBLE_STRUCK_HOLES = {"C": "ℂ", "H": "ℍ", "N": "ℕ", "P": "ℙ", "Q": "ℚ", "R": "ℝ", "Z": "ℤ"}


def double_struck(char: str) -> str | None:
    """`\\mathbb{R}` -> ℝ; None for what has no double-struck form."""
    if char in _DOUBLE_STRUCK_HOLES:
        return _DOUBLE_STRUCK_HOLES[char]
    if "A" <= char <= "Z":
        return chr(0x1D538 + ord(char) - ord("A"))
    if "a" <= char <= "z":
        return chr(0x1D552 + ord(char) - ord("a"))
    if "0" <= char <= "9":
        return chr(0x1D7D8 + ord(char) - ord("0"))
    return None


SUPERSCRIPT = dict(zip(
    "0123456789+-=()niabcdefghjklmoprstuvwxyzABDEGHIJKLMNOPRTUVW′∗",
    "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱᵃᵇᶜᵈᵉᶠᵍʰʲᵏˡᵐᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂ′*"))
SUBSCRIPT = dict(zip("0123456789+-=()aehijklmnoprstuvxβγρφχ",
                     "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓᵦᵧᵨᵩᵪ"))
