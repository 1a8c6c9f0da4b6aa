#!/usr/bin/env bash
# Install the Debian packages the test suite uses, when missing and when we may (root).
# Tests that need a package that could not be installed skip with a reason.
set -u
want=()
[ -x /usr/bin/chromium ] || want+=(chromium)  # the browser tests drive exactly this binary
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not root or no apt-get; tests needing ${want[*]} will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq "${want[@]}" >/dev/null \
  || echo "system-deps: could not install ${want[*]}; tests needing them will skip" >&2
exit 0
