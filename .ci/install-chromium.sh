#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser tests (tests/dashboard), from Debian's packages.
# Playwright drives it through executable_path; nothing is downloaded besides the .deb packages.
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
