#!/usr/bin/env bash
# Run the benchmark (bench/run.py) inside a private network namespace: a veth carries
# 127.0.0.2, so every packet stays on this machine and aioice and Janus find an address.
# Usage: bash bench/run.sh [--systems giaoban,janus,relay] [--scenarios speaker-10,...] [--seconds 20]
#        (a scenario may carry giaoban's admission control: speaker-200+cap150, +lag50, +cpu85)
# Needs root (unshare -n, ip link); Janus comes from Debian (bench/janus/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BENCH_IN_NETNS:-}" ]; then
  exec unshare -n env BENCH_IN_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 127.0.0.2/32 dev v0
ip link set v0 up
ip link set v1 up
exec "${PYTHON:-.venv/bin/python}" -m bench.run "$@"
