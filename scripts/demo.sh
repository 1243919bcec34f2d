#!/bin/bash
# make demo: a 3-host lab cluster on this machine (docs/lab.md), the example stack
# (examples/web-stack.yml) deployed from the lab's registry, its published port fetched
# on every host, web scaled, and the lab torn down — also when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
START=$(date +%s.%N)
WORK=$(mktemp -d /tmp/shoal-demo.XXXXXX)
export SHOAL_LAB_ROOT=$WORK/labs  # a private lab root: nothing of another lab is touched
LAB=demo$(head -c1 /dev/urandom | od -An -tx1 | tr -d ' ')  # at most 6 characters
UP=""

say() { printf '\n\033[1;36m$ %s\033[0m\n' "$*"; }
head_() { printf '\n\033[1;33m== %s\033[0m\n' "$*"; }
run() { say "$(printf '%q ' "$@")"; "$@"; }
elapsed() { awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

cleanup() {
  local rc=$?
  set +e
  if [ -n "$UP" ]; then
    head_ "tearing the lab down"
    "$BIN/shoal" lab down "$LAB"
  fi
  rm -rf "$WORK"
  if [ "$rc" -eq 0 ]; then
    head_ "demo done in $(elapsed) s"
  else
    printf '\n\033[1;31m== demo failed (exit %s) after %s s; the lab was removed\033[0m\n' \
      "$rc" "$(elapsed)"
  fi
}
trap cleanup EXIT

head_ "a lab of 3 hosts (network namespaces on a private underlay), 1 manager, and a registry"
UP=1
run "$BIN/shoal" lab up --nodes 3 --managers 1 --registry "$LAB"
M=$LAB-1
ADDRS=$("$BIN/python" -c '
import sys
from shoal.cli.lab import Lab
lab = Lab.open(sys.argv[1])
print(lab.registry_addr)
print(" ".join(h.addr for h in lab.hosts))' "$LAB")
REGISTRY=$(echo "$ADDRS" | sed -n 1p)
HOSTS=$(echo "$ADDRS" | sed -n 2p)
run "$BIN/shoal" --host "$M" node ls

head_ "an image for the cluster: busybox imported on the manager, pushed to the lab's registry"
"$BIN/python" scripts/busybox_rootfs.py "$WORK/busybox.tar"
run "$BIN/shoal" --host "$M" import -c 'CMD ["sh"]' "$WORK/busybox.tar" "$REGISTRY/demo/busybox:1"
run "$BIN/shoal" --host "$M" push "$REGISTRY/demo/busybox:1"

head_ "the example stack: web (busybox httpd, 3 replicas, port 8080 on every host) and a client"
export STACK_IMAGE=$REGISTRY/demo/busybox:1 WEB_PORT=8080 WEB_REPLICAS=3
run "$BIN/shoal" --host "$M" stack deploy -c examples/web-stack.yml demo
for _ in $(seq 240); do  # until every task runs (each host pulls the image first)
  [ "$("$BIN/shoal" --host "$M" service ls --format '{{.Replicas}}' | tr '\n' ' ')" = "1/1 3/3 " ] \
    && break
  sleep 0.25
done
run "$BIN/shoal" --host "$M" service ls
run "$BIN/shoal" --host "$M" service ps demo_web

head_ "the published port answers on every host's underlay address"
for addr in $HOSTS; do
  for _ in $(seq 40); do curl -fsS -m 2 -o /dev/null "http://$addr:8080/" 2>/dev/null && break; sleep 0.25; done
  run curl -fsS -m 3 "http://$addr:8080/"
done

head_ "the client asks http://web/ by name every 2 s (the service's VIP, tasks on any host)"
for _ in $(seq 60); do  # until its requests have been answered a few times
  [ "$("$BIN/shoal" --host "$M" service logs demo_client 2>/dev/null | grep -c 'hello from')" -ge 3 ] \
    && break
  sleep 0.5
done
run "$BIN/shoal" --host "$M" service logs --tail 4 demo_client

head_ "scale web to 6: the scheduler spreads the tasks over the 3 hosts"
run "$BIN/shoal" --host "$M" service scale demo_web=6
run "$BIN/shoal" --host "$M" service ps demo_web --format 'table {{.Name}}\t{{.Node}}\t{{.CurrentState}}'
say "tasks per host"
"$BIN/shoal" --host "$M" service ps demo_web -f desired-state=running --format '{{.Node}}' \
  | sort | uniq -c

run "$BIN/shoal" --host "$M" stack rm demo
