"""Print every route LiteLLM's application serves as JSON [method, path template] pairs, hidden ones included. Run
with .venv-litellm's Python (`make` does: .venv-litellm/routes.json); tests/test_litellm_routes.py classifies them."""

import json
import sys

from fastapi.routing import _iter_included_route_candidates
from litellm.proxy.proxy_server import app

# FastAPI 0.13x includes routers lazily: this walks them as its router matches them (fastapi/routing.py).
routes = _iter_included_route_candidates(app.routes)
json.dump(sorted({(method, route.path) for route in routes for method in (getattr(route, "methods", None) or ["*"])}),
          sys.stdout, indent=0)
