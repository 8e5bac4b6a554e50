#!/usr/bin/env bash
# Make sure what the tests need from the machine is there; install or start only what is missing.
set -euo pipefail

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! command -v pg_isready >/dev/null; then
  echo "system-deps: PostgreSQL client tools missing; installing postgresql" >&2
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
# Browser tests drive Debian's chromium (Playwright's own browser downloads are not used).
if ! command -v chromium >/dev/null; then
  echo "system-deps: chromium missing; installing Debian's chromium for the browser tests" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! pg_ready && command -v pg_ctlcluster >/dev/null; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "system-deps: starting PostgreSQL $version" >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
fi
pg_ready || echo "system-deps: PostgreSQL is not answering on 127.0.0.1:5432;" \
  "its tests skip (and fail under CI=true)" >&2
exit 0
