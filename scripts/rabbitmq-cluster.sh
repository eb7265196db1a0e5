#!/usr/bin/env bash
# A three-node RabbitMQ test cluster on this machine, beside (never joined to) its own broker.
#
#   scripts/rabbitmq-cluster.sh start    start ctest1..3@localhost on AMQP ports 5681-5683 and cluster them
#   scripts/rabbitmq-cluster.sh stop     stop the nodes and delete their data
#   scripts/rabbitmq-cluster.sh status   print the cluster status
#   scripts/rabbitmq-cluster.sh url      print the comma-separated AMQP_URL of the three nodes
#   scripts/rabbitmq-cluster.sh stop-node N / start-node N   one node down / back (fault tests)
#
# Each node has its own node name, AMQP and distribution ports, data and log directories (owned by the
# rabbitmq user), env and config file: the machine's /etc/rabbitmq files pin its own broker to 5672 and
# are not read. The nodes share the machine's Erlang cookie in /var/lib/rabbitmq, as clustering needs.
set -euo pipefail

BASE=${CONTRACTS_RMQ_CLUSTER_DIR:-/tmp/contracts-rmq-cluster}
NODES=(1 2 3)

node_name() { echo "ctest$1@localhost"; }
amqp_port() { echo $((5680 + $1)); }
dist_port() { echo $((25680 + $1)); }

as_rabbitmq() {
  if [ "$(id -un)" = rabbitmq ]; then "$@"; else runuser -u rabbitmq -- "$@"; fi
}

node_env() {
  local n=$1 dir="$BASE/ctest$1"
  echo "HOME=/var/lib/rabbitmq" \
    "RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf" \
    "RABBITMQ_NODENAME=$(node_name "$n")" \
    "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1" \
    "RABBITMQ_NODE_PORT=$(amqp_port "$n")" \
    "RABBITMQ_DIST_PORT=$(dist_port "$n")" \
    "RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf" \
    "RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins" \
    "RABBITMQ_MNESIA_BASE=$dir/mnesia" \
    "RABBITMQ_LOG_BASE=$dir/log" \
    "RABBITMQ_PID_FILE=$dir/pid" \
    "ERL_EPMD_ADDRESS=127.0.0.1"
}

ctl() {
  local n=$1
  shift
  # shellcheck disable=SC2046
  as_rabbitmq env $(node_env "$n") rabbitmqctl -n "$(node_name "$n")" "$@"
}

start_node() {
  local n=$1 dir="$BASE/ctest$1"
  if ctl "$n" -q status >/dev/null 2>&1; then return 0; fi
  mkdir -p "$dir/mnesia" "$dir/log"
  : >"$dir/rabbitmq-env.conf"
  echo "[]." >"$dir/enabled_plugins"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$(amqp_port "$n")
loopback_users.guest = true
cluster_partition_handling = pause_minority
EOF
  chown -R rabbitmq:rabbitmq "$BASE"
  # shellcheck disable=SC2046
  as_rabbitmq env $(node_env "$n") ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    setsid rabbitmq-server >"$dir/log/console.log" 2>&1 </dev/null &
  local deadline=$((SECONDS + 90))
  until ctl "$n" -q await_startup --timeout 5 >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "node $(node_name "$n") did not start; see $dir/log" >&2
      tail -20 "$dir/log/console.log" >&2 || true
      exit 1
    fi
    sleep 1
  done
}

# How many nodes the cluster status of node $1 lists under $2 (disk_nodes or running_nodes).
count_nodes() {
  ctl "$1" -q cluster_status --formatter json 2>/dev/null |
    python3 -c "import json, sys; print(len(json.load(sys.stdin).get('$2', [])))" 2>/dev/null || echo 0
}

running_nodes() {
  local n count=0
  for n in "${NODES[@]}"; do
    if ctl "$n" -q status >/dev/null 2>&1; then count=$((count + 1)); fi
  done
  echo "$count"
}

# The cluster's data from a boot whose nodes are all gone (a machine restarted, a session ended): a node of
# a cluster that stopped as a whole waits minutes at startup for the peers that stopped after it, and the
# first node started alone never comes up. A test cluster keeps nothing worth that: begin afresh.
forget_stale_cluster() {
  local n pid
  for n in "${NODES[@]}"; do
    pid=$(cat "$BASE/ctest$n/pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$BASE"
}

start() {
  if [ -d "$BASE" ] && [ "$(running_nodes)" = 0 ]; then forget_stale_cluster; fi
  mkdir -p "$BASE"
  for n in "${NODES[@]}"; do start_node "$n"; done
  for n in 2 3; do
    if [ "$(count_nodes "$n" disk_nodes)" != 3 ]; then
      ctl "$n" -q stop_app >/dev/null
      ctl "$n" -q reset >/dev/null
      ctl "$n" -q join_cluster "$(node_name 1)" >/dev/null
      ctl "$n" -q start_app >/dev/null
    fi
  done
  local deadline=$((SECONDS + 60))
  until [ "$(count_nodes 1 running_nodes)" = 3 ]; do
    if [ $SECONDS -ge $deadline ]; then echo "the cluster did not form" >&2; exit 1; fi
    sleep 1
  done
  echo "test cluster up: $(url)"
}

stop_node() {
  local n=$1
  ctl "$n" -q stop >/dev/null 2>&1 || true
}

stop() {
  for n in "${NODES[@]}"; do stop_node "$n"; done
  rm -rf "$BASE"
}

url() {
  local urls=()
  for n in "${NODES[@]}"; do urls+=("amqp://guest:guest@127.0.0.1:$(amqp_port "$n")/"); done
  (IFS=,; echo "${urls[*]}")
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) ctl 1 cluster_status ;;
  url) url ;;
  stop-node) stop_node "$2" ;;
  start-node) start_node "$2" ;;
  ctl) shift; ctl 1 "$@" ;;  # rabbitmqctl against the test cluster (never the machine's broker)
  *) echo "usage: $0 start|stop|status|url|stop-node N|start-node N|ctl ARGS..." >&2; exit 2 ;;
esac
