#!/usr/bin/env bash
# One-time (idempotent) set-up of a development machine: Debian packages for the local
# stand-in services, then a virtual environment with rasteret and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)
# echo_sleep: the first-byte delay of the benchmarks' object store (NginxServer(latency_ms=))
[ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ] || need_apt+=(libnginx-mod-http-echo)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need_apt+=(postgresql-15-postgis-3)
ls /usr/lib/postgresql/15/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql-15)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)  # installs azurite (below)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

stamp=.venv/.rasteret-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: creating .venv and installing rasteret[dev]"
    python3 -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi

# Azurite (the Azure Blob emulator the tests read from) is a Node.js package.
azurite_version=3.37.0
if [ ! -x .tools/azurite/node_modules/.bin/azurite-blob ] \
    || ! grep -q "\"version\": \"$azurite_version\"" .tools/azurite/node_modules/azurite/package.json 2>/dev/null; then
    echo "setup: installing azurite $azurite_version into .tools/azurite"
    mkdir -p .tools/azurite
    npm install --silent --no-audit --no-fund --prefix .tools/azurite "azurite@$azurite_version" >/dev/null
fi
