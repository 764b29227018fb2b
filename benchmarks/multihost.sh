#!/usr/bin/env bash
# Data-parallel training across several network hosts built on this machine: each host is a Linux network
# namespace (its own interface, address and hostname) joined to the others by a veth pair to one bridge, with
# its own sshd; mpirun starts on the first host and reaches every other one over ssh, and the ranks talk to
# each other only across the virtual links (Open MPI's TCP transport, forced onto them).
#   benchmarks/multihost.sh [--hosts N] [--bandwidth RATE] [--fault kill|link-down] [--fault-host K]
#                           [--fault-at-step S] [--resume-after-fault] -- TRAIN_ARGS...
#   --hosts N            hosts (namespaces), one rank each: 2 (default) to 4.
#   --bandwidth RATE     shape every link to RATE in both directions (tc tbf), e.g. 1gbit, 10gbit, 500mbit.
#   --fault kill         once metrics.jsonl shows step S, kill -9 every rank on host K (default: the last host).
#   --fault link-down    once metrics.jsonl shows step S, take host K's link down (ip link set ... down).
#   --resume-after-fault after a fault, run 'train --resume OUT' on host 0 alone (one process).
#   --command            the words after -- are the whole command each rank runs instead of './leviathan train'
#                        (the test suite runs a test main class this way); no faults then.
# TRAIN_ARGS go to './leviathan train' on every rank and must include --out DIR; the last lines printed are
# train's own. Needs root, ip (iproute2) with network namespaces, tc, Debian's openssh-server (sshd) and
# openssh-client, and Open MPI (openmpi-bin). Addresses come from the benchmarking range 198.18.0.0/15 only,
# the bridge has none, so nothing is routed to or from this machine's own network. Everything made for the
# run (namespaces, bridge, links, sshd, key pairs, a fault watcher) is removed on exit, whatever the exit.
# Exit status: train's (mpirun's); 2 for a usage error; 4, with one line, where it cannot run here (not root,
# no namespaces, a tool missing); 3 when a process of the job outlived it.
#
# Failure detection: a killed rank is reported by its host's Open MPI daemon at once. A host that becomes
# unreachable is found by TCP keepalive on Open MPI's control connections (oob_tcp_keepalive_*: 5 s idle,
# then 3 probes 2 s apart, so about 11 s) and by ssh's ServerAlive/ClientAlive checks (5 s x 3); mpirun then
# ends the job. LEVIATHAN_MULTIHOST_KEEPALIVE="TIME INTVL PROBES" replaces the keepalive figures.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOSTS=2
BANDWIDTH=""
FAULT=""
FAULT_HOST=""
FAULT_STEP=""
RESUME=false
COMMAND=false
die() { echo "multihost.sh: $*" >&2; exit 2; }
refuse() { echo "multihost.sh: cannot run here: $*" >&2; exit 4; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --hosts) HOSTS="${2:-}"; shift 2 || die "--hosts needs a number (2 to 4)" ;;
    --bandwidth) BANDWIDTH="${2:-}"; shift 2 || die "--bandwidth needs a rate, e.g. 1gbit" ;;
    --fault) FAULT="${2:-}"; shift 2 || die "--fault needs kill or link-down" ;;
    --fault-host) FAULT_HOST="${2:-}"; shift 2 || die "--fault-host needs a host number" ;;
    --fault-at-step) FAULT_STEP="${2:-}"; shift 2 || die "--fault-at-step needs a step" ;;
    --resume-after-fault) RESUME=true; shift ;;
    --command) COMMAND=true; shift ;;
    --) shift; break ;;
    *) die "unknown option $1 (train's options go after --)" ;;
  esac
done
TRAIN=("$@")
[[ "$HOSTS" =~ ^[2-4]$ ]] || die "--hosts must be 2, 3 or 4, got '$HOSTS'"
[[ -z "$BANDWIDTH" || "$BANDWIDTH" =~ ^[1-9][0-9]*(k|m|g)?bit$ ]] || die "--bandwidth must look like 1gbit, 10gbit or 500mbit, got '$BANDWIDTH'"
case "$FAULT" in
  "") [[ -z "$FAULT_HOST$FAULT_STEP" && "$RESUME" == false ]] || die "--fault-host, --fault-at-step and --resume-after-fault need --fault" ;;
  kill|link-down)
    [[ -n "$FAULT_STEP" && "$FAULT_STEP" =~ ^[1-9][0-9]*$ ]] || die "--fault $FAULT needs --fault-at-step S (a step that train logs)"
    FAULT_HOST="${FAULT_HOST:-$((HOSTS - 1))}"
    [[ "$FAULT_HOST" =~ ^[0-9]+$ && "$FAULT_HOST" -lt "$HOSTS" ]] || die "--fault-host must be 0 to $((HOSTS - 1)), got '$FAULT_HOST'"
    [[ "$FAULT" == kill || "$FAULT_HOST" -gt 0 ]] || die "--fault link-down needs a host other than 0 (mpirun's own)" ;;
  *) die "--fault must be kill or link-down, got '$FAULT'" ;;
esac
[[ "$COMMAND" == false || -z "$FAULT" ]] || die "--command runs no faults (they watch train's --out)"
[[ ${#TRAIN[@]} -gt 0 ]] || die "nothing to run: give train's options after --, e.g. -- --steps 40 --out runs/mh"
OUT=""
[[ "$COMMAND" == true ]] || for ((i = 0; i < ${#TRAIN[@]}; i++)); do
  case "${TRAIN[$i]}" in
    --out) OUT="${TRAIN[$((i + 1))]:-}" ;;
    --out=*) OUT="${TRAIN[$i]#--out=}" ;;
  esac
done
if [[ "$COMMAND" == false ]]; then
  [[ -n "$OUT" ]] || die "TRAIN_ARGS must name the run directory with --out DIR (after --)"
  OUT="$(realpath -m "$OUT")"
fi

# What the run needs, each missing piece one line.
[[ "$(id -u)" == 0 ]] || refuse "needs root (network namespaces, links and sshd); run it as root, as CI does"
for tool in ip tc ssh ssh-keygen mpirun unshare; do
  command -v "$tool" >/dev/null 2>&1 || refuse "needs '$tool' (apt-get install iproute2 openssh-client openmpi-bin util-linux)"
done
SSHD="$(command -v sshd || echo /usr/sbin/sshd)"
[[ -x "$SSHD" ]] || refuse "needs sshd (apt-get install openssh-server)"
PROBE="lvprobe$$"
ip netns add "$PROBE" 2>/dev/null && ip netns del "$PROBE" || refuse "cannot create network namespaces here (ip netns add failed): no namespace support or no CAP_SYS_ADMIN"

if [[ "$COMMAND" == true ]]; then
  RANK_COMMAND=("${TRAIN[@]}")
else
  "$ROOT/leviathan" info > /dev/null                     # builds once, before the ranks start
  RANK_COMMAND=("$ROOT/leviathan" train "${TRAIN[@]}")
fi

# Names of this run: namespaces, links and the bridge carry the script's pid, so two runs never meet.
TAG="lv$$"
BRIDGE="${TAG}br"
NIC="lvnet"                                              # the host's own interface, the same name on every host
ns() { echo "${TAG}h$1"; }
addr() { echo "198.18.0.$(($1 + 1))"; }
WORK="$(mktemp -d /tmp/leviathan-multihost.XXXXXX)"
SSHD_PIDS=()
MPIRUN_PID=""
WATCH_PID=""
MADE_RUN_SSHD=false
CREATED_NS=()

# The processes inside this run's namespaces (all of them started by this script, through sshd or mpirun).
ns_pids() {
  local n
  for n in "${CREATED_NS[@]}"; do ip netns pids "$n" 2>/dev/null || true; done
}

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$WATCH_PID" ]] && kill "$WATCH_PID" 2>/dev/null || true
  if [[ -n "$MPIRUN_PID" ]] && kill -0 "$MPIRUN_PID" 2>/dev/null; then
    kill -TERM "$MPIRUN_PID" 2>/dev/null || true          # mpirun ends its ranks on every host
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$MPIRUN_PID" 2>/dev/null || break; sleep 1; done
  fi
  local p
  for p in "${SSHD_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in $(ns_pids); do kill -KILL "$p" 2>/dev/null || true; done   # whatever is still inside: ours
  local n
  for n in "${CREATED_NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done   # removes the links inside
  ip link del "$BRIDGE" 2>/dev/null || true
  [[ "$MADE_RUN_SSHD" == true ]] && rmdir /run/sshd 2>/dev/null || true
  rm -rf "$WORK"
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The network: a bridge, and per host a namespace with one end of a veth pair (renamed $NIC), the other end
# on the bridge. Optional shaping on both ends, so each host sends and receives at most RATE.
shape() {   # shape NETNS-OR-EMPTY DEV
  [[ -n "$BANDWIDTH" ]] || return 0
  local bits="${BANDWIDTH%bit}" mult=1 rate burst
  case "$bits" in *k) mult=1000; bits="${bits%k}" ;; *m) mult=1000000; bits="${bits%m}" ;; *g) mult=1000000000; bits="${bits%g}" ;; esac
  rate=$((bits * mult))
  burst=$((rate / 8 / 100)); [[ "$burst" -ge 131072 ]] || burst=131072      # 10 ms of traffic, at least two GSO segments
  local exec=(); [[ -n "$1" ]] && exec=(ip netns exec "$1")
  "${exec[@]}" tc qdisc add dev "$2" root tbf rate "$BANDWIDTH" burst "$burst" latency 50ms
}
ip link add "$BRIDGE" type bridge
ip link set "$BRIDGE" up
for ((h = 0; h < HOSTS; h++)); do
  n="$(ns "$h")"
  ip netns add "$n"
  CREATED_NS+=("$n")
  ip link add "${TAG}v$h" type veth peer name "${TAG}n$h"
  ip link set "${TAG}v$h" master "$BRIDGE" up
  ip link set "${TAG}n$h" netns "$n"
  ip -n "$n" link set "${TAG}n$h" name "$NIC"
  ip -n "$n" addr add "$(addr "$h")/24" dev "$NIC"
  ip -n "$n" link set "$NIC" up
  ip -n "$n" link set lo up
  shape "$n" "$NIC"
  shape "" "${TAG}v$h"
done

# Throwaway keys: one host key for every sshd, one client key that they accept, a known_hosts that pins
# the host key (StrictHostKeyChecking stays on).
ssh-keygen -q -t ed25519 -N '' -C "leviathan-multihost-host" -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -C "leviathan-multihost-client" -f "$WORK/id"
cp "$WORK/id.pub" "$WORK/authorized_keys"
: > "$WORK/known_hosts"
for ((h = 0; h < HOSTS; h++)); do echo "$(addr "$h") $(cat "$WORK/host_key.pub")" >> "$WORK/known_hosts"; done
cat > "$WORK/ssh_config" <<EOF
Host *
  IdentityFile $WORK/id
  IdentitiesOnly yes
  UserKnownHostsFile $WORK/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 10
  ServerAliveInterval 5
  ServerAliveCountMax 3
  LogLevel ERROR
EOF
[[ -d /run/sshd ]] || { mkdir -p /run/sshd; chmod 755 /run/sshd; MADE_RUN_SSHD=true; }   # sshd's privilege separation directory
for ((h = 0; h < HOSTS; h++)); do
  cat > "$WORK/sshd_config.$h" <<EOF
ListenAddress $(addr "$h"):22
HostKey $WORK/host_key
AuthorizedKeysFile $WORK/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
PrintMotd no
ClientAliveInterval 5
ClientAliveCountMax 3
LogLevel ERROR
EOF
  # its own hostname too (a UTS namespace), so Open MPI sees N distinct nodes
  ip netns exec "$(ns "$h")" unshare --uts sh -c "hostname host$h && exec '$SSHD' -D -e -f '$WORK/sshd_config.$h'" \
    2>> "$WORK/sshd.log" &
  SSHD_PIDS+=("$!")
done
for ((h = 1; h < HOSTS; h++)); do                       # every host answers ssh from host 0 before mpirun starts
  ok=false
  for _ in $(seq 1 50); do
    if ip netns exec "$(ns 0)" ssh -F "$WORK/ssh_config" "$(addr "$h")" true 2>/dev/null; then ok=true; break; fi
    sleep 0.2
  done
  [[ "$ok" == true ]] || { cat "$WORK/sshd.log" >&2; die "host $h ($(addr "$h")) does not answer ssh (sshd log above)"; }
done

for ((h = 0; h < HOSTS; h++)); do echo "$(addr "$h") slots=1" >> "$WORK/hostfile"; done
read -r KA_TIME KA_INTVL KA_PROBES <<< "${LEVIATHAN_MULTIHOST_KEEPALIVE:-5 2 3}"
FORWARD=()
for v in LEVIATHAN_HEAP LEVIATHAN_JAVA_OPTS; do [[ -n "${!v:-}" ]] && FORWARD+=(-x "$v"); done
MPIRUN=(mpirun --allow-run-as-root --hostfile "$WORK/hostfile" -np "$HOSTS" --map-by node --bind-to none
  --mca plm_rsh_agent ssh --mca plm_rsh_args "-F $WORK/ssh_config"
  --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include "$NIC" --mca oob_tcp_if_include "$NIC"
  --mca oob_tcp_keepalive_time "$KA_TIME" --mca oob_tcp_keepalive_intvl "$KA_INTVL" --mca oob_tcp_keepalive_probes "$KA_PROBES"
  "${FORWARD[@]}" "${RANK_COMMAND[@]}")
echo "multihost.sh: $HOSTS hosts ($(addr 0)..$(addr $((HOSTS - 1)))), links ${BANDWIDTH:-unshaped}, ssh launch from host 0" >&2

# The fault: once rank 0 has logged step S, kill host K's ranks or take its link down.
fault() {
  local metrics="$OUT/metrics.jsonl"
  until [[ -f "$metrics" ]] && grep -q "\"step\":$FAULT_STEP," "$metrics"; do sleep 0.1; done
  if [[ "$FAULT" == kill ]]; then
    local p killed=()
    for p in $(ip netns pids "$(ns "$FAULT_HOST")"); do
      if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q 'leviathan.cli.Main'; then kill -KILL "$p" && killed+=("$p"); fi
    done
    echo "multihost.sh: fault at $(date +%s.%N): kill -9 of host $FAULT_HOST's ranks (pids ${killed[*]:-none}) after step $FAULT_STEP" >&2
  else
    ip link set "${TAG}v$FAULT_HOST" down
    echo "multihost.sh: fault at $(date +%s.%N): host $FAULT_HOST's link down after step $FAULT_STEP" >&2
  fi
  date +%s.%N > "$WORK/fault-time"
}

ip netns exec "$(ns 0)" unshare --uts sh -c 'hostname host0 && exec "$@"' sh "${MPIRUN[@]}" &
MPIRUN_PID=$!
if [[ -n "$FAULT" ]]; then fault & WATCH_PID=$!; fi
set +e
wait "$MPIRUN_PID"
RC=$?
set -e
END="$(date +%s.%N)"
MPIRUN_PID=""
[[ -n "$WATCH_PID" ]] && { kill "$WATCH_PID" 2>/dev/null || true; wait "$WATCH_PID" 2>/dev/null || true; WATCH_PID=""; }

# What crossed the links (counted on the bridge side: rx is what the host sent).
for ((h = 0; h < HOSTS; h++)); do
  echo "multihost.sh: host $h link: sent $(cat "/sys/class/net/${TAG}v$h/statistics/rx_bytes") bytes," \
    "received $(cat "/sys/class/net/${TAG}v$h/statistics/tx_bytes") bytes" >&2
done

# Nothing of the job may outlive it: the namespaces hold only our sshd after mpirun ends (waiting as long as the
# keepalive needs for a cut-off host to notice).
left=()
for _ in $(seq 1 $((KA_TIME + KA_INTVL * KA_PROBES + 15))); do
  left=()
  for p in $(ns_pids); do
    [[ " ${SSHD_PIDS[*]} " == *" $p "* ]] || left+=("$p")
  done
  [[ ${#left[@]} -eq 0 ]] && break
  sleep 1
done
if [[ -n "$FAULT" ]]; then
  if [[ -f "$WORK/fault-time" ]]; then
    echo "multihost.sh: the job ended $(awk -v a="$(cat "$WORK/fault-time")" -v b="$END" 'BEGIN { printf "%.1f", b - a }') s after the fault, exit status $RC" >&2
  else
    echo "multihost.sh: the job ended (exit status $RC) before the fault at step $FAULT_STEP" >&2
  fi
fi
if [[ ${#left[@]} -gt 0 ]]; then
  echo "multihost.sh: left behind after the job: $(for p in "${left[@]}"; do tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -c1-80; echo -n '; '; done)" >&2
  exit 3
fi
echo "multihost.sh: nothing left behind on any host" >&2
if [[ -n "$FAULT" && "$RESUME" == true ]]; then
  echo "multihost.sh: resuming $OUT on host 0 alone" >&2
  ip netns exec "$(ns 0)" "$ROOT/leviathan" train --resume "$OUT"
  exit $?
fi
exit "$RC"
