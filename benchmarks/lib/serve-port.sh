# Sourced by the benchmark scripts that start `leviathan serve --port 0`.
# serve_port LOG PID: waits (at most 60 s) until the server's log names the port it listens on and
# prints it; prints nothing if the server exits first or the time runs out.
serve_port() {
  local log=$1 pid=$2 port="" i
  for ((i = 0; i < 600; i++)); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" 2>/dev/null | head -n 1) || true
    [[ -n "$port" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$port"
}
