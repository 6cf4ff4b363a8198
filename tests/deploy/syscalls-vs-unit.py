#!/usr/bin/env python3
# Runs `soroka serve` under strace through a real transcription (service and sandboxed workers),
# then checks that every system call it made is one the unit's SystemCallFilter= lines allow:
# a call outside them would fail with EPERM under systemd, where this machine cannot start the
# unit. Where the kernel has PR_SET_MDWE (6.3+), the run is also under the same W^X rule as
# MemoryDenyWriteExecute=yes. Usage: syscalls-vs-unit.py UNIT SOROKA_BINARY SAMPLE.wav. Exit 77 (skipped) without
# strace, curl or systemd-analyze.
import os, re, shutil, signal, socket, subprocess, sys, tempfile, time

# Calls made that the unit refuses, each harmless where it is refused. fchown: SQLite gives its
# journal the database's owner only when running as root, which DynamicUser= never is.
KNOWN_REFUSED = {"fchown": "SQLite's as-root journal chown; never called under DynamicUser="}

unit, binary, sample = sys.argv[1:4]
for tool in ("strace", "curl", "systemd-analyze"):
    if not shutil.which(tool):
        print(f"SKIP: {tool} not found")
        sys.exit(77)

out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True).stdout
groups, cur = {}, None
for line in out.splitlines():
    if line.startswith("@"):
        cur = line.split()[0]
        groups[cur] = []
    elif cur and re.match(r"^    [@a-z_0-9-]+$", line):
        groups[cur].append(line.strip())

def expand(names):
    res = set()
    for n in names:
        res |= expand(groups.get(n, [])) if n.startswith("@") else {n}
    return res

# systemd's rule: the first line decides allow list vs deny list; later "~" lines take calls
# away from an allow list, later plain lines add to it.
allowed, first = set(), True
for line in open(unit):
    m = re.match(r"^SystemCallFilter=(.*)$", line.strip())
    if not m:
        continue
    spec = m.group(1).strip()
    deny = spec.startswith("~")
    names = spec.lstrip("~").split()
    if first and deny:
        print("FAIL: this check expects an allow list first")
        sys.exit(1)
    first = False
    allowed = allowed - expand(names) if deny else allowed | expand(names)
if not allowed:
    print("FAIL: no SystemCallFilter= in", unit)
    sys.exit(1)

with tempfile.TemporaryDirectory(prefix="soroka-syscalls-") as tmp:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = os.path.join(tmp, "strace.log")
    # PR_SET_MDWE (65) with PR_MDWE_REFUSE_EXEC_GAIN (1), kept across fork and exec.
    wrapper = ("import ctypes, os, sys\n"
               "ok = ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) == 0\n"
               "print('MDWE', 'on' if ok else 'unavailable', flush=True)\n"
               "os.execvp(sys.argv[1], sys.argv[1:])\n")
    serve = subprocess.Popen(["python3", "-c", wrapper, "strace", "-f", "-qq", "-o", log, binary,
                              "serve", "--listen", f"127.0.0.1:{port}", "--state-dir",
                              os.path.join(tmp, "state")],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    print("W^X (MemoryDenyWriteExecute=yes):", serve.stdout.readline().split()[-1])
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if subprocess.run(["curl", "-sf", url + "/healthz"], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    r = subprocess.run(["curl", "-sf", "-F", f"file=@{sample}", url + "/v1/audio/transcriptions"],
                       capture_output=True, text=True)
    subprocess.run(["curl", "-sf", url + "/metrics"], capture_output=True)
    # The traced service is strace's child.
    pid = int(subprocess.run(["pgrep", "-P", str(serve.pid)], capture_output=True, text=True).stdout.split()[0])
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.5)
    os.kill(pid, signal.SIGTERM)
    serve.wait(timeout=60)
    if '"text"' not in r.stdout:
        print("FAIL: the transcription under strace did not succeed:", r.stdout, r.stderr)
        sys.exit(1)
    seen = {}
    for line in open(log):
        m = re.match(r"^\d+\s+([a-z_0-9]+)\(", line)
        if m:
            seen[m.group(1)] = seen.get(m.group(1), 0) + 1

outside = sorted(c for c in seen if c not in allowed and c not in ("exit", "exit_group"))
unexplained = [c for c in outside if c not in KNOWN_REFUSED]
print(f"{len(seen)} distinct system calls made; {len(seen) - len(outside)} allowed by the unit")
for c in outside:
    print(f"  refused by the unit: {c} ({seen[c]}x): {KNOWN_REFUSED.get(c, 'UNEXPLAINED')}")
if unexplained:
    print("FAIL: calls the unit would refuse:", " ".join(unexplained))
    sys.exit(1)
print("OK")
