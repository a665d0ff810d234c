"""JSON over HTTP for the command-line tools: the standard library only, every answer returned with its status."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None, *,
          method: str | None = None, timeout_seconds: float = 60) -> Answer:
    """`body` is sent as JSON (a POST unless `method` says otherwise); an HTTP error is an answer, not an exception."""
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read())
