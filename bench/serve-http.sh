#!/usr/bin/env bash
# The HTTP front door of `soroka serve` under load: requests/s for /healthz and for small
# uploads (POST /v1/jobs of a 3 s WAV: receive, fsync, probe, queue; no job runs), and the service's RSS
# with 1,000 idle connections open. With a second binary (REFERENCE), the same figures for it
# in the same invocation and the ratios.
# Usage: bench/serve-http.sh [BUILD_DIR] [REFERENCE_SOROKA]   (needs wrk, python3, flite)
set -euo pipefail
build=${1:-build}
ref=${2:-}
soroka="$(realpath "$build/soroka")"
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
flite -voice slt -t "a short voice note for the upload benchmark" -o "$work/note.wav"

cat > "$work/upload.lua" <<'EOF'
local f = io.open(os.getenv("NOTE"), "rb")
local data = f:read("*a")
f:close()
local b = "soroka-bench-boundary"
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. b
wrk.body = "--" .. b .. "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"note.wav\"\r\n" ..
           "Content-Type: audio/wav\r\n\r\n" .. data .. "\r\n--" .. b .. "--\r\n"
EOF

cat > "$work/idle.py" <<'EOF'
import socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])
before = rss()
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port)); conns.append(s)
time.sleep(2)
during = rss()
t0 = time.time()
h = socket.create_connection(("127.0.0.1", port), timeout=10)
h.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
try:
    ok = h.recv(100).startswith(b"HTTP/1.1 200")
except OSError:
    ok = False
print(f"idle {n}: rss_before_kib={before} rss_with_idle_kib={during} delta_kib={during-before} "
      f"healthz_ok={ok} healthz_ms={(time.time()-t0)*1000:.1f}")
EOF

run_one() {  # $1: binary; prints "healthz_rps upload_rps idle_delta_kib"
  local bin=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  rm -rf "$work/state"
  # No job can run (each would need 64 TiB): the figures are the front door's alone, not
  # workers' competing for the CPU.
  SOROKA_LOG_LEVEL=error SOROKA_WORKER_MEMORY_PER_JOB=64TiB SOROKA_JOBS_MAX_QUEUE=1000000 \
  SOROKA_SERVER_KEY_MAX_JOBS=0 SOROKA_SERVER_KEY_SUBMISSIONS_PER_MINUTE=0 SOROKA_SERVER_KEY_MAX_STORED=0 \
    "$bin" serve --listen "127.0.0.1:$port" --state-dir "$work/state" 2>>"$work/serve.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  local h u idle
  h=$(wrk -t2 -c32 -d10s "http://127.0.0.1:$port/healthz" | awk '/Requests\/sec/ {print $2}')
  u=$(NOTE="$work/note.wav" wrk -t2 -c8 -d10s -s "$work/upload.lua" "http://127.0.0.1:$port/v1/jobs" \
      | tee "$work/wrk-upload.txt" | awk '/Requests\/sec/ {print $2}')
  grep -E 'requests in|Non-2xx' "$work/wrk-upload.txt" | tr -s ' ' >&2 || true
  idle=$(python3 "$work/idle.py" "$port" 1000 "$pid")
  echo "$idle" >&2
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  echo "$h $u $(echo "$idle" | sed -E 's/.*delta_kib=([0-9-]+).*/\1/')"
}

read -r h u d < <(run_one "$soroka")
echo "soroka:    /healthz ${h} req/s, uploads ${u} req/s, 1000 idle connections +${d} KiB RSS"
if [ -n "$ref" ]; then
  read -r rh ru rd < <(run_one "$(realpath "$ref")")
  echo "reference: /healthz ${rh} req/s, uploads ${ru} req/s, 1000 idle connections +${rd} KiB RSS"
  python3 -c "print(f'ratios (soroka/reference): healthz {float(\"$h\")/float(\"$rh\"):.2f}x, uploads {float(\"$u\")/float(\"$ru\"):.2f}x, idle RSS {int(\"$d\")/max(1,int(\"$rd\")):.2f}x')"
fi
