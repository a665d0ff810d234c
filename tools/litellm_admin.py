"""The part of LiteLLM's admin API that `tools.users` calls, with the master key. Every route, query parameter and body
field here is checked in the tests against the OpenAPI document of LiteLLM 1.108.7's own app.

Behaviour this relies on (litellm 1.108.7, paths under litellm/proxy/):
- `/user/list` pages by `page`/`page_size` (at most 100) and answers {users, total, page, page_size, total_pages};
  each user row carries spend, max_budget, budget_duration, budget_reset_at, models, metadata, user_role
  (management_endpoints/internal_user_endpoints.py, `user_list`).
- `/key/list` with `return_full_object=true` pages by `page`/`size` (at most 100) and answers {keys, total_count,
  current_page, total_pages}; without `status` it returns blocked keys too; `token` is the key's hash
  (key_management_endpoints.py, `list_keys`).
- `/key/block` and `/key/unblock` take the hash, update the database and evict the key from every cache
  (`delete_cache_key_object`); `/user/update` evicts the user (`evict_and_broadcast`).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
from collections.abc import Iterator
from typing import Any

from tools.cli import unreachable
from tools.http import fetch

PAGE_SIZE = 100  # the most either list route returns at once

# (method, path) of every admin call made here.
ROUTES = frozenset({
    ("GET", "/user/list"), ("GET", "/key/list"), ("POST", "/user/new"), ("POST", "/user/update"),
    ("POST", "/key/generate"), ("POST", "/key/update"), ("POST", "/key/block"), ("POST", "/key/unblock"),
})


class AdminError(RuntimeError):
    """LiteLLM refused an admin call; the message carries its answer."""


class Admin:
    def __init__(self, url: str, master_key: str, timeout_seconds: float = 30) -> None:
        self._url, self._master_key, self._timeout = url.rstrip("/"), master_key, timeout_seconds

    def call(self, method: str, path: str, query: dict[str, str] | None = None,
             body: dict[str, Any] | None = None) -> dict[str, Any]:
        assert (method, path) in ROUTES, f"{method} {path} is not a route this tool may call"
        url = self._url + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        try:
            answer = fetch(url, body, {"Authorization": f"Bearer {self._master_key}"}, method=method,
                           timeout_seconds=self._timeout)
        except urllib.error.URLError as error:
            raise unreachable(self._url, error, "open the tunnel first (python -m tools.tunnel --stack <stack> "
                                                "litellm) or pass --url") from None
        if answer.status >= 400:
            raise AdminError(f"{method} {path}: HTTP {answer.status}: {answer.body[:500].decode(errors='replace')}")
        return answer.json()

    def list_users(self) -> Iterator[dict[str, Any]]:
        yield from self._pages("/user/list", "users", {"page_size": str(PAGE_SIZE)})

    def list_keys(self) -> Iterator[dict[str, Any]]:
        yield from self._pages("/key/list", "keys", {"size": str(PAGE_SIZE), "return_full_object": "true"})

    def _pages(self, path: str, field: str, query: dict[str, str]) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            answer = self.call("GET", path, {**query, "page": str(page)})
            yield from answer[field]
            if page >= (answer.get("total_pages") or 1):
                return
            page += 1
