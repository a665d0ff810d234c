"""A stateful stand-in for LiteLLM 1.108.7's admin API: exactly the routes tools.users calls (tools/litellm_admin.py
ROUTES), holding users and keys in memory the way the proxy's database does, and recording every request so the
tests can check each against LiteLLM's own OpenAPI document.

What it copies from LiteLLM's source (paths under litellm/proxy/): answers' shapes from `user_list`, `list_keys`,
`generate_key_fn` (management_endpoints/); a key's `token` is the sha256 of the key; key aliases are unique;
`/user/update` ignores an empty `models` list or `metadata` and replaces a non-empty one; a budget period of `1mo`
resets on the 1st of the next month (litellm_core_utils/duration_parser.py). What it cannot show: the database
behind those routes, which cannot run here (Prisma's engines download from a host out of reach).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.local_server import LocalServer
from tools.litellm_admin import ROUTES


def _next_month(now: datetime) -> str:
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first.replace(year=first.year + 1, month=1) if first.month == 12 else
            first.replace(month=first.month + 1)).isoformat()


class FakeLiteLLMAdmin:
    def __init__(self, master_key: str = "sk-master") -> None:
        self.master_key = master_key
        self.users: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, dict[str, Any]] = {}  # by token (hash)
        self.requests: list[dict[str, Any]] = []
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                status, answer = fake.handle(self.command, url.path, query, body, self.headers.get("Authorization"))
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._http = LocalServer(Handler)
        self.url = self._http.url

    def charge(self, user_id: str, usd: float) -> None:
        """Spend recorded against a person, as the proxy does after each answer."""
        self.users[user_id]["spend"] += usd

    def close(self) -> None:
        self._http.close()

    def handle(self, method: str, path: str, query: dict[str, str], body: Any,
               authorization: str | None) -> tuple[int, Any]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body})
            if authorization != f"Bearer {self.master_key}":
                return 401, {"error": {"message": "Authentication Error", "code": "401"}}
            if (method, path) not in ROUTES:
                return 404, {"detail": "Not Found"}
            try:
                return 200, getattr(self, "_" + path.strip("/").replace("/", "_"))(query, body or {})
            except LookupError as error:
                return 400, {"error": {"message": str(error), "code": "400"}}

    # --- routes ----------------------------------------------------------------------------------------------

    @staticmethod
    def _page(rows: list[dict[str, Any]], page: int, size: int) -> tuple[list[dict[str, Any]], int]:
        return rows[(page - 1) * size: page * size], max(1, -(-len(rows) // size))

    def _user_list(self, query: dict[str, str], _: Any) -> dict[str, Any]:
        page, size = int(query.get("page", 1)), int(query.get("page_size", 25))
        rows = [{**u, "key_count": sum(k["user_id"] == u["user_id"] for k in self.keys.values())}
                for u in sorted(self.users.values(), key=lambda u: u["user_id"])]
        shown, pages = self._page(rows, page, size)
        return {"users": shown, "total": len(rows), "page": page, "page_size": size, "total_pages": pages}

    def _key_list(self, query: dict[str, str], _: Any) -> dict[str, Any]:
        page, size = int(query.get("page", 1)), int(query.get("size", 10))
        rows = sorted(self.keys.values(), key=lambda k: k["created_at"])
        if query.get("return_full_object") != "true":
            rows = [{"token": k["token"]} for k in rows]
        shown, pages = self._page(rows, page, size)
        return {"keys": shown, "total_count": len(rows), "current_page": page, "total_pages": pages}

    def _user_new(self, _: Any, body: dict[str, Any]) -> dict[str, Any]:
        if body["user_id"] in self.users:
            raise LookupError(f"User with id {body['user_id']} already exists")
        user = {"user_id": body["user_id"], "user_alias": body.get("user_alias"), "user_role": body.get("user_role"),
                "models": body.get("models") or [], "max_budget": body.get("max_budget"),
                "budget_duration": body.get("budget_duration"), "metadata": body.get("metadata") or {},
                "spend": 0.0, "budget_reset_at": _next_month(datetime.now(UTC)) if body.get("budget_duration")
                else None}
        self.users[user["user_id"]] = user
        if body.get("auto_create_key", True) is False:
            return {**user, "key": ""}
        # LiteLLM's default (internal_user_endpoints.py new_user: auto_create_key defaults to True): a key comes with
        # the user, carrying the body's key fields (key_management_endpoints.py generate_key_helper_fn).
        key_fields = ("key_alias", "models", "metadata", "max_parallel_requests")
        return {**user, **self._key_generate({}, {"user_id": user["user_id"],
                                                  **{f: body[f] for f in key_fields if f in body}})}

    def _user_update(self, _: Any, body: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(body["user_id"])
        if user is None:
            raise LookupError(f"User {body['user_id']} not found")
        for field, value in body.items():
            if field in ("models", "metadata") and not value:
                continue  # LiteLLM ignores an empty list or dict here
            user[field] = value
        if "budget_duration" in body:
            user["budget_reset_at"] = _next_month(datetime.now(UTC)) if body["budget_duration"] else None
        return {"user_id": user["user_id"], "data": user}

    def _key_generate(self, _: Any, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("user_id") not in self.users:
            raise LookupError(f"user {body.get('user_id')} not found")
        if body.get("key_alias") is not None and any(k["key_alias"] == body["key_alias"] for k in self.keys.values()):
            raise LookupError(f"Unique key aliases across all keys are required: {body['key_alias']}")
        key = f"sk-{next(self._serial):020d}"
        token = hashlib.sha256(key.encode()).hexdigest()
        self.keys[token] = {"token": token, "key_alias": body.get("key_alias"), "user_id": body["user_id"],
                            "models": body.get("models") or [], "blocked": None, "spend": 0.0,
                            "max_parallel_requests": body.get("max_parallel_requests"),
                            "metadata": body.get("metadata") or {}, "key_type": body.get("key_type"),
                            "created_at": datetime.now(UTC).isoformat()}
        return {"key": key, "key_alias": body.get("key_alias"), "user_id": body["user_id"], "token_id": token}

    def _stored_key(self, key: str) -> dict[str, Any]:
        token = key if not key.startswith("sk-") else hashlib.sha256(key.encode()).hexdigest()
        if token not in self.keys:
            raise LookupError(f"Key not found: {key}")
        return self.keys[token]

    def _key_update(self, _: Any, body: dict[str, Any]) -> dict[str, Any]:
        stored = self._stored_key(body["key"])
        stored.update({k: v for k, v in body.items() if k != "key"})
        return stored

    def _key_block(self, _: Any, body: dict[str, Any]) -> dict[str, Any]:
        return self._set(body["key"], blocked=True)

    def _key_unblock(self, _: Any, body: dict[str, Any]) -> dict[str, Any]:
        return self._set(body["key"], blocked=False)

    def _set(self, key: str, **fields: Any) -> dict[str, Any]:
        stored = self._stored_key(key)
        stored.update(fields)
        return stored
