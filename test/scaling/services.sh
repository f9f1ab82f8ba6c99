# Sourced by .ci/run (bash): starts the services of the scaling passes on loopback. Each function sets
# its result variables and records what to stop in PIDS (an array the caller owns and cleans up).

# PgBouncer in transaction mode in front of PostgreSQL at 127.0.0.1:$1, in directory $2, as user postgres
# (PgBouncer refuses to run as root). Every database name is passed through, with 10 server connections
# per database and user: test/scaling/pgbouncer.test.ts holds the pool to that number. Sets PGB_PORT.
start_pgbouncer() {
  local pg_port=$1 dir=$2
  PGB_PORT=$(free_port)
  mkdir -p "$dir"
  # ignore_startup_parameters: postgres.js sends extra_float_digits; and the test helpers hand
  # TEST_DATABASE_URL, pgbouncer=true included, to plain postgres.js clients (the app strips it itself).
  cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = 10
max_client_conn = 800
ignore_startup_parameters = extra_float_digits,pgbouncer
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
  echo '"postgres" ""' >"$dir/userlist.txt"
  chown -R postgres:postgres "$dir"
  su postgres -s /bin/sh -c "pgbouncer -d $dir/pgbouncer.ini"
  for _ in $(seq 1 50); do [ -s "$dir/pgbouncer.pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$PGB_PORT") 2>/dev/null && break; sleep 0.1; done
  PIDS+=("$(cat "$dir/pgbouncer.pid")")
}

# A Redis Cluster of three masters (no replicas) in directory $1. Sets CLUSTER_NODES (host:port array).
start_redis_cluster() {
  local dir=$1 port
  CLUSTER_NODES=()
  for _ in 1 2 3; do
    port=$(free_port)
    mkdir -p "$dir/$port"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout 2000 --save '' --appendonly no --dir "$dir/$port" >"$dir/$port/redis.log" 2>&1 &
    PIDS+=($!)
    CLUSTER_NODES+=("127.0.0.1:$port")
    for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  redis-cli --cluster create "${CLUSTER_NODES[@]}" --cluster-yes >"$dir/create.log" 2>&1
  local node
  for node in "${CLUSTER_NODES[@]}"; do
    for _ in $(seq 1 100); do redis-cli -p "${node##*:}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break; sleep 0.1; done
  done
}
