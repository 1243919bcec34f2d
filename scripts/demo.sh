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
    "$BIN/shoal" rm -f demo-web >/dev/null 2>&1
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
echo "== demo done; cleaning up"
