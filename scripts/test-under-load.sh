#!/usr/bin/env bash
# The suite as a busy developer machine runs it: ports 4000 (LiteLLM's default) and 8428 (VictoriaMetrics') held by
# another process, and stress-ng keeping every core busy. Runs it RUNS times in a row; any failure fails the script.
#   scripts/test-under-load.sh 3        (make test-under-load)
set -euo pipefail
runs="${1:-3}"
cd "$(dirname "$0")/.."
command -v stress-ng >/dev/null || { echo "==> apt-get install stress-ng"; ${SUDO:-} apt-get install -y -qq stress-ng; }

holders=()
for port in 4000 8428; do
    .venv/bin/python -c "
import http.server, sys
class Other(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # answers like a server someone else runs: 401 to everything
        self.send_response(401); self.end_headers()
    do_POST = do_GET
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(('0.0.0.0', int(sys.argv[1])), Other).serve_forever()" "$port" &
    holders+=("$!")
done
stress-ng --cpu "$(nproc)" --timeout 0 --quiet &
stress=$!
trap 'kill "${holders[@]}" "$stress" 2>/dev/null || true' EXIT
sleep 1

for run in $(seq 1 "$runs"); do
    echo "==> run $run of $runs (ports 4000 and 8428 held, $(nproc) cores under stress-ng)"
    .venv/bin/python -m pytest -q -p no:cacheprovider | tail -3
done
echo "==> $runs runs passed under load"
