"""`make bench-efs`: what VictoriaMetrics' storage does to an EFS Elastic-throughput bill.

The real LiteLLM (prod's planned config, a fake Bedrock) is called once per model and its /metrics/ page kept; a
stand-in serves that page for `--people` people (every series that names a key or user repeated per person, every
value growing between scrapes). VictoriaMetrics runs with the task's flags and the image's scrape config at its
real 15 s interval under strace, which records each read, write and metadata call on its data directory. EFS meters
each data operation at 32 KiB at least and each metadata operation at 4 KiB (../shared/facts.md); the monthly
figure prices them at Elastic throughput's read and write rates (offline/prices.yaml).

    .venv/bin/python -m bench.efs_io --minutes 4 --people 50    # after a minute's warm-up
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import yaml

from catalog import MODEL_CATALOG
from offline.cost import prices
from offline.engine import ROOT_DIR, run
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.local_server import LocalServer
from tests.live import SCRAPE_CONFIG, VM_BINARY, call, free_port, litellm_proxy, serving

KIB = 1024
DATA_MINIMUM, METADATA_SIZE = 32 * KIB, 4 * KIB
HOURS_A_MONTH = 730
REGION = "us-east-1"
PERSON_LABELS = ("hashed_api_key", "api_key_alias", "user", "end_user", "user_email", "team", "team_alias")
WRITES = {"write", "pwrite64", "writev", "pwritev", "pwritev2"}
READS = {"read", "pread64", "readv", "preadv", "preadv2"}
METADATA = {"openat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir",
            "fsync", "fdatasync", "ftruncate", "getdents64", "newfstatat", "statx", "link", "linkat"}


def litellm_page(work: Path) -> str:
    """The real proxy's metrics after one call per model (prod's planned config)."""
    graph, bedrock, port = run("prod"), FakeBedrock(), free_port()
    environment = {"LITELLM_MASTER_KEY": "sk-bench", "AWS_REGION_NAME": "us-west-2",
                   "AWS_BEDROCK_RUNTIME_ENDPOINT": bedrock.url, "REDIS_HOST": "127.0.0.1",
                   "REDIS_PORT": str(free_port()), "REDIS_PASSWORD": "unused"}
    try:
        with litellm_proxy(graph, port, environment, work / "litellm.log"):
            base = f"http://127.0.0.1:{port}"
            for model in MODEL_CATALOG:
                call("/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                     {"Authorization": "Bearer sk-bench"}, base=base)
            with urllib.request.urlopen(f"{base}/metrics/", timeout=30) as answer:
                return answer.read().decode()
    finally:
        bedrock.close()


def per_person(page: str, people: int) -> list[tuple[str, float]]:
    """(series, value) for `people` people: a series naming a person's key or user is repeated per person."""
    series = []
    for line in page.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        if any(f'{label}="' in name for label in PERSON_LABELS):
            series += [(re.sub(r'(hashed_api_key|api_key_alias|user|end_user|user_email)="[^"]*"',
                               rf'\1="person-{n}"', name), float(value)) for n in range(people)]
        else:
            series.append((name, float(value)))
    return series


def target(series: list[tuple[str, float]]) -> LocalServer:
    values = [value for _, value in series]

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            for i in range(len(values)):
                values[i] += random.random()
            body = "\n".join(f"{name} {value:.3f}" for (name, _), value in zip(series, values, strict=True)) + "\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    return LocalServer(Page)


def task_flags(storage: Path, port: int, scrape: Path) -> list[str]:
    """The planned task's command with paths and the listen port moved here."""
    graph = run("prod")
    (definition,) = [r for r in graph.of_type("aws:ecs/taskDefinition:TaskDefinition")
                     if r.name.endswith("victoriametrics-task")]
    (container,) = json.loads(definition.inputs["containerDefinitions"])
    moved = {"-storageDataPath": str(storage), "-promscrape.config": str(scrape), "-httpListenAddr": f":{port}"}
    return [f"{flag}={moved[flag]}" if (flag := arg.split("=")[0]) in moved else arg for arg in container["command"]]


CALL = re.compile(r"^\d+ +(\d+\.\d+) (\w+)\(.*\) += (-?\d+)")


def operations(trace: Path, storage: Path, start: float, end: float) -> Counter[str]:
    """Metered operations and bytes on files under `storage` between `start` and `end` (epoch seconds), from
    `strace -f -y -ttt` output."""
    counted: Counter[str] = Counter()
    for line in trace.read_text(errors="replace").splitlines():
        match = CALL.match(line)
        if not match or str(storage) not in line or not start <= float(match.group(1)) < end:
            continue
        call_name, result = match.group(2), int(match.group(3))
        if call_name in WRITES and result > 0:
            counted["write ops"] += 1
            counted["write bytes"] += result
            counted["write metered"] += max(result, DATA_MINIMUM)
        elif call_name in READS and result > 0:
            counted["read ops"] += 1
            counted["read bytes"] += result
            counted["read metered"] += max(result, DATA_MINIMUM)
        elif call_name in METADATA:
            counted["metadata ops"] += 1
            counted["read metered"] += METADATA_SIZE
    return counted


def measure(minutes: float, warmup_minutes: float, people: int, work: Path) -> dict[str, Any]:
    page = litellm_page(work)
    series = per_person(page, people)
    stand_in, port = target(series), free_port()
    scrape = yaml.safe_load(SCRAPE_CONFIG.read_text())
    scrape["scrape_configs"][0].pop("dns_sd_configs")
    scrape["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{stand_in.port}"]}]
    scrape["scrape_configs"][1]["static_configs"][0]["targets"] = [f"127.0.0.1:{port}"]
    (work / "scrape.yml").write_text(yaml.safe_dump(scrape))
    storage, trace = work / "storage", work / "vm.strace"
    command = ["strace", "-f", "-y", "-ttt", "-qq", "-o", str(trace), "-e", "trace=" + ",".join(sorted(WRITES | READS |
               METADATA)), VM_BINARY, *task_flags(storage, port, work / "scrape.yml")]
    try:
        with serving(command, work / "vm.log", lambda: call("/health", base=f"http://127.0.0.1:{port}")[0] == 200,
                     60, "VictoriaMetrics") as process:
            time.sleep(warmup_minutes * 60)  # start-up (directories, the first parts) is not the steady state
            start = time.time()
            time.sleep(minutes * 60)
            end = time.time()
            # VictoriaMetrics (strace's child) stops gracefully, flushing, as ECS asks it to; strace ends with it.
            (child,) = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
            os.kill(int(child), signal.SIGTERM)
            process.wait(timeout=60)
    finally:
        stand_in.close()
    counted = operations(trace, storage, start, end)
    hours = minutes / 60
    month = {key: value / hours * HOURS_A_MONTH for key, value in counted.items()}
    cost = (month["write metered"] / KIB**3 * prices()[("efs.elastic-write-gb", REGION)].usd +
            month["read metered"] / KIB**3 * prices()[("efs.elastic-read-gb", REGION)].usd)
    version = subprocess.run([VM_BINARY, "-version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             check=False).stdout.strip()
    return {"minutes": minutes, "warmup_minutes": warmup_minutes, "people": people, "series": len(series),
            "measured": dict(counted), "per_month": {k: round(v) for k, v in month.items()},
            "usd_per_month": round(cost, 2), "victoria_metrics": version}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=4)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--warmup-minutes", type=float, default=1)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        result = measure(options.minutes, options.warmup_minutes, options.people, Path(directory))
    out = ROOT_DIR / ".build" / "bench" / "efs_io.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
