"""The model catalogue: `models.toml` (shipped) plus the user's own `models.toml`, as dataclasses.

The shipped file sits at the repository root; a wheel carries it as `vibe_local/models.toml`
(pyproject's force-include), so both an installed and a source checkout find it. The user
catalogue (`home_dir() / "models.toml"`) has the same schema; its entries add to the shipped
ones or replace them by id. Unknown keys are ignored so older versions read newer files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantize.quant_names import canonical

from .errors import CatalogError, ModelNotFoundError
from .generation import Sampling
from .paths import home_dir

CATALOG_NAME = "models.toml"


@dataclass(frozen=True)
class GgufSource:
    """A Hub repo of ready-made GGUF files and how its files are named."""

    repo: str
    pattern: str  # e.g. "VibeThinker-3B-{quant}.gguf"
    revision: str | None = None

    def filename(self, quant: str) -> str:
        return self.pattern.format(quant=quant)


@dataclass(frozen=True)
class Geometry:
    """A model's shape as its config.json states it: enough for the memory fit to plan a
    download before any file exists (see `remote_fit.plan_download`)."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    tied: bool
    trained_context: int


@dataclass(frozen=True)
class CatalogEntry:
    """One model id: where its files come from and how to run it."""

    id: str
    name: str
    source: str
    architecture: str
    parameters: int
    context: int
    ladder: tuple[str, ...]
    license: str = ""
    base: str | None = None
    gguf: tuple[GgufSource, ...] = ()
    sampling: Sampling = Sampling()  # its recommended sampling; unset keys: VibeThinker's
    geometry: Geometry | None = None  # lets `fit` plan before the download


def catalog_files() -> list[Path]:
    """The shipped catalogue (installed copy first, then the source checkout), then the user's."""
    here = Path(__file__).resolve().parent
    shipped = next((p for p in (here / CATALOG_NAME, here.parent / CATALOG_NAME) if p.is_file()),
                   None)
    return [p for p in (shipped, home_dir() / CATALOG_NAME) if p is not None and p.is_file()]


def load_catalog(files: list[Path] | None = None) -> dict[str, CatalogEntry]:
    """All entries by id; later files replace earlier entries with the same id.

    Raises:
        CatalogError: a file is not valid TOML, or an entry lacks a key or has a wrong type.
    """
    entries: dict[str, CatalogEntry] = {}
    for path in catalog_files() if files is None else files:
        models = _read_toml(path).get("models", {})
        if not isinstance(models, dict):
            raise CatalogError(f"{path}: [models] must be a table of entries")
        for model_id, table in models.items():
            entries[model_id] = parse_entry(model_id, table, path)
    return entries


def get_entry(model_id: str) -> CatalogEntry:
    """The catalogue entry for an id.

    Raises:
        ModelNotFoundError: no such id; the message lists the known ones.
        CatalogError: a catalogue file is malformed.
    """
    catalog = load_catalog()
    if model_id not in catalog:
        raise ModelNotFoundError(f"no such model file, ladder directory or catalogue id: "
                                 f"{model_id!r}; known ids: {', '.join(sorted(catalog))}")
    return catalog[model_id]


def split_ref(ref: str) -> tuple[str, str | None]:
    """"vibethinker-3b:Q4_K_M" -> ("vibethinker-3b", "Q4_K_M"); no colon -> (ref, None)."""
    model_id, sep, quant = ref.partition(":")
    return model_id, (canonical(quant) or None) if sep else None


def _read_toml(path: Path) -> dict[str, Any]:
    from .toml_file import read_toml

    try:
        return read_toml(path)
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise CatalogError(f"{path} is not valid TOML: {exc}") from None


_REQUIRED = {"name": str, "source": str, "architecture": str, "parameters": int,
             "context": int, "ladder": list}
_OPTIONAL = {"license": str, "base": str}
_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", list: "a list",
               bool: "true or false"}


def parse_entry(model_id: str, table: Any, path: Path | str = CATALOG_NAME) -> CatalogEntry:
    """Build one entry from its TOML table, naming the entry and key in any error.

    Raises:
        CatalogError: a missing required key, or a value of the wrong type.
    """
    where = f"{path}: entry {model_id!r}"
    if not isinstance(table, dict):
        raise CatalogError(f"{where} must be a table")
    values: dict[str, Any] = {}
    for key, kind in {**_REQUIRED, **_OPTIONAL}.items():
        if key not in table:
            if key in _REQUIRED:
                raise CatalogError(f"{where} lacks the required key {key!r}")
            continue
        values[key] = _typed(table[key], kind, f"{where}, key {key!r}")
    if not values["ladder"] or not all(isinstance(q, str) for q in values["ladder"]):
        raise CatalogError(f"{where}, key 'ladder' must be a non-empty list of quant names")
    values["ladder"] = tuple(canonical(q) for q in values["ladder"])
    return CatalogEntry(id=model_id, **values, gguf=_gguf_sources(table.get("gguf", []), where),
                        sampling=_sampling(table.get("sampling", {}), where),
                        geometry=_geometry(table.get("geometry"), where))


def _typed(value: Any, kind: type, where: str) -> Any:
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise CatalogError(f"{where} must be {_KIND_NAMES[kind]}, not {value!r}")
    return value


def _sampling(table: Any, where: str) -> Sampling:
    if not isinstance(table, dict):
        raise CatalogError(f"{where}, key 'sampling' must be a table")
    kinds = {"temperature": float, "top_p": float, "top_k": int, "max_tokens": int}
    return Sampling(**{k: _typed(table[k], kind, f"{where}, key 'sampling.{k}'")
                       for k, kind in kinds.items() if k in table})


def _geometry(table: Any, where: str) -> Geometry | None:
    """The optional [models.ID.geometry] table; every key is required when it is there."""
    if table is None:
        return None
    if not isinstance(table, dict):
        raise CatalogError(f"{where}, key 'geometry' must be a table")
    values = {}
    for name, kind in Geometry.__annotations__.items():
        if name not in table:
            raise CatalogError(f"{where}, key 'geometry.{name}' is missing")
        flag = kind == "bool"  # annotations are strings here (postponed evaluation)
        values[name] = _typed(table[name], bool if flag else int, f"{where}, key 'geometry.{name}'")
        if not flag and values[name] < 1:
            raise CatalogError(f"{where}, key 'geometry.{name}' must be at least 1")
    return Geometry(**values)


def _gguf_sources(items: Any, where: str) -> tuple[GgufSource, ...]:
    if not isinstance(items, list):
        raise CatalogError(f"{where}, key 'gguf' must be an array of tables ([[...gguf]])")
    sources = []
    for i, item in enumerate(items):
        at = f"{where}, key 'gguf[{i}]"
        if not isinstance(item, dict):
            raise CatalogError(f"{at}' must be a table")
        for key in ("repo", "pattern"):
            if key not in item:
                raise CatalogError(f"{at}.{key}' is missing")
        pattern = _typed(item["pattern"], str, f"{at}.pattern'")
        if "{quant}" not in pattern:
            raise CatalogError(f"{at}.pattern' must contain {{quant}}, e.g. 'Model-{{quant}}.gguf'")
        revision = _typed(item["revision"], str, f"{at}.revision'") if "revision" in item else None
        sources.append(GgufSource(_typed(item["repo"], str, f"{at}.repo'"), pattern, revision))
    return tuple(sources)
