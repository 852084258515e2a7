"""Errors in OpenAI's wire format: `{"error": {"message", "type", "param", "code"}}`.

Clients (the `openai` package among them) turn the status into an exception class and show the
message, so the message says what to change, as the CLI's do.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request the server refuses, with the HTTP status and OpenAI's error fields."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.code, self.param, self.headers = code, param, headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


def bad_request(message: str, *, param: str | None = None,
                code: str | None = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def unsupported(param: str, what: str) -> ApiError:
    """A parameter this server does not implement: refused, never silently ignored."""
    return ApiError(400, f"'{param}' is not supported here: {what}", param=param,
                    code="unsupported_parameter")
