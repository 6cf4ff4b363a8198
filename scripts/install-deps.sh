#!/usr/bin/env bash
# Installs Soroka's build, test and demo dependencies from Debian 12 packages; idempotent.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev libcurl4-openssl-dev libsystemd-dev libmicrohttpd-dev libssl-dev libcpp-httplib-dev libseccomp-dev
  libavformat-dev libavcodec-dev libavutil-dev libswresample-dev
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx pocketsphinx-en-us pocketsphinx-testdata
  libfftw3-dev libeigen3-dev
  asterisk-core-sounds-en-wav asterisk-core-sounds-fr-wav asterisk-core-sounds-ru-wav
  flite sox ffmpeg python3 python3-psutil time curl systemd strace wrk
)
# `--fuzz` (make fuzz) adds the libFuzzer toolchain: clang 16, whose runtime package carries
# libFuzzer and the sanitizers (clang 14 cannot compile libstdc++ 12's <expected>).
if [ "${1:-}" = "--fuzz" ]; then
  PKGS+=(clang-16 libclang-rt-16-dev)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The official OpenAI Node client the interop test runs (from the npm registry, pinned by
# tests/interop/package-lock.json).
interop="$(cd "$(dirname "$0")/.." && pwd)/tests/interop"
if command -v npm >/dev/null && [ ! -d "$interop/node_modules/openai" ]; then
  echo "install-deps: npm ci in tests/interop"
  (cd "$interop" && npm ci --no-audit --no-fund --silent) ||
    echo "install-deps: npm ci failed; the interop test will be skipped"
fi
