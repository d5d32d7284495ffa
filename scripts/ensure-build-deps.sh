#!/usr/bin/env bash
# Installs the Debian packages the build needs and are not part of Rust:
# cmake and libclang (bindgen) for HiGHS, the LP/MIP solver behind gf-plan,
# and python3-venv and curl for scripts/schemathesis.sh.
# Idempotent: installs only what is missing, and retries a failed install
# once (dpkg sometimes fails on the first run of a fresh machine).
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
# bindgen loads libclang itself (libclang.so, from libclang-dev); other
# packages can leave only libclang-cpp.so.N there, which bindgen cannot use,
# so that one must not count.
# shellcheck disable=SC2012
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || missing+=(libclang-dev)
# scripts/schemathesis.sh makes a Python virtualenv and talks to the server
# with curl.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v curl >/dev/null 2>&1 || missing+=(curl)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "ensure-build-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
install() {
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"
}
if ! install; then
  echo "ensure-build-deps: install failed, retrying once" >&2
  sleep 5
  $sudo dpkg --configure -a || true
  install
fi
