#!/usr/bin/env bash
# Runs every check and test of tkmprom. Installs what the tests need when it is missing:
# node modules (npm ci) and, as root on Debian, Mosquitto, nats-server, promtool/Prometheus,
# Chromium and systemd-analyze.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]}. Install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
export PATH="$PATH:/usr/sbin"
# Debian starts the packaged services on install; the tests run their own on free ports.

[ -d node_modules ] || npm ci --no-audit --no-fund

echo "== lint and format"
npx biome check .
echo "== typecheck"
npx tsc -p tsconfig.json --noEmit
echo "== build"
npm run build --silent

echo "== unit tests"
node --import tsx --test --test-reporter=spec $(find src -name '*.test.ts' | sort)
echo "== integration tests"
node --import tsx --test --test-concurrency=1 --test-reporter=spec $(find test -name '*.test.ts' | sort)
