#!/usr/bin/env bash
# The Telegram bot's own costs, against a fake Bot API server (loopback, Python, in this script):
# its RSS idle and while 1,000 updates are queued, and the latency it adds per message: the
# same voice note, the same model, through the bot (update available -> transcript edited in)
# and through the HTTP API (a synchronous POST) of the same `soroka serve`, in this invocation.
# Usage: bench/telegram-bot.sh [BUILD_DIR] [ROUNDS]   (needs python3, flite, ffmpeg, curl)
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
soroka="$(realpath "$build/soroka")"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

flite -voice slt -t "a short voice note sent to the bot for the latency benchmark" -o "$work/note.wav"
ffmpeg -loglevel error -y -i "$work/note.wav" -c:a libopus -b:a 24k "$work/note.ogg"

# The fake Bot API: getUpdates with offsets and long polls, files, messages and edits, and
# /ctl/ endpoints for this script (queue updates, wait for a chat's transcript).
cat > "$work/fake.py" <<'EOF'
import json, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs
lock = threading.Condition()
S = {"updates": [], "last": 0, "files": {}, "msgs": {}, "next_msg": 0, "pushed": {}, "done": {}, "sent": 0, "polls": 0}
def push(msg):
    with lock:
        S["last"] += 1
        msg.setdefault("message_id", S["last"])
        S["updates"].append({"update_id": S["last"], "message": msg})
        S["pushed"][msg["chat"]["id"]] = time.monotonic()
        lock.notify_all()
def base(chat):
    return {"chat": {"id": chat, "type": "private"}, "from": {"id": chat, "is_bot": False, "first_name": "B", "language_code": "en"}, "date": 1700000000}
def note(chat, text):
    if "simulated transcript" in text and chat not in S["done"]:
        S["done"][chat] = time.monotonic(); lock.notify_all()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, body, status=200, ctype="application/json"):
        b = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status); self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def ok(self, result): self.reply({"ok": True, "result": result})
    def do_GET(self):
        u = urlparse(self.path); q = parse_qs(u.query)
        if u.path.startswith("/file/"):
            with lock: data = S["files"].get(u.path.rsplit("/", 1)[-1])
            return self.reply(data or b"", 200 if data else 404, "application/octet-stream")
        if u.path == "/ctl/push_text":
            n, chat0 = int(q["n"][0]), int(q["chat"][0])
            for i in range(n): push(dict(base(chat0 + i), text="hello %d" % i))
            return self.ok(True)
        if u.path == "/ctl/wait":
            chat, until = int(q["chat"][0]), time.monotonic() + float(q["timeout"][0])
            with lock:
                while chat not in S["done"] and time.monotonic() < until: lock.wait(0.2)
                ms = (S["done"][chat] - S["pushed"][chat]) * 1000 if chat in S["done"] else -1
            return self.ok(ms)
        if u.path == "/ctl/stats":
            with lock: return self.ok({"sent": S["sent"], "polls": S["polls"]})
        self.reply({"ok": False}, 404)
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        u = urlparse(self.path)
        if u.path == "/ctl/push_voice":
            chat = int(parse_qs(u.query)["chat"][0])
            with lock: S["files"]["f%d" % chat] = body
            m = base(chat); m["voice"] = {"file_id": "f%d" % chat, "file_unique_id": "u%d" % chat, "file_size": len(body), "duration": 4, "mime_type": "audio/ogg"}
            push(m); return self.ok(True)
        method = u.path.rsplit("/", 1)[-1]
        p = json.loads(body) if self.headers.get("Content-Type", "").startswith("application/json") and body else {}
        if method == "getMe": return self.ok({"id": 1, "is_bot": True, "username": "BenchBot"})
        if method in ("deleteWebhook", "setMyCommands", "sendChatAction"): return self.ok(True)
        if method == "getUpdates":
            off, until = p.get("offset", 0), time.monotonic() + min(p.get("timeout", 0), 25)
            with lock:
                S["polls"] += 1
                S["updates"] = [x for x in S["updates"] if x["update_id"] >= off]
                while not S["updates"] and time.monotonic() < until: lock.wait(until - time.monotonic())
                return self.ok(S["updates"][:100])
        if method == "getFile": return self.ok({"file_id": p["file_id"], "file_path": "voice/" + p["file_id"]})
        with lock:
            if method == "sendMessage":
                S["next_msg"] += 1; S["sent"] += 1
                S["msgs"][S["next_msg"]] = (p["chat_id"], p.get("text", ""))
                note(p["chat_id"], p.get("text", ""))
                return self.ok({"message_id": S["next_msg"]})
            if method == "editMessageText":
                chat, text = S["msgs"].get(p.get("message_id"), (None, None))
                if chat is None: return self.reply({"ok": False, "error_code": 400, "description": "Bad Request: message to edit not found"}, 400)
                if text == p.get("text"): return self.reply({"ok": False, "error_code": 400, "description": "Bad Request: message is not modified"}, 400)
                S["msgs"][p["message_id"]] = (chat, p.get("text", "")); note(chat, p.get("text", ""))
                return self.ok({"message_id": p["message_id"]})
        self.reply({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
class Server(ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, address): pass  # a poll cut off when the bot stops
Server(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
api_port=$(free_port)
python3 "$work/fake.py" "$api_port" &
pids+=($!)
api="http://127.0.0.1:$api_port"
for _ in $(seq 50); do curl -sf "$api/ctl/stats" >/dev/null && break; sleep 0.1; done
export SOROKA_ENGINE_SIMULATION=true SOROKA_LOG_LEVEL=error SOROKA_TELEGRAM_TOKEN=1:bench \
       SOROKA_TELEGRAM_API_URL="$api" SOROKA_TELEGRAM_MODEL=sim-brief
polls() { curl -sf "$api/ctl/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["polls"])'; }
sent() { curl -sf "$api/ctl/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["sent"])'; }

# 1. `soroka bot` alone: RSS idle, then the peak while 1,000 text updates arrive at once
#    (taken into its store, queued, answered), sampled every 20 ms.
p0=$(polls)
"$soroka" bot --state-dir "$work/bot-state" 2>>"$work/bot.log" &
bot=$!
pids+=($bot)
for _ in $(seq 200); do [ "$(polls)" -gt "$p0" ] && break; sleep 0.1; done
sleep 2
idle=$(rss_kib "$bot")
s0=$(sent)
curl -sf "$api/ctl/push_text?n=1000&chat=100000" >/dev/null
peak=$idle
t0=$(date +%s%N)
while [ "$(( $(sent) - s0 ))" -lt 1000 ] && [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 120 ]; do
  r=$(rss_kib "$bot"); [ "$r" -gt "$peak" ] && peak=$r
  sleep 0.02
done
answered=$(( $(sent) - s0 ))
secs=$(python3 -c "print(f'{($(date +%s%N) - $t0) / 1e9:.1f}')")
kill "$bot"; wait "$bot" 2>/dev/null || true
echo "bot rss: idle ${idle} KiB, peak with 1000 queued updates ${peak} KiB (+$((peak - idle)) KiB); answered ${answered}/1000 in ${secs} s"

# 2. Latency: one `soroka serve` with the bot; the same note through each, one at a time.
port=$(free_port)
"$soroka" serve --listen "127.0.0.1:$port" --state-dir "$work/serve-state" 2>>"$work/serve.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
for _ in $(seq 100); do [ "$(polls)" -gt 0 ] && break; sleep 0.1; done
http_total=0 bot_total=0
for i in $(seq 0 "$rounds"); do  # round 0 warms a worker up and is not counted
  h=$(curl -sf -o /dev/null -w '%{time_total}' -F "file=@$work/note.ogg" -F model=sim-brief \
        "127.0.0.1:$port/v1/audio/transcriptions" | python3 -c 'import sys; print(int(float(sys.stdin.read())*1000))')
  curl -sf --data-binary "@$work/note.ogg" "$api/ctl/push_voice?chat=$((500 + i))" >/dev/null
  b=$(curl -sf "$api/ctl/wait?chat=$((500 + i))&timeout=120" | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["result"]))')
  [ "$b" -lt 0 ] && { echo "the bot gave no transcript in round $i"; tail -20 "$work/serve.log"; exit 1; }
  [ "$i" -eq 0 ] && continue
  http_total=$((http_total + h)) bot_total=$((bot_total + b))
  echo "round $i: http ${h} ms, bot ${b} ms" >&2
done
http_ms=$((http_total / rounds)) bot_ms=$((bot_total / rounds))
ratio=$(python3 -c "print(f'{$bot_ms / max($http_ms, 1):.2f}')")
echo "latency (mean of $rounds): http ${http_ms} ms, bot ${bot_ms} ms: added $((bot_ms - http_ms)) ms per message (ratio ${ratio})"
