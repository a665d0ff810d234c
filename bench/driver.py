"""The capacity benchmark's load and its Bedrock, run with LiteLLM's own interpreter (.venv-litellm: aiohttp).

A fake Bedrock that answers like the real one in time (time to first token, tokens per second, the size of a Claude
Code turn), the real LiteLLM proxy pinned to one core, and this process (fake and clients) on the other. Every
measurement through the proxy has its twin straight to the fake, at the same concurrency, in the same run: the
difference is what the gateway adds. Bounded: each phase has a fixed number of requests or seconds.

    .venv-litellm/bin/python bench/driver.py --config <config.yaml> --env <env.json> --out <results.json>
(`make bench` runs it through bench/run.py, which also plots.)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

ROOT = Path(__file__).resolve().parent.parent
GC_LOG = ROOT / ".build" / "bench" / "gc.jsonl"
sys.path.insert(0, str(ROOT))
from tests import gc_trace  # noqa: E402
from tests.fakes.bedrock import converse_reply, event_message, messages_reply  # noqa: E402

FAKE_PORT, PROXY_PORT = 4901, 4902
PROXY, FAKE = f"http://127.0.0.1:{PROXY_PORT}", f"http://127.0.0.1:{FAKE_PORT}"
KEY = "sk-bench-master-key"
# A Claude Code turn's request: a system prompt, tool definitions and history of about 20k tokens (~80 KB of JSON).
PROMPT_BYTES = 80_000
TOKENS_PER_CHUNK = 3  # Bedrock streams a few tokens per event


@dataclass(frozen=True)
class Shape:
    """How one Bedrock model answers here: seconds to the first token, tokens per second, tokens out."""

    ttft: float
    tokens_per_second: float
    output_tokens: int

    @property
    def seconds(self) -> float:
        return self.ttft + self.output_tokens / self.tokens_per_second


# Per Bedrock model id (the gateway's three models), one way of answering.
SHAPES = {
    "haiku": Shape(ttft=0.05, tokens_per_second=400, output_tokens=20),     # short: the throughput phase
    "sonnet": Shape(ttft=0.8, tokens_per_second=60, output_tokens=200),     # a Claude Code turn
    "opus": Shape(ttft=1.0, tokens_per_second=60, output_tokens=420),       # a long stream, ~8 s
}
MODELS = {"haiku": "claude-haiku-4-5", "sonnet": "claude-sonnet-4-5", "opus": "claude-opus-4-5"}


def shape_of(model_id: str) -> Shape:
    return next(shape for family, shape in SHAPES.items() if family in model_id)


# --- the fake Bedrock ------------------------------------------------------------------------------------------

async def converse(request: web.Request) -> web.Response:
    await request.read()
    shape = shape_of(request.match_info["model"])
    await asyncio.sleep(shape.seconds)
    reply = converse_reply("ok " * shape.output_tokens)
    reply["usage"] = {"inputTokens": 20_000, "outputTokens": shape.output_tokens,
                      "totalTokens": 20_000 + shape.output_tokens}
    return web.json_response(reply)


def _chunk(event: dict[str, Any]) -> bytes:
    return event_message("chunk", {"bytes": base64.b64encode(json.dumps(event).encode()).decode()})


async def invoke_stream(request: web.Request) -> web.StreamResponse:
    """InvokeModelWithResponseStream as Bedrock sends Anthropic's Messages events, paced like the model."""
    await request.read()
    model = request.match_info["model"]
    shape = shape_of(model)
    response = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream"})
    await response.prepare(request)
    await asyncio.sleep(shape.ttft)
    start = {**messages_reply(model, ""), "content": [], "usage": {"input_tokens": 20_000, "output_tokens": 1}}
    await response.write(_chunk({"type": "message_start", "message": start}) + _chunk(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}))
    interval, first = TOKENS_PER_CHUNK / shape.tokens_per_second, time.perf_counter()
    for index, _ in enumerate(range(0, shape.output_tokens, TOKENS_PER_CHUNK)):
        await response.write(_chunk({"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": "ok " * TOKENS_PER_CHUNK}}))
        # Paced by the clock, not by the last write: a busy load core must not slow the model down.
        await asyncio.sleep(max(0.0, first + (index + 1) * interval - time.perf_counter()))
    await response.write(b"".join(_chunk(e) for e in (
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": shape.output_tokens}},
        {"type": "message_stop"})))
    await response.write_eof()
    return response


async def start_fake() -> web.AppRunner:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/model/{model}/converse", converse)
    app.router.add_post("/model/{model}/invoke-with-response-stream", invoke_stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", FAKE_PORT, backlog=4096).start()
    return runner


# --- one request, through the proxy or straight to the fake ---------------------------------------------------

PADDING = "x" * PROMPT_BYTES


def proxy_request(family: str, stream: bool) -> tuple[str, dict[str, Any], dict[str, str]]:
    auth = {"Authorization": f"Bearer {KEY}"}
    if stream:
        return f"{PROXY}/v1/messages", {"model": MODELS[family], "max_tokens": 1024, "stream": True,
                                         "system": PADDING, "messages": [{"role": "user", "content": "go"}]}, {
            **auth, "anthropic-version": "2023-06-01"}
    return f"{PROXY}/v1/chat/completions", {"model": MODELS[family], "max_tokens": 1024, "messages": [
        {"role": "system", "content": PADDING}, {"role": "user", "content": "go"}]}, auth


def direct_request(family: str, stream: bool) -> tuple[str, dict[str, Any], dict[str, str]]:
    model = f"us.anthropic.claude-{family}-bench"
    if stream:
        return f"{FAKE}/model/{model}/invoke-with-response-stream", {
            "anthropic_version": "bedrock-2023-05-31", "max_tokens": 1024, "system": PADDING,
            "messages": [{"role": "user", "content": "go"}]}, {}
    return f"{FAKE}/model/{model}/converse", {"system": [{"text": PADDING}], "messages": [
        {"role": "user", "content": [{"text": "go"}]}], "inferenceConfig": {"maxTokens": 1024}}, {}


@dataclass
class Sample:
    ok: bool
    seconds: float  # whole request
    first_byte: float  # time to the first body byte (the first token, for streams)
    max_gap: float  # longest pause between body chunks


async def send(session: ClientSession, target: tuple[str, dict[str, Any], dict[str, str]]) -> Sample:
    """One request; a stream through the proxy counts only if it ended with message_stop."""
    url, body, headers = target
    must_end = body.get("stream") is True
    started = time.perf_counter()
    first = last = None
    gap, tail = 0.0, b""
    try:
        async with session.post(url, json=body, headers=headers) as response:
            async for data in response.content.iter_any():
                now = time.perf_counter()
                first = first or now
                gap = max(gap, now - last) if last else gap
                last, tail = now, (tail + data)[-200:]
            ok = response.status == 200 and (not must_end or b"message_stop" in tail)
    except Exception:  # a refused or dropped request is a sample that failed
        ok = False
    end = time.perf_counter()
    return Sample(ok, end - started, (first or end) - started, gap)


async def closed_loop(session: ClientSession, target: Any, concurrency: int, *, requests: int | None = None,
                      seconds: float | None = None, spread: float = 0.0) -> tuple[list[Sample], float]:
    """`concurrency` clients, each sending one request after the other, for `requests` each or `seconds`. Clients
    start evenly over `spread` seconds (one answer's length): people do not press enter at the same instant, and
    clients that start together stay in step, which would measure bursts, not load."""
    deadline = time.perf_counter() + seconds if seconds else None
    samples: list[Sample] = []

    async def client(index: int) -> None:
        await asyncio.sleep(spread * index / concurrency)
        sent = 0
        while (requests is None or sent < requests) and (deadline is None or time.perf_counter() < deadline):
            samples.append(await send(session, target))
            sent += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(index) for index in range(concurrency)))
    return samples, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def summary(samples: list[Sample], field: str) -> dict[str, float]:
    values = [getattr(s, field) for s in samples if s.ok]
    return {f"p{q}": percentile(values, q) for q in (50, 95, 99)}


# --- the proxy ----------------------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def start_proxy(config: Path, environment: dict[str, str], core: int, log: Path,
                gc_freeze: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **environment, "LITELLM_MASTER_KEY": KEY, "AWS_BEDROCK_RUNTIME_ENDPOINT": FAKE,
           "AWS_REGION_NAME": "us-west-2", "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
           "AWS_SECRET_ACCESS_KEY": "bench",
           **gc_trace.environment(GC_LOG, freeze=gc_freeze == "on")}
    GC_LOG.unlink(missing_ok=True)
    litellm = Path(sys.executable).parent / "litellm"
    with log.open("w") as output:
        return subprocess.Popen(["taskset", "-c", str(core), str(litellm), "--config", str(config), "--port",
                                 str(PROXY_PORT), "--num_workers", "1"], env=env, stdout=output,
                                stderr=subprocess.STDOUT)


async def wait_ready(session: ClientSession, seconds: float = 90) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        try:
            async with session.get(f"{PROXY}/health/liveliness") as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        await asyncio.sleep(0.25)
    raise RuntimeError("LiteLLM did not start")


class PeakMemory:
    """Samples the proxy's resident memory while a phase runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._task = pid, 0.0, None

    async def _watch(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb(self.pid))
            await asyncio.sleep(0.2)

    def __enter__(self) -> PeakMemory:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(self, *exc: object) -> None:
        self._task.cancel()


def collections(since: float) -> list[dict[str, Any]]:
    """The proxy's logged garbage collections (tests/gc_trace) since a wall-clock time."""
    return [entry for entry in gc_trace.entries(GC_LOG) if entry["t"] >= since and "ms" in entry]


def longest_collection_ms(since: float) -> float:
    return max((entry["ms"] for entry in collections(since)), default=0.0)


def gc_summary(freeze: str, since: float) -> dict[str, Any]:
    frozen = [entry["frozen"] for entry in gc_trace.entries(GC_LOG) if "frozen" in entry]
    full = [entry["ms"] for entry in collections(since) if entry["generation"] == 2]
    return {"freeze": freeze, "frozen_objects": frozen[-1] if frozen else None, "full_collections_under_load":
            len(full), "longest_full_collection_ms": max(full, default=0.0),
            "longest_collection_ms": longest_collection_ms(since)}


# --- the phases ---------------------------------------------------------------------------------------------------

async def overhead(session: ClientSession, pid: int, levels: list[int], stream: bool,
                   requests: int) -> list[dict[str, Any]]:
    """A Claude Code turn at rising concurrency: latency (or time to first token) through the proxy minus straight
    to the fake, at each percentile."""
    rows, field = [], "first_byte" if stream else "seconds"
    spread = SHAPES["sonnet"].seconds
    for concurrency in levels:
        direct, _ = await closed_loop(session, direct_request("sonnet", stream), concurrency, requests=requests,
                                      spread=spread)
        cpu, since = cpu_seconds(pid), time.time()
        proxied, _ = await closed_loop(session, proxy_request("sonnet", stream), concurrency, requests=requests,
                                       spread=spread)
        d, p = summary(direct, field), summary(proxied, field)
        rows.append({"concurrency": concurrency, "stream": stream, "requests": len(proxied),
                     "errors": sum(not s.ok for s in proxied),
                     "proxy_cpu_ms_per_request": round(1000 * (cpu_seconds(pid) - cpu) / len(proxied), 1),
                     **{f"overhead_ms_{q}": round(1000 * (p[q] - d[q]), 1) for q in p},
                     "longest_gc_ms": longest_collection_ms(since)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


async def throughput(session: ClientSession, levels: list[int], seconds: float,
                     bound_ms: float) -> list[dict[str, Any]]:
    """Short answers at rising concurrency: requests per second one process on one core completes, and its p95
    overhead; stops past the bound."""
    rows, spread = [], SHAPES["haiku"].seconds
    for concurrency in levels:
        direct, _ = await closed_loop(session, direct_request("haiku", False), concurrency, seconds=seconds / 3,
                                      spread=spread)
        proxied, elapsed = await closed_loop(session, proxy_request("haiku", False), concurrency, seconds=seconds,
                                             spread=spread)
        d, p = summary(direct, "seconds"), summary(proxied, "seconds")
        rows.append({"concurrency": concurrency, "rps": round(sum(s.ok for s in proxied) / elapsed, 1),
                     "errors": sum(not s.ok for s in proxied), "overhead_ms_p95": round(1000 * (p["p95"] - d["p95"]),
                                                                                     1)})
        print(json.dumps(rows[-1]), flush=True)
        if rows[-1]["overhead_ms_p95"] > bound_ms or rows[-1]["errors"]:
            break
    return rows


async def streams(session: ClientSession, pid: int, levels: list[int], bound_ms: float) -> list[dict[str, Any]]:
    """N long Claude Code streams at once: time to first token over the model's own, the longest stall between
    chunks, errors, and the proxy's peak memory."""
    rows = []
    shape = SHAPES["opus"]
    pacing = TOKENS_PER_CHUNK / shape.tokens_per_second
    for count in levels:
        cpu, load_cpu, started, since = cpu_seconds(pid), cpu_seconds(os.getpid()), time.perf_counter(), time.time()
        with PeakMemory(pid) as memory:
            # Each client streams three in a row: N streams stay open for about two answers' length.
            samples, _ = await closed_loop(session, proxy_request("opus", True), count, requests=3,
                                           spread=shape.seconds)
        ok = [s for s in samples if s.ok]
        elapsed = time.perf_counter() - started
        rows.append({"streams": count, "errors": len(samples) - len(ok),
                     "ttft_overhead_ms_p95": round(1000 * (percentile([s.first_byte for s in ok], 95) - shape.ttft), 1),
                     # the longest pause between two chunks beyond the model's own pacing
                     "stall_ms_p99": round(1000 * (percentile([s.max_gap for s in ok], 99) - pacing), 1),
                     "proxy_cpu_ms_per_stream": round(1000 * (cpu_seconds(pid) - cpu) / len(samples), 1),
                     "load_core_busy_pct": round(100 * (cpu_seconds(os.getpid()) - load_cpu) / elapsed),
                     "peak_rss_mb": round(memory.peak, 1), "longest_gc_ms": longest_collection_ms(since)})
        print(json.dumps(rows[-1]), flush=True)
        if rows[-1]["errors"] or rows[-1]["ttft_overhead_ms_p95"] > bound_ms:
            break
    return rows


async def main_async(options: argparse.Namespace) -> dict[str, Any]:
    os.sched_setaffinity(0, {options.load_core})
    runner = await start_fake()
    proxy = start_proxy(options.config, json.loads(options.env.read_text()), options.proxy_core, options.log,
                        options.gc_freeze)
    timeout = ClientTimeout(total=300)
    try:
        async with ClientSession(connector=TCPConnector(limit=0), timeout=timeout) as session:
            await wait_ready(session)
            idle = rss_mb(proxy.pid)
            # LiteLLM's first calls of each kind build clients and caches: not what a running gateway pays.
            for family in SHAPES:
                for stream in (False, True):
                    await closed_loop(session, proxy_request(family, stream), 4, requests=2)
            measured_since = time.time()
            results = {
                "machine": {"cpus": os.cpu_count(), "proxy_core": options.proxy_core, "load_core": options.load_core,
                            "python": sys.version.split()[0], "label": options.label},
                "shapes": {k: vars(v) for k, v in SHAPES.items()}, "prompt_bytes": PROMPT_BYTES,
                "bound_ms": options.bound_ms, "idle_rss_mb": round(idle, 1),
                "warm_rss_mb": round(rss_mb(proxy.pid), 1),
                "overhead": await overhead(session, proxy.pid, options.levels, False, options.requests)
                + await overhead(session, proxy.pid, options.levels, True, options.requests),
                "throughput": await throughput(session, options.rps_levels, options.seconds, options.bound_ms),
                "streams": await streams(session, proxy.pid, options.stream_levels, options.bound_ms),
            }
            results["gc"] = gc_summary(options.gc_freeze, measured_since)
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
        await runner.cleanup()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--env", type=Path, required=True, help="JSON: the task's planned environment")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--log", type=Path, default=Path("/tmp/bench-litellm.log"))
    parser.add_argument("--label", default="")
    parser.add_argument("--proxy-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    parser.add_argument("--bound-ms", type=float, default=100)
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--requests", type=int, default=2, help="per client, per overhead level")
    parser.add_argument("--rps-levels", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128])
    parser.add_argument("--seconds", type=float, default=8, help="per throughput level")
    parser.add_argument("--stream-levels", type=int, nargs="+", default=[25, 50, 75, 100, 150])
    parser.add_argument("--gc-freeze", choices=("on", "off"), default="on",
                        help="off: custom_hooks.py's gc.freeze() does nothing (the before of a before/after)")
    options = parser.parse_args()
    results = asyncio.run(main_async(options))
    options.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
