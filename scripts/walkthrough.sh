#!/usr/bin/env bash
# The move from upsert-on-request to webhooks, end to end, as
# docs/migration.md tells it: the real binary, the Clerk stand-in and a
# real PostgreSQL. Each step checks its outcome and the script stops at the
# first that does not hold.
#
#   scripts/walkthrough.sh DATABASE_URL   (make walkthrough passes a fresh one)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin/clerksync"
export DATABASE_URL=${1:?usage: $0 DATABASE_URL}
api_port=${WALK_API_PORT:-18180}
emu_port=${WALK_EMU_PORT:-18181}
api="http://127.0.0.1:$api_port"
emu="http://127.0.0.1:$emu_port"
logs=$(mktemp -d)

export PORT=$api_port
export CLERK_SECRET_KEY=sk_test_walkthrough
export CLERK_API_URL=$emu
export CLERK_WEBHOOK_SIGNING_SECRET="whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
export LOG_FORMAT=text

step() { printf '\n== %s\n' "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
fail() {
  printf '   FAILED: %s\n' "$*" >&2
  printf '   server log tail:\n' >&2
  tail -n 20 "$logs/server.log" >&2 || true
  exit 1
}

server_pid=""
emu_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$logs"
}
trap cleanup EXIT

wait_ready() {
  for _ in $(seq 1 100); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "$1 did not answer"
}

# start_server PHASE: (re)start `clerksync serve` in that phase.
start_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  SYNC_PHASE=$1 "$bin" serve >>"$logs/server.log" 2>&1 &
  server_pid=$!
  wait_ready "$api/readyz"
}

# json_field NAME: the first string or number value of NAME in stdin.
json_field() {
  grep -o "\"$1\":\"\{0,1\}[^\",}]*" | head -n 1 | sed 's/^[^:]*:"\{0,1\}//'
}

clerk() { # METHOD PATH [BODY]: call the stand-in's Backend API.
  curl -fsS -X "$1" -H "Authorization: Bearer $CLERK_SECRET_KEY" \
    -H 'Content-Type: application/json' "$emu$2" ${3:+-d "$3"}
}

new_clerk_user() { # EMAIL: create a user in Clerk, print its id.
  clerk POST /users "{\"email_address\":[\"$1\"],\"first_name\":\"Walk\"}" | json_field id
}

token_for() { # USER_ID: a session token from the stand-in.
  curl -fsS -X POST "$emu/dev/tokens" -d "{\"user_id\":\"$1\",\"ttl_seconds\":600}" | json_field token
}

me() { # TOKEN: GET /api/me, print the status code.
  curl -s -o "$logs/me.json" -w '%{http_code}' -H "Authorization: Bearer $1" "$api/api/me"
}

local_users() {
  "$bin" reconcile --json 2>/dev/null | json_field local_users || true
}

clerk_calls() { curl -fsS "$emu/dev/stats" | sed -n 's/.*"get_user":\([0-9]*\).*/\1/p'; }

step "0. Start the Clerk stand-in, delivering webhooks to the API"
"$bin" clerk-emulator --addr "127.0.0.1:$emu_port" \
  --webhook-url "$api/api/webhooks/clerk" --retry-scale 0.00001 >"$logs/emu.log" 2>&1 &
emu_pid=$!
wait_ready "$emu/dev/stats"
ok "stand-in at $emu"

step "1. mvp: users are created by their own requests"
start_server mvp
alice=$(new_clerk_user alice@example.com)
bob=$(new_clerk_user bob@example.com)
[ "$(me "$(token_for "$alice")")" = 200 ] || fail "alice's first request"
[ "$(me "$(token_for "$bob")")" = 200 ] || fail "bob's first request"
grep -q '"synced_via":"request"' "$logs/me.json" || fail "row not synced by the request"
ok "alice and bob exist locally after calling /api/me"

step "2. mvp: users who never call the API are missing"
for n in 1 2 3; do new_clerk_user "quiet$n@example.com" >/dev/null; done
# The route answers 404 in mvp, so their user.created deliveries fail; the
# stand-in's retry schedule, shrunk here, is over within a second or two,
# as Svix's would be after a day.
sleep 2
set +e
"$bin" reconcile >"$logs/reconcile1.txt" 2>/dev/null
code=$?
set -e
[ "$code" = 3 ] || fail "reconcile should report drift (exit 3), got $code"
grep -q '^missing locally: 3' "$logs/reconcile1.txt" || fail "expected 3 missing users"
ok "reconcile reports 3 users missing locally"
curl -fsS "$api/api/sync/status" | grep -q '"webhooks_enabled":false' || fail "mvp status"
ok "/api/sync/status: webhooks off"

step "3. beta: webhooks bring new users and deletions in"
start_server beta
curl -fsS "$api/api/sync/status" | grep -q '"phase":"beta"' || fail "beta status"
carol=$(new_clerk_user carol@example.com)
bob_token=$(token_for "$bob") # a session bob still holds
clerk DELETE "/users/$bob" >/dev/null
for _ in $(seq 1 50); do
  [ "$(me "$bob_token")" = 401 ] && break
  sleep 0.1
done
[ "$(me "$bob_token")" = 401 ] || fail "bob's deletion did not arrive"
grep -q user_deleted "$logs/me.json" || fail "bob should be user_deleted"
ok "bob's user.deleted erased him (401 user_deleted)"
for _ in $(seq 1 50); do
  "$bin" reconcile --json 2>/dev/null | grep -q "$carol" || break
  sleep 0.1
done
"$bin" reconcile --json 2>/dev/null | grep -q "\"missing\":\[[^]]*$carol" && fail "carol's user.created did not arrive"
ok "carol arrived by webhook without calling the API"

step "4. backfill fills the gap"
"$bin" backfill --page-size 2 >"$logs/backfill.txt" 2>/dev/null || fail "backfill failed"
grep -q '3 created' "$logs/backfill.txt" || fail "backfill should create the 3 quiet users: $(cat "$logs/backfill.txt")"
ok "$(cat "$logs/backfill.txt")"

step "5. production: known users cost no Clerk API call"
start_server production
before=$(clerk_calls)
for _ in 1 2 3; do
  [ "$(me "$(token_for "$alice")")" = 200 ] || fail "alice in production"
done
after=$(clerk_calls)
[ "$before" = "$after" ] || fail "expected no get_user calls, saw $before -> $after"
ok "3 requests, 0 Clerk API calls (get_user stayed at $after)"

step "6. reconcile: no drift"
"$bin" reconcile >"$logs/reconcile2.txt" 2>/dev/null || fail "reconcile found drift: $(cat "$logs/reconcile2.txt")"
grep -q 'no drift' "$logs/reconcile2.txt" || fail "no drift expected"
ok "no drift"

printf '\nwalkthrough passed\n'
