#!/usr/bin/env bash
# The demo: builds libsegops, starts the local SegOps server on loopback, sends
# events through the library with a secret key (examples/basic) and a public key
# with a signed identity (examples/public_key), and shows what the server got.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

# The build takes about a minute on two cores: say what is being built, step by step.
build=build/demo
echo "== configuring the build in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSEGOPS_BUILD_TESTS=OFF \
      -DSEGOPS_BUILD_BENCH=OFF >/dev/null
build_step() { # WHAT TARGET...
    echo "== building $1"
    shift
    cmake --build "$build" -j"$(nproc)" --target "$@" >/dev/null
}
build_step "libsegops (the library)" segops
build_step "segops-dev-server (the local SegOps server)" segops-dev-server
build_step "the examples basic, sign_user and public_key" basic sign_user public_key

work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Demo credentials only (they exist just for this local server). Secrets travel
# in the environment, never on a command line.
export SEGOPS_DEMO_SK="sk_demo_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export SEGOPS_DEMO_PK="pk_demo_public_key"
export SEGOPS_HMAC_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
SEGOPS_DEV_SK="$SEGOPS_DEMO_SK" SEGOPS_DEV_PK="$SEGOPS_DEMO_PK:$SEGOPS_HMAC_SECRET:signed" \
    "$build/tools/segops-dev-server" --port 0 --port-file "$work/port" --record "$work/events.ndjson" \
    --quiet >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { echo "demo: the local server did not start" >&2; cat "$work/server.err" >&2; exit 1; }
url="http://127.0.0.1:$(cat "$work/port")"
echo "== local SegOps server listening on $url"

echo
echo "== secret key (sk_): examples/basic"
SEGOPS_API_URL="$url" SEGOPS_API_KEY="$SEGOPS_DEMO_SK" "$build/examples/basic"

# The backend signs the id of the user the app sends as.
user=user_42
echo
echo "== backend signs a user id: examples/sign_user $user"
"$build/examples/sign_user" "$user"

echo
echo "== public key (pk_) with a signed identity: examples/public_key (as $user)"
SEGOPS_API_URL="$url" SEGOPS_API_KEY="$SEGOPS_DEMO_PK" SEGOPS_USER_ID="$user" \
    "$build/examples/public_key"

echo
echo "== what the server received ($(wc -l <"$work/events.ndjson") events)"
cat "$work/events.ndjson"
echo
echo "== server counters"
curl -fsS "$url/_dev/stats"
echo
