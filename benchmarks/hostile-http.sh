#!/usr/bin/env bash
# Replays the server cases of issue 25 (and the earlier hostile-client cases) against a real
# `leviathan serve` on loopback (127.0.0.1 only) and prints a Markdown table: request -> status -> body.
# Bounded: 31 requests, each with a 15 s limit; the stalled reader waits at most 40 s; the whole
# script ends within about 3 minutes. It trains a tiny model first (a few seconds) in a scratch
# directory (argument 1, default: a new temp directory).
#   Usage: benchmarks/hostile-http.sh [DIR] > benchmarks/results/hostile-http.md
set -euo pipefail
L="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/leviathan"
. "$(dirname "${BASH_SOURCE[0]}")/lib/serve-port.sh"
D="${1:-$(mktemp -d)}"
mkdir -p "$D"
cd "$D"
python3 - <<'PY'
import random
words = ["the", "king", "queen", "lord", "is", "of", "my", "and", "shall", "thou", "not", "to", "be", "good"]
r = random.Random(1); s = []; n = 0
while n < 4000:
    w = r.choice(words); p = r.randrange(10); t = w + (",\n" if p == 0 else ".\n" if p == 1 else " "); s.append(t); n += len(t)
open("text.txt", "w").write("".join(s)[:4000])
PY
if [ ! -f tiny/model.safetensors ]; then
  "$L" train --data text.txt --out tiny --overwrite --steps 4 --n-layer 1 --n-embd 16 --n-head 2 --block-size 16 --batch-size 2 \
    --eval-interval 2 --eval-batches 1 --sample-tokens 0 --threads 1 --backend java >/dev/null 2>&1
fi
M=tiny/model.safetensors
PORT_FILE=serve.log
rm -f "$PORT_FILE" warm.log
# the server: 1 slot, no queue, max 4096 tokens, 4 KiB bodies, a 2 s write deadline; a long model id
# makes every streamed event about 2 KB, so a client that stops reading fills the socket buffers soon
"$L" serve --checkpoint "$M" --host 127.0.0.1 --port 0 --slots 1 --queue 0 --max-body 4096 --write-timeout 2 \
  --backend java --threads 1 --model-name "$(printf 'm%.0s' {1..2000})" > "$PORT_FILE" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
PORT=$(serve_port "$PORT_FILE" "$SERVER")
[ -n "$PORT" ] || { echo "serve did not start:"; cat "$PORT_FILE"; exit 1; }

echo "| # | request | status | body (first 170 characters; the model id shortened to m…) |"
echo "|---|---|---|---|"
python3 - "$PORT" <<'PY'
import json, socket, sys, time
port = int(sys.argv[1])
rows = []

def raw(data, read=True, rcvbuf=None, timeout=15):
    """Sends raw bytes, returns (status, body) of the response (the connection is closed after it)."""
    s = socket.socket()
    if rcvbuf: s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    s.sendall(data)
    if not read: return s
    buf = b""
    try:
        while True:
            c = s.recv(65536)
            if not c: break
            buf += c
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                length = [l.split(b":")[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(body) >= int(length[0]): break
                if b"data: [DONE]" in body: break
    except socket.timeout:
        pass
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "(no response)"
    if b"transfer-encoding: chunked" in head.lower():          # a stream: drop the chunk sizes
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            try:
                n = int(size.split(b";")[0], 16)
            except ValueError:
                break
            if n == 0: break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return status, body.decode("utf-8", "replace")

def request(method, path, body=None, headers=None):
    b = b"" if body is None else (body if isinstance(body, bytes) else body.encode())
    h = {"Host": "127.0.0.1", "Connection": "close"}
    if body is not None: h["Content-Length"] = str(len(b))
    h.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    return raw(head.encode() + b)

def row(what, status, body):
    body = body.replace("m" * 2000, "m…").replace("\n", "\\n").replace("|", "&#124;")
    rows.append((what, status, body[:170] + ("…" if len(body) > 170 else "")))

C = "/v1/completions"
cases = [
    ("GET /health", "GET", "/health", None, None),
    ("POST /v1/completions `{\"prompt\":\"the\",\"max_tokens\":3,\"seed\":1}`", "POST", C, '{"prompt":"the","max_tokens":3,"seed":1}', None),
    ("POST, `max_tokens` omitted (server --max-tokens 4096: default 16)", "POST", C, '{"prompt":"the","seed":1}', None),
    ("POST, body `{\"prompt\": \"a\"` (invalid JSON)", "POST", C, '{"prompt": "a"', None),
    ("POST, body `[1]`", "POST", C, "[1]", None),
    ("POST, prompt `the Zebra` (outside the vocabulary)", "POST", C, '{"prompt":"the Zebra"}', None),
    ("POST, `max_tokens` 99999999999999999999 (beyond int64)", "POST", C, '{"prompt":"a","max_tokens":99999999999999999999}', None),
    ("POST, `max_tokens` 4097 (over --max-tokens)", "POST", C, '{"prompt":"a","max_tokens":4097}', None),
    ("POST, unknown argument `frobnicate`", "POST", C, '{"prompt":"a","frobnicate":1}', None),
    ("POST, 2,000 nested arrays", "POST", C, "[" * 2000 + "]" * 2000, None),
    ("POST, body not UTF-8 (bytes FF FE)", "POST", C, b'{"prompt":"\xff\xfe"}', None),
    ("POST, a 5,000-byte body (over --max-body 4096)", "POST", C, '{"prompt":"' + "a" * 4980 + '"}', None),
    ("POST //v1/completions", "POST", "//v1/completions", '{"prompt":"a"}', None),
    ("POST /v1/chat/completions", "POST", "/v1/chat/completions", '{"messages":[]}', None),
    ("GET /v1/completions", "GET", C, None, None),
    ("GET /nowhere", "GET", "/nowhere", None, None),
]
for what, m, p, b, h in cases:
    row(what, *request(m, p, b, h))
st, body = request("POST", C, '{"prompt":"a","max_tokens":2,"stream":true,"stream_options":{"include_usage":true},"seed":1}')
events = body.strip().split("\n\n")
row("POST, `stream`, `include_usage`, `max_tokens` 2: the ends of the first event and of the usage event, then the last",
    st, "…" + events[0][-45:] + " … " + events[-2][-95:] + " " + events[-1])
# malformed HTTP: refused by the HTTP layer (Jetty) while parsing, before any handler runs; answered in OpenAI's shape
P = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
for what, data in [("POST, `Content-Length: abc`", P + b"Content-Length: abc\r\n\r\n{}"),
                   ("POST, `Content-Length: -1`", P + b"Content-Length: -1\r\n\r\n{}"),
                   ("POST, two different `Content-Length` headers", P + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}"),
                   ("POST, `Content-Length` beside `Transfer-Encoding: chunked`", P + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                   ("POST, `Transfer-Encoding: gzip`", P + b"Transfer-Encoding: gzip\r\n\r\n{}"),
                   ("the request line `NONSENSE`", b"NONSENSE\r\n\r\n"),
                   ("GET /health `HTTP/7.3`", b"GET /health HTTP/7.3\r\nHost: x\r\n\r\n"),
                   ("GET /health with a 20,000-byte header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")]:
    row(what, *raw(data))
# a client that stops reading: its receive window fills, the write deadline (2 s) closes it
t0 = time.time()
endless = b'{"prompt":"a","max_tokens":4096,"n":4,"stream":true}'
stalled = raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(endless), endless), read=False, rcvbuf=1024)
closed = None
while time.time() - t0 < 40:
    st, metrics = request("GET", "/metrics")
    line = [l for l in metrics.split("\n") if l.startswith("leviathan_write_timeouts_total ")]
    if line and line[0].split()[1] != "0":
        closed = time.time() - t0
        break
    time.sleep(0.2)
stalled.close()
row("a streaming client that never reads (`max_tokens` 4096, `n` 4; receive buffer 1 KiB), then GET /metrics",
    st, (line[0] if line else "(no write_timeouts line)") + (" (closed within the 40 s the script waits)" if closed else " (not closed within 40 s)"))
row("POST `{\"prompt\":\"a\",\"max_tokens\":2}` after it (the one slot is free again)", *request("POST", C, '{"prompt":"a","max_tokens":2}'))
for i, (what, status, body) in enumerate(rows, 1):
    print(f"| {i} | {what} | {status} | `{body}` |" if body else f"| {i} | {what} | {status} | |")
PY
kill "$SERVER" 2>/dev/null || true
wait "$SERVER" 2>/dev/null || true
trap - EXIT

# start-up and signal cases: the exit status and the server's line
printf 'k1\nk2\n' > twolines.key
printf 'cl\xc3\xa9\n' > accent.key
echo
echo "Start-up and signals (exit status, then the line on stderr):"
echo
echo "| # | case | result | message |"
echo "|---|---|---|---|"
for c in "twolines.key:an API key file of 2 lines" "accent.key:an API key file with a non-ASCII character"; do
  f="${c%%:*}"; what="${c#*:}"
  out=$(timeout 60 "$L" serve --checkpoint "$M" --port 0 --backend java --threads 1 --api-key-file "$f" 2>&1 >/dev/null) && code=0 || code=$?
  printf '| %s | `serve --api-key-file` %s | exit %s | %s |\n' "$f" "$what" "$code" "$(printf '%s' "$out" | grep '^leviathan:' | head -n 1 | sed 's/^leviathan: //; s/|/\&#124;/g')"
done
rm -f warm.log
"$L" serve --checkpoint "$M" --port 0 --backend java --threads 1 --warmup 100000000 > warm.log 2>&1 &
W=$!
for _ in $(seq 1 600); do grep -q 'warming up' warm.log && break; sleep 0.1; done
kill -TERM "$W"
wcode=0; wait "$W" || wcode=$?
printf '| warmup | SIGTERM during `serve --warmup 100000000` | exit %s | %s |\n' "$wcode" "$(tail -n 1 warm.log | sed 's/|/\&#124;/g')"
