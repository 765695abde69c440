"""What the package raises. Every error from the mock is a :class:`MockError`.

* :class:`EnosError`: an EnOS call answered with a business error (``code`` not 0 in the
  ``{code, msg, requestId, data}`` envelope, or ``status`` not 0 from the token service).
  It carries the EnOS ``code`` and ``message`` exactly as the mock sent them.
* :class:`HttpError`: an answer that is no envelope at all: the gateway's 401, a 413, an
  injected ``httpStatus``, or a refused control-plane call (``/__admin``: 400, 404, 409).
* :class:`BinaryNotFound`: no ``enos-cert-mock`` binary to run (the message says how to get one).
* :class:`MockStartError`: the binary ran but the mock did not come up (the message holds its log).
"""

from __future__ import annotations

from typing import Any

__all__ = ["MockError", "EnosError", "HttpError", "BinaryNotFound", "MockStartError"]


class MockError(Exception):
    """Base class of everything this package raises about the mock."""


class EnosError(MockError):
    """An EnOS business error: the envelope's ``code`` and ``msg``, byte for byte.

    ``http_status`` is 200 for a normal EnOS error (EnOS answers errors with HTTP 200) and
    the injected status when a fault sent the envelope under another one.
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        request_id: str | None = None,
        http_status: int = 200,
        body: Any = None,
    ) -> None:
        super().__init__(f"EnOS error {code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        self.body = body


class HttpError(MockError):
    """An answer that is not an EnOS envelope: its HTTP status and ``message`` (or body text)."""

    def __init__(self, method: str, url: str, status: int, message: str, body: Any = None) -> None:
        super().__init__(f"{method} {url}: HTTP {status}: {message}")
        self.method = method
        self.url = url
        self.status = status
        self.message = message
        self.body = body


class BinaryNotFound(MockError):
    """No enos-cert-mock binary could be found."""


class MockStartError(MockError):
    """The binary started but the mock did not report that it listens."""
