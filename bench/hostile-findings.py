#!/usr/bin/env python3
"""Replays the review's hostile-client findings against `soroka serve` and prints, per attack,
the service's peak RSS (VmHWM), whether it survived, and what the client saw. With a second
binary (the reference), the same attacks against it in the same invocation.

Usage: bench/hostile-findings.py SOROKA [REFERENCE_SOROKA]
Each attack gets a fresh service in its own state dir (no cgroup: the figures are the
service's own memory). Needs only python3 and flite."""
import os, socket, subprocess, sys, tempfile, threading, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def hwm_kib(pid):
    try:
        for l in open(f"/proc/{pid}/status"):
            if l.startswith("VmHWM:"): return int(l.split()[1])
    except FileNotFoundError:
        return -1
    return 0

class Service:
    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="soroka-findings-")
        self.port = free_port()
        env = dict(os.environ, SOROKA_LOG_LEVEL="error")
        self.p = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{self.port}",
                                   "--state-dir", self.dir], env=env, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if self.healthz(2) is not None: break
            time.sleep(0.1)
    def healthz(self, timeout=5):
        t0 = time.time()
        try:
            c = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
            c.settimeout(timeout)
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            ok = c.recv(64).startswith(b"HTTP/1.1 200")
            c.close()
            return (time.time() - t0) if ok else None
        except OSError:
            return None
    def stop(self):
        alive = self.p.poll() is None
        peak = hwm_kib(self.p.pid)
        self.p.kill(); self.p.wait()
        subprocess.run(["rm", "-rf", self.dir])
        return alive, peak

def flood(sock, total, chunk=b"a" * 65536, stall=3):
    sent = 0
    sock.settimeout(stall)
    try:
        while sent < total:
            sent += sock.send(chunk[: min(len(chunk), total - sent)])
    except OSError:
        pass
    return sent

def status_of(sock, timeout=5):
    sock.settimeout(timeout)
    try:
        d = sock.recv(200)
        return d.split(b"\r\n")[0].decode(errors="replace") if d else "closed"
    except OSError as e:
        return f"no answer ({e.__class__.__name__})"

def big_body(svc):
    s = socket.create_connection(("127.0.0.1", svc.port))
    s.sendall(b"POST /v1/nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 1500000000\r\n\r\n")
    sent = flood(s, 400 << 20)
    return f"{sent >> 20} MiB of a declared 1.5 GB read; {status_of(s)}"

def header_line(svc):
    s = socket.create_connection(("127.0.0.1", svc.port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: ")
    sent = flood(s, 300 << 20)
    return f"{sent >> 20} MiB of a header line read; {status_of(s)}"

def field_flood(svc):
    body = b"".join(b'--zz\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i for i in range(38400)) + b"--zz--\r\n"
    s = socket.create_connection(("127.0.0.1", svc.port))
    s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\nTransfer-Encoding: chunked\r\n\r\n")
    t0 = time.time()
    for i in range(0, len(body), 16384):
        part = body[i:i + 16384]
        try:
            s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
        except OSError:
            break
    try: s.sendall(b"0\r\n\r\n")
    except OSError: pass
    st = status_of(s, 60)
    return f"38,400 fields: {st} after {time.time() - t0:.1f} s"

def slow_clients(svc):
    conns = []
    for _ in range(200):
        c = socket.create_connection(("127.0.0.1", svc.port)); c.sendall(b"G"); conns.append(c)
    worst = 0.0
    for _ in range(8):
        for c in conns:
            try: c.send(b"E")
            except OSError: pass
        t = svc.healthz(60)
        worst = max(worst, t if t is not None else 60.0)
        time.sleep(0.5)
    return f"200 slow connections: /healthz worst {worst * 1000:.0f} ms"

def bad_name(svc):
    body = (b'--zz\r\nContent-Disposition: form-data; name="file"; filename="\xff\xfe\xfd"\r\n\r\n' +
            b"RIFF" + b"\0" * 2000 + b"\r\n--zz--\r\n")
    s = socket.create_connection(("127.0.0.1", svc.port))
    s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    return f"invalid UTF-8 filename: {status_of(s, 10)}"

ATTACKS = [("400 MiB body to an unknown route", big_body), ("300 MiB header line", header_line),
           ("form-field flood", field_flood), ("slow-header clients", slow_clients),
           ("invalid UTF-8 filename", bad_name)]

def run(binary):
    rows = []
    for name, attack in ATTACKS:
        svc = Service(binary)
        base = hwm_kib(svc.p.pid)
        seen = attack(svc)
        alive, peak = svc.stop()
        rows.append((name, seen, alive, base, peak))
    return rows

def main():
    bins = sys.argv[1:3]
    results = [(b, run(os.path.realpath(b))) for b in bins]
    for b, rows in results:
        print(f"== {b}")
        for name, seen, alive, base, peak in rows:
            print(f"{name:34s} peak RSS {peak / 1024:7.1f} MiB (idle {base / 1024:.1f})"
                  f"{'' if alive else '  DIED'}  | {seen}")

if __name__ == "__main__":
    main()
