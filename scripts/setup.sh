#!/usr/bin/env bash
# npm run setup: installs the system packages that tests beyond the README's two commands need,
# with apt-get, as root. Packages already present are skipped; nothing else is downloaded.
set -euo pipefail

# One entry per package: the file whose absence means it is missing, the Debian package, what needs it.
PACKAGES=(
  "/usr/bin/chromium|chromium|browser tests (test/browser/: the dashboard in headless Chromium)"
)

need=()
for entry in "${PACKAGES[@]}"; do
  IFS='|' read -r file pkg why <<<"$entry"
  if [ -e "$file" ]; then
    echo "setup: $pkg present ($file)"
  else
    echo "setup: $pkg missing ($file) — needed for $why"
    need+=("$pkg")
  fi
done

[ ${#need[@]} -eq 0 ] && { echo "setup: nothing to install"; exit 0; }
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (or: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
echo "setup: installed ${need[*]}"
