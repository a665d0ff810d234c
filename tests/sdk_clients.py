"""Run by LiteLLM's interpreter (.venv-litellm has the official SDKs): the openai and anthropic clients against the
proxy, streamed and not, with a tool; prints what each call got back as JSON."""

from __future__ import annotations

import json
import sys

import anthropic
import openai

WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def main(base_url: str, key: str, model: str) -> dict[str, str]:
    chat = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)
    messages = anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0)
    asked = [{"role": "user", "content": "weather in Paris?"}]
    results = {
        "openai": chat.chat.completions.create(model=model, messages=asked).choices[0].message.content,
        "openai-stream": "".join(c.choices[0].delta.content or "" for c in chat.chat.completions.create(
            model=model, messages=asked, stream=True) if c.choices),
        "openai-tools": chat.chat.completions.create(
            model=model, messages=asked, tools=[{"type": "function", "function": WEATHER}]).choices[0].message.content,
    }
    tool = {"name": WEATHER["name"], "description": WEATHER["description"], "input_schema": WEATHER["parameters"]}
    results["anthropic"] = messages.messages.create(model=model, max_tokens=64, messages=asked).content[0].text
    with messages.messages.stream(model=model, max_tokens=64, messages=asked) as stream:
        results["anthropic-stream"] = "".join(stream.text_stream)
    results["anthropic-tools"] = messages.messages.create(model=model, max_tokens=64, messages=asked,
                                                          tools=[tool]).content[0].text
    return results


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
