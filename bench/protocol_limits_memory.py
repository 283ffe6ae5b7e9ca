"""RSS of a local runner before and after ten unfinished 30 MB headers and 100 idle
connections (issue 20 item 12). Usage: python bench/protocol_limits_memory.py DATA_DIR SECONDS"""
import os, socket, subprocess, sys, time, threading
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPROXY_")}
env["LLMPROXY_DATA_DIR"] = sys.argv[1]
proc = subprocess.Popen([f"{ROOT}/.venv/bin/python", "-m", "runner", "--port", str(port)], cwd=ROOT,
                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
import httpx
for _ in range(600):
    try:
        if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code < 500: break
    except Exception: time.sleep(0.2)
def rss(): return int(open(f"/proc/{proc.pid}/status").read().split("VmRSS:")[1].split()[0]) // 1024
for _ in range(20): httpx.get(f"http://127.0.0.1:{port}/health")
time.sleep(20)            # LiteLLM's background import settles first
before = rss()
socks = []
def flood():
    c = socket.create_connection(("127.0.0.1", port)); socks.append(c)
    try:
        c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"v" * 1048576
        for _ in range(30): c.sendall(chunk)
    except OSError as e: pass
ts = [threading.Thread(target=flood) for _ in range(10)]
[t.start() for t in ts]; [t.join() for t in ts]
time.sleep(2)
during = rss()
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
time.sleep(float(sys.argv[2]))
alive = 0
for c in idle:
    c.settimeout(0.5)
    try:
        data = c.recv(100)
        alive += 0 if data is not None and (data == b"" or data.startswith(b"HTTP/1.1 408")) else 1
    except socket.timeout:
        alive += 1
    except OSError:
        pass
after = rss()
print(f"RSS before {before} MB, after ten unfinished 30 MB headers {during} MB, "
      f"after 100 idle connections and {sys.argv[2]} s {after} MB; idle connections still open: {alive}/100")
proc.terminate(); proc.wait(20)
