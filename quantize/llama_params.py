"""Setting fields of llama.cpp's ctypes parameter structures, checked.

A ctypes Structure accepts an attribute it does not declare without complaint, so a field that an
older (or newer) llama-cpp-python lacks or renamed would be set on the Python object and never
reach llama.cpp. Everything we set on a llama.cpp parameter struct is checked here first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def missing_fields(struct_type: type, names: Iterable[str]) -> list[str]:
    """The names a ctypes Structure class does not declare (setting them would do nothing)."""
    declared = {field[0] for field in getattr(struct_type, "_fields_", ())}
    return [name for name in names if name not in declared]


def set_fields(params: Any, values: dict[str, Any]) -> None:
    """Set declared fields on a ctypes struct instance.

    Raises:
        AttributeError: a field is not declared by this llama-cpp-python's bindings.
    """
    missing = missing_fields(type(params), values)
    if missing:
        raise AttributeError(f"{type(params).__name__} has no field {', '.join(missing)}")
    for name, value in values.items():
        setattr(params, name, value)
