"""LiteLLM `custom_auth` for tests: keys shaped as tools.users makes them (role internal_user_viewer, the tier's models)
without the database that virtual keys need and that cannot run here. Copied next to a test copy of the planned config
(general_settings.custom_auth); never part of an image."""

from fastapi import HTTPException
from litellm.proxy._types import UserAPIKeyAuth

PERSON_ROLE = "internal_user_viewer"
KEYS = {
    # A developer: Haiku and Sonnet under every name a client sends (tools.users lists them all).
    "sk-developer": ["claude-haiku-4-5", "claude-haiku-4-5-20251001", "claude-sonnet-4-5",
                     "claude-sonnet-4-5-20250929"],
    # A developer whose key still lists a model the stack no longer serves.
    "sk-stale": ["claude-haiku-4-5", "claude-opus-4-1"],
}


async def user_api_key_auth(request: object, api_key: str) -> UserAPIKeyAuth:  # LiteLLM's custom_auth signature
    if api_key not in KEYS:
        raise HTTPException(status_code=401, detail="not a test person's key")
    return UserAPIKeyAuth(api_key=api_key, user_role=PERSON_ROLE, models=KEYS[api_key])
