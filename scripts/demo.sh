#!/usr/bin/env bash
# `npm run demo`: a complete local Postern system in the foreground, stopped with Ctrl-C.
#
# Starts, in .demo/ of this checkout (config, data and one log per service):
#   Redis     127.0.0.1:6379  Postern's state (AOF on, an ACL user for Postern)
#   Prosody   127.0.0.1:5222  XMPP server, accounts alice@localhost and bob@localhost
#             127.0.0.1:5347  its XEP-0114 component port, where Postern logs in
#   ngIRCd    127.0.0.1:6667  IRC server, known to Postern as the server "localhost"
#   Postern   gateway irc.localhost (IRC adapter); /health and /metrics on 127.0.0.1:8089
#
# On a fresh Debian 12 with Node 20 it first installs what is missing (apt: prosody,
# redis-server, ngircd; `npm ci` when node_modules is missing), as root or through sudo.
# Accounts, passwords, keys and data are kept in .demo/ between runs; configs are rewritten.
#
# Environment (all optional):
#   POSTERN_DEMO_XMPP_PORT, POSTERN_DEMO_COMPONENT_PORT, POSTERN_DEMO_REDIS_PORT,
#   POSTERN_DEMO_IRC_PORT, POSTERN_DEMO_HTTP_PORT   other loopback ports than the ones above
#   POSTERN_DEMO_DIR        another folder than .demo/ (the tests use a temp folder)
#   POSTERN_DEMO_NO_INSTALL=1  never run apt-get or npm ci; fail if something is missing
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"

DEMO_DIR="${POSTERN_DEMO_DIR:-$ROOT/.demo}"
XMPP_PORT="${POSTERN_DEMO_XMPP_PORT:-5222}"
COMPONENT_PORT="${POSTERN_DEMO_COMPONENT_PORT:-5347}"
REDIS_PORT="${POSTERN_DEMO_REDIS_PORT:-6379}"
IRC_PORT="${POSTERN_DEMO_IRC_PORT:-6667}"
HTTP_PORT="${POSTERN_DEMO_HTTP_PORT:-8089}"
NO_INSTALL="${POSTERN_DEMO_NO_INSTALL:-}"

USER_DOMAIN="localhost"
GATEWAY_DOMAIN="irc.localhost"
IRC_SERVER="localhost" # the name users write after % in addresses
CHANNEL="#postern"
ACCOUNTS=(alice bob)

# Binaries this script runs; Debian puts ngIRCd in /usr/sbin.
REQUIRED_BINARIES=(/usr/bin/prosody /usr/bin/prosodyctl /usr/bin/redis-server /usr/sbin/ngircd)
PACKAGES=(prosody redis-server ngircd)

say() { printf '%s\n' "$*"; }
fail() {
  printf 'demo: %s\n' "$*" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    fail "need root (or sudo) to run: $*"
  fi
}

# ---------------------------------------------------------------- what is needed

check_node() {
  command -v node >/dev/null 2>&1 || fail "Node.js 20 or newer is required (none found on PATH)"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || fail "Node.js 20 or newer is required (found $(node --version))"
}

install_packages() {
  local missing=()
  local binary
  for binary in "${REQUIRED_BINARIES[@]}"; do
    [ -x "$binary" ] || missing+=("$binary")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ -n "$NO_INSTALL" ]; then
    fail "missing ${missing[*]} (POSTERN_DEMO_NO_INSTALL is set, so nothing is installed; run: apt-get install ${PACKAGES[*]})"
  fi
  say "Installing ${PACKAGES[*]} (missing: ${missing[*]})"
  # Keep the packages from starting their system-wide daemons: they would take the ports the
  # demo needs. policy-rc.d exiting 101 means "action not allowed" to invoke-rc.d and systemd's
  # deb-systemd-invoke alike.
  local added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
    added_policy="yes"
  fi
  local status=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || status=$?
  if [ "$status" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" ||
      status=$?
  fi
  [ -n "$added_policy" ] && as_root rm -f /usr/sbin/policy-rc.d
  [ "$status" -eq 0 ] || fail "apt-get failed (exit $status)"
  for binary in "${REQUIRED_BINARIES[@]}"; do
    [ -x "$binary" ] || fail "$binary is still missing after installing ${PACKAGES[*]}"
  done
}

install_node_modules() {
  [ -d "$ROOT/node_modules" ] && return 0
  [ -n "$NO_INSTALL" ] && fail "node_modules is missing (POSTERN_DEMO_NO_INSTALL is set; run: npm ci)"
  say "Installing the npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
}

# Every port must be free on 127.0.0.1: the demo never takes over a port something else uses.
check_ports() {
  local busy
  busy="$(
    node -e '
      const net = require("node:net");
      const names = ["POSTERN_DEMO_XMPP_PORT", "POSTERN_DEMO_COMPONENT_PORT", "POSTERN_DEMO_REDIS_PORT", "POSTERN_DEMO_IRC_PORT", "POSTERN_DEMO_HTTP_PORT"];
      const ports = process.argv.slice(1).map(Number);
      const free = (port) => new Promise((resolve) => {
        const server = net.createServer();
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
      });
      (async () => {
        for (const [i, port] of ports.entries()) {
          if (!(await free(port))) console.log(`port ${port} on 127.0.0.1 is in use (choose another with ${names[i]}=PORT)`);
        }
      })();
    ' "$XMPP_PORT" "$COMPONENT_PORT" "$REDIS_PORT" "$IRC_PORT" "$HTTP_PORT"
  )"
  [ -z "$busy" ] || fail "$busy"
  local -A seen=()
  local port
  for port in "$XMPP_PORT" "$COMPONENT_PORT" "$REDIS_PORT" "$IRC_PORT" "$HTTP_PORT"; do
    [ -z "${seen[$port]:-}" ] || fail "port $port is given to two services"
    seen[$port]=1
  done
}

# ---------------------------------------------------------------- generated files

# A random token of URL-safe characters, kept in FILE so that later runs reuse it.
persistent_secret() {
  local file="$1" kind="$2"
  if [ ! -s "$file" ]; then
    (umask 077 && node -e "
      const bytes = require('node:crypto').randomBytes(32);
      process.stdout.write(process.argv[1] === 'hex' ? bytes.toString('hex') : bytes.toString('base64url').slice(0, 16));
    " "$kind" >"$file")
  fi
  cat "$file"
}

write_redis_config() {
  mkdir -p "$DEMO_DIR/redis"
  # The default user is switched off; Postern logs in as its own ACL user, which may touch only
  # its own keys and no administrative command (docs/operators.md explains the rule).
  cat >"$DEMO_DIR/redis/redis.conf" <<EOF
# Written by scripts/demo.sh on every run.
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize no
dir $DEMO_DIR/redis
logfile ""
appendonly yes
appendfsync everysec
user default off
user postern on >$REDIS_PASSWORD ~postern:* resetchannels +@all -@dangerous +info
EOF
}

write_prosody_config() {
  mkdir -p "$DEMO_DIR/prosody/data" "$DEMO_DIR/prosody/certs"
  # Facts that matter (Prosody 0.12):
  # - run_as_root: Prosody refuses to run as root without it (harmless for other users);
  # - it changes into its data folder, so every path here is absolute;
  # - no certificate, so no TLS: c2s must not require encryption, and PLAIN must be allowed
  #   without TLS (clients that prefer SCRAM get SCRAM). This is acceptable on loopback only.
  cat >"$DEMO_DIR/prosody/prosody.cfg.lua" <<EOF
-- Written by scripts/demo.sh on every run. Loopback only: no TLS, no server-to-server.
run_as_root = true
pidfile = "$DEMO_DIR/prosody/prosody.pid"
data_path = "$DEMO_DIR/prosody/data"
certificates = "$DEMO_DIR/prosody/certs"
log = { { levels = { min = "info" }, to = "console" } }

interfaces = { "127.0.0.1" }
c2s_ports = { $XMPP_PORT }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
component_ports = { $COMPONENT_PORT }
component_interfaces = { "127.0.0.1" }
s2s_ports = { }
http_ports = { }
https_ports = { }

c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
allow_registration = false

modules_enabled = {
  "roster", "saslauth", "disco", "ping", "carbons", "mam", "pep", "bookmarks",
  "vcard_legacy", "private", "blocklist", "smacks", "csi_simple", "time", "version",
}
modules_disabled = { "s2s", "s2s_auth_certs" }

VirtualHost "$USER_DOMAIN"

-- The gateway: Postern logs in on the component port with this secret.
Component "$GATEWAY_DOMAIN"
  component_secret = "$COMPONENT_SECRET"
EOF
}

write_ngircd_config() {
  # ngIRCd will not run as root: it switches to "nobody", which must be able to write its pidfile.
  mkdir -p "$DEMO_DIR/ngircd/conf.d"
  chmod 0777 "$DEMO_DIR/ngircd"
  cat >"$DEMO_DIR/ngircd/ngircd.conf" <<EOF
# Written by scripts/demo.sh on every run.
[Global]
  # ngIRCd wants a dot in its name; Postern knows this server as "$IRC_SERVER" (its config).
  Name = ngircd.localhost
  Info = Postern demo IRC server
  AdminInfo1 = Postern demo
  AdminInfo2 = loopback only
  AdminEMail = demo@localhost
  Listen = 127.0.0.1
  Ports = $IRC_PORT
  PidFile = $DEMO_DIR/ngircd/ngircd.pid
  MotdPhrase = Postern demo IRC server. Try: JOIN $CHANNEL
[Limits]
  # Every IRC connection of the demo (each XMPP user's, and yours) comes from 127.0.0.1.
  MaxConnectionsIP = 0
  MaxNickLength = 30
[Options]
  DNS = no
  Ident = no
  PAM = no
  # Keep the system's /etc/ngircd/ngircd.conf.d out of the demo server.
  IncludeDir = $DEMO_DIR/ngircd/conf.d
[Channel]
  Name = $CHANNEL
  Topic = Postern demo: XMPP users arrive as #postern%localhost@irc.localhost
  Modes = +tn
EOF
}

write_postern_config() {
  # Secrets come from files next to the config (the `*_file` form), never from the YAML itself.
  cat >"$DEMO_DIR/postern.yaml" <<EOF
# Written by scripts/demo.sh on every run. See config.example.yaml for every option.
log:
  level: info
redis:
  url: redis://127.0.0.1:$REDIS_PORT
  username: postern
  password_file: redis.password
  keyPrefix: "postern:"
secrets:
  encryptionKey_file: encryption.key
http:
  host: 127.0.0.1
  port: $HTTP_PORT
  filesDir: $DEMO_DIR/files
gateways:
  - domain: $GATEWAY_DOMAIN
    adapter: irc
    name: IRC (Postern demo)
    xmpp:
      host: 127.0.0.1
      port: $COMPONENT_PORT
      secret_file: component.secret
    users:
      allowedDomains: [$USER_DOMAIN]
      admins: [alice@$USER_DOMAIN]
    settings:
      servers:
        $IRC_SERVER:
          host: 127.0.0.1
          port: $IRC_PORT
EOF
}

# ---------------------------------------------------------------- processes

declare -A PIDS=()   # service name → pid
STOP_ORDER=(postern ngircd prosody redis)

# Starts a service in the background, its output in $DEMO_DIR/<name>.log. `setsid` gives it its
# own session, so a Ctrl-C in the terminal reaches only this script, which then stops the
# services in order (Postern before the Redis it writes to). setsid does not fork here (a
# background child is no process group leader), so $! is the service's own pid.
start_service() {
  local name="$1"
  shift
  setsid "$@" >"$DEMO_DIR/$name.log" 2>&1 </dev/null &
  PIDS[$name]=$!
}

service_died() {
  local name="$1"
  say "" >&2
  say "demo: $name stopped unexpectedly. The end of $DEMO_DIR/$name.log:" >&2
  tail -n 30 "$DEMO_DIR/$name.log" >&2 || true
  exit 1
}

# Waits until something accepts connections on 127.0.0.1:PORT, failing if the service exits.
wait_for_port() {
  local name="$1" port="$2" seconds="${3:-30}"
  local deadline=$((SECONDS + seconds))
  until (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null; do
    kill -0 "${PIDS[$name]}" 2>/dev/null || service_died "$name"
    [ "$SECONDS" -lt "$deadline" ] || fail "$name did not open 127.0.0.1:$port within $seconds s (see $DEMO_DIR/$name.log)"
    sleep 0.2
  done
}

# Waits until Postern's JSON log says the component logged in to Prosody.
wait_for_postern() {
  local deadline=$((SECONDS + 60))
  until grep -q '"msg":"component online"' "$DEMO_DIR/postern.log" 2>/dev/null; do
    kill -0 "${PIDS[postern]}" 2>/dev/null || service_died postern
    [ "$SECONDS" -lt "$deadline" ] || fail "Postern did not log in to Prosody within 60 s (see $DEMO_DIR/postern.log)"
    sleep 0.2
  done
}

# SIGTERM, then SIGKILL after a grace period; returns once the process is gone.
stop_pid() {
  local pid="$1" grace="$2"
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + grace))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  wait "$pid" 2>/dev/null || true
}

# Stops Postern first (it says goodbye on IRC and XMPP and finishes its Redis writes), then the
# servers. Runs on every exit: Ctrl-C, a failure, or a service that died.
cleanup() {
  local status=$?
  trap '' INT TERM HUP
  local name
  for name in "${STOP_ORDER[@]}"; do
    [ -n "${PIDS[$name]:-}" ] || continue
    if kill -0 "${PIDS[$name]}" 2>/dev/null; then
      say "Stopping $name"
      stop_pid "${PIDS[$name]}" "$([ "$name" = postern ] && echo 20 || echo 10)"
    fi
  done
  [ "$status" -eq 0 ] && say "Demo stopped. Logs and data stay in $DEMO_DIR."
  exit "$status"
}

# ---------------------------------------------------------------- main

check_node
install_packages
install_node_modules
check_ports

mkdir -p "$DEMO_DIR"
DEMO_DIR="$(cd "$DEMO_DIR" && pwd)"
chmod 0755 "$DEMO_DIR"

ENCRYPTION_KEY_FILE="$DEMO_DIR/encryption.key"
persistent_secret "$ENCRYPTION_KEY_FILE" hex >/dev/null
COMPONENT_SECRET="$(persistent_secret "$DEMO_DIR/component.secret" token)"
REDIS_PASSWORD="$(persistent_secret "$DEMO_DIR/redis.password" token)"
declare -A PASSWORDS=()
for account in "${ACCOUNTS[@]}"; do
  PASSWORDS[$account]="$(persistent_secret "$DEMO_DIR/$account.password" token)"
done

write_redis_config
write_prosody_config
write_ngircd_config
write_postern_config

for account in "${ACCOUNTS[@]}"; do
  prosodyctl --config "$DEMO_DIR/prosody/prosody.cfg.lua" register "$account" "$USER_DOMAIN" \
    "${PASSWORDS[$account]}" >>"$DEMO_DIR/prosody.log" 2>&1 ||
    fail "could not create the account $account@$USER_DOMAIN (see $DEMO_DIR/prosody.log)"
done

trap cleanup EXIT
trap 'say ""; exit 0' INT TERM HUP

say "Starting Redis, Prosody and ngIRCd (logs in $DEMO_DIR)"
start_service redis redis-server "$DEMO_DIR/redis/redis.conf"
start_service prosody prosody -F --config "$DEMO_DIR/prosody/prosody.cfg.lua"
start_service ngircd /usr/sbin/ngircd --nodaemon --config "$DEMO_DIR/ngircd/ngircd.conf"
wait_for_port redis "$REDIS_PORT"
wait_for_port prosody "$XMPP_PORT"
wait_for_port prosody "$COMPONENT_PORT"
wait_for_port ngircd "$IRC_PORT"

say "Starting Postern"
start_service postern node --import tsx "$ROOT/src/cli.ts" run --config "$DEMO_DIR/postern.yaml"
wait_for_postern

cat <<EOF

Postern demo is running. Stop it with Ctrl-C. Logs: $DEMO_DIR/*.log

1. Log in with any XMPP client (Gajim, Pidgin, Profanity, …) on this machine:
     account  alice@$USER_DOMAIN   password  ${PASSWORDS[alice]}
     account  bob@$USER_DOMAIN     password  ${PASSWORDS[bob]}
   Server 127.0.0.1, port $XMPP_PORT. There is no TLS on this loopback-only server: allow an
   unencrypted connection / plaintext login in the client's account settings.

2. Join the group chat   $CHANNEL%$IRC_SERVER@$GATEWAY_DOMAIN
   (any channel: #name%$IRC_SERVER@$GATEWAY_DOMAIN; a private chat with an IRC user: nick%$IRC_SERVER@$GATEWAY_DOMAIN)

3. Talk from the IRC side with any IRC client at 127.0.0.1 port $IRC_PORT, e.g.
     irssi -c 127.0.0.1 -p $IRC_PORT -n carol      then   /join $CHANNEL
   or by hand (apt-get install netcat-openbsd):
     nc 127.0.0.1 $IRC_PORT
     NICK carol
     USER carol 0 * :Carol
     JOIN $CHANNEL
     PRIVMSG $CHANNEL :hello from IRC

4. Postern's own state: curl http://127.0.0.1:$HTTP_PORT/health   (and /metrics)

EOF

# Runs until Ctrl-C (the INT trap exits, the EXIT trap stops everything) or until a service dies.
while true; do
  wait -n || true
  for name in "${STOP_ORDER[@]}"; do
    kill -0 "${PIDS[$name]}" 2>/dev/null || service_died "$name"
  done
done
