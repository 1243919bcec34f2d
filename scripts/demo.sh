#!/bin/bash
# make demo: start a private shoald, import a busybox image, run a container in
# the background, show ps and logs, exec into it, stop it and clean everything up.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
ROOT=$(mktemp -d /tmp/shoal-demo.XXXXXX)
export SHOAL_HOST=unix://$ROOT/run/shoal.sock
DAEMON_PID=""

say() { printf '\n\033[1;36m$ %s\033[0m\n' "$*"; }
run() { say "$(printf '%q ' "$@")"; "$@"; }

cleanup() {
  set +e
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    "$BIN/shoal" stack rm demo >/dev/null 2>&1
    "$BIN/shoal" cluster leave --force >/dev/null 2>&1
    "$BIN/shoal" rm -f demo-web >/dev/null 2>&1
    for c in $("$BIN/shoal" ps -aq 2>/dev/null); do "$BIN/shoal" rm -f "$c" >/dev/null 2>&1; done
    "$BIN/shoal" rmi busybox:latest >/dev/null 2>&1
    kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
    "$BIN/shoald" --data-root "$ROOT/data" --exec-root "$ROOT/run" --cgroup-parent shoal-demo \
      --teardown
  fi
  rm -rf "$ROOT"
}
trap cleanup EXIT

echo "== starting shoald (data in $ROOT)"
"$BIN/shoald" --data-root "$ROOT/data" --exec-root "$ROOT/run" --cgroup-parent shoal-demo \
  >"$ROOT/shoald.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do [ -S "$ROOT/run/shoal.sock" ] && break; sleep 0.1; done
run "$BIN/shoal" version

say "python scripts/busybox_rootfs.py busybox.tar   # a rootfs from Debian's busybox-static"
"$BIN/python" scripts/busybox_rootfs.py "$ROOT/busybox.tar"
run "$BIN/shoal" import -c 'CMD ["sh"]' "$ROOT/busybox.tar" busybox:latest
run "$BIN/shoal" images

run "$BIN/shoal" run --rm busybox sh -c 'echo "hello from $(hostname), pid $$"'
run "$BIN/shoal" run -d --name demo-web --memory 64m busybox \
  sh -c 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 1; done'
sleep 2.2
run "$BIN/shoal" ps
run "$BIN/shoal" logs demo-web
run "$BIN/shoal" exec demo-web sh -c 'echo "inside: $(cat /proc/1/cmdline | tr "\0" " ")"; ps'
run "$BIN/shoal" stop -t 1 demo-web
run "$BIN/shoal" ps -a
run "$BIN/shoal" rm demo-web

echo
echo "== a single-host cluster: managers keep services in etcd, agents run their tasks"
PORT=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WEB_PORT=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export WEB_PORT
run "$BIN/shoal" cluster init --advertise-addr "127.0.0.1:$PORT"
run "$BIN/shoal" node ls
run "$BIN/shoal" stack deploy -c examples/web-stack.yml demo
for _ in $(seq 100); do  # until the three web tasks answer
  [ "$("$BIN/shoal" service ls --format '{{.Replicas}}' 2>/dev/null | tr '\n' ' ')" = "1/1 3/3 " ] && break
  sleep 0.2
done
run "$BIN/shoal" service ls
run "$BIN/shoal" service ps demo_web
for _ in 1 2 3; do run curl -fsS "http://127.0.0.1:$WEB_PORT/"; done
run "$BIN/shoal" service scale demo_web=5
run "$BIN/shoal" service ls
run "$BIN/shoal" stack rm demo
run "$BIN/shoal" cluster leave --force
echo
echo "== demo done; cleaning up"
