#!/usr/bin/env bash
# Fuzzes the live HTTP API against its own OpenAPI document with
# schemathesis (PyPI, pinned below): starts `gigafleet serve` on
# examples/multicloud-2026.toml with a throw-away data directory on a free
# loopback port, reads the first-start admin token it prints, and runs every
# documented operation with the admin token, valid and invalid inputs alike
# (a bounded number of cases per operation and a fixed seed, so the run is
# the same every time and takes well under a minute). It fails on:
#   - not_a_server_error: any 5xx answer (client input never causes one);
#   - status_code_conformance: a status the document does not list;
#   - content_type_conformance: a Content-Type the document does not list;
#   - response_schema_conformance: a body whose shape is not the documented
#     schema;
#   - negative_data_rejection: a request that breaks the document (a wrong
#     type, a value out of its documented range) answered with a 2xx;
#   - missing_required_header, ignored_auth: a call without its token (or a
#     required header) that is not refused with a 4xx (401 for the token);
#   - unsupported_method: a method the route does not take not answered 405.
# Not checked: positive_data_acceptance, since a body can match the schema
# and still be refused for what only the fleet knows (an unknown team or
# accelerator is a 422, as documented).
# The jobs and services the id operations run on are created first, so about
# half of those calls reach a real row (the other half are generated ids).
# `/v1/events` is left out: it is a server-sent event stream that never ends,
# which no request timeout can tell from a hung server (crates/gf-cli/tests/
# serve.rs follows it instead). The server is stopped by its pid whatever
# happens.
#
# Usage: scripts/schemathesis.sh [PATH-TO-gigafleet]   (default:
# target/debug/gigafleet, as `cargo test` leaves it); GF_SCHEMATHESIS_SEED and
# GF_SCHEMATHESIS_EXAMPLES explore with another seed or more cases. Called by
# scripts/test.sh after the workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
bin="${1:-target/debug/gigafleet}"
if [ ! -x "$bin" ]; then
  echo "schemathesis.sh: no gigafleet binary at $bin; build it with \`cargo build -p gf-cli\`" >&2
  exit 2
fi

# The virtualenv, made once and re-made when the pinned version changes.
venv="$PWD/target/schemathesis-venv"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

work=$(mktemp -d /tmp/gf-schemathesis.XXXXXX)
pid=
stop() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

# Port 0: the kernel picks a free port, and the server prints which. The
# log exists before the server opens it, so reading it never races the start.
: >"$work/server.log"
"$bin" serve --fleet examples/multicloud-2026.toml --data-dir "$work/data" \
  --listen 127.0.0.1:0 2>"$work/server.log" &
pid=$!
url=
for _ in $(seq 1 300); do
  url=$(sed -n 's/^gigafleet: listening on \(http:\/\/[0-9.:]*\)$/\1/p' "$work/server.log")
  [ -n "$url" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.1
done
token=$(sed -n 's/^gigafleet: admin token (shown once, keep it): \(gf_[0-9a-f]*\)$/\1/p' "$work/server.log")
if [ -z "$url" ] || [ -z "$token" ]; then
  echo "schemathesis.sh: the server did not start; its log:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
# Ready once the controller is restored, so answers are the steady state's.
ready=0
for _ in $(seq 1 300); do
  if curl -fsS "$url/readyz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "schemathesis.sh: the server was not ready within 30 s; its log:" >&2
  cat "$work/server.log" >&2
  exit 1
fi

# Some jobs and services, so the operations on one by id reach a real row
# about half the time (the ids come from a dictionary; the other half are
# generated, mostly unknown ids).
post() {
  curl -fsS -X POST "$url$1" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -d "$2" | sed -n 's/^{"id":\([0-9]*\).*/\1/p' || true
}
jobs=() services=()
for i in 1 2 3; do
  jobs+=("$(post /v1/jobs '{"name":"fuzz-'$i'","team":"research","gpus":8,"accelerators":["h100","h200"],"work_gpu_hours":500}')")
done
for i in 1 2; do
  services+=("$(post /v1/services '{"name":"fuzz-'$i'","team":"inference","model":"m","priority":800,"gpus_per_replica":8,"throughput":{"h200":40.0},"demand":[{"zone":"us-east","rps":100.0}],"latency_slo_ms":250.0,"min_replicas":1,"max_replicas":8}')")
done
for id in "${jobs[@]}" "${services[@]}"; do
  if [ -z "$id" ]; then
    echo "schemathesis.sh: could not create the jobs and services to test with" >&2
    exit 1
  fi
done
list() {
  local IFS=,
  echo "$*"
}
cat >"$work/schemathesis.toml" <<EOF
[dictionaries.jobs]
values = [$(list "${jobs[@]}")]
[dictionaries.services]
values = [$(list "${services[@]}")]
[[operations]]
include-path-regex = '^/v1/jobs/\{id\}'
parameters = { "path.id" = { dictionary = "jobs", probability = 0.5 } }
[[operations]]
include-path-regex = '^/v1/services/\{id\}'
parameters = { "path.id" = { dictionary = "services", probability = 0.5 } }
EOF

# Run from the temporary directory, where schemathesis leaves its cache.
status=0
(cd "$work" && "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$url/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection,missing_required_header,unsupported_method,ignored_auth \
  --exclude-path /v1/events \
  --phases examples,coverage,fuzzing \
  --max-examples "${GF_SCHEMATHESIS_EXAMPLES:-25}" --seed "${GF_SCHEMATHESIS_SEED:-20261}" --workers 1 \
  --generation-database none \
  --request-timeout 10 \
  --no-color) || status=$?

if ! kill -0 "$pid" 2>/dev/null; then
  echo "schemathesis.sh: the server died during the run; its log:" >&2
  tail -50 "$work/server.log" >&2
  status=1
elif grep -q 'panicked' "$work/server.log"; then
  echo "schemathesis.sh: the server panicked during the run:" >&2
  grep -A5 'panicked' "$work/server.log" >&2
  status=1
fi
exit "$status"
