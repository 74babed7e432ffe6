#!/usr/bin/env bash
# Runs an N-member Parley cluster on this machine, one `parley node` per
# member, all on 127.0.0.1, until interrupted (Ctrl-C stops every member
# cleanly). Running it again with the same directory restarts the same
# members on their data, and on the same ports.
#
#   scripts/local-cluster.sh 3                 # m1..m3, data in ./local-cluster
#   scripts/local-cluster.sh 5 /tmp/parley-5   # m1..m5, data in /tmp/parley-5
#
# Member i serves clients on port BASE+2(i-1) and peers on the next port:
# with BASE 2379 (etcd's own client port), m1 is 127.0.0.1:2379 and :2380,
# m2 :2381 and :2382, and so on. BASE is $PARLEY_BASE_PORT if set; else
# the one recorded in DIR/base-port by the first run (the members' data
# holds their URLs, so they cannot move); else the first of 2379,
# 2379+2N, 2379+4N, ... whose 2N ports are all free. Ports in use are
# named, never silently reused. The script prints the PARLEY_ENDPOINTS to
# export. $PARLEY names the parley binary (default: parley on $PATH, as
# `go install ./cmd/parley` puts it). Extra etcd settings can be given as
# ETCD_* variables, which every member reads.
set -euo pipefail

n=${1:-}
dir=${2:-local-cluster}
parley=${PARLEY:-parley}

if ! [[ $n =~ ^[1-9]$ ]]; then
	echo "usage: $0 N [DIR]   (N from 1 to 9; 3 or 5 for a cluster that survives failures)" >&2
	exit 2
fi
if ! command -v "$parley" >/dev/null 2>&1; then
	echo "$0: $parley not found; install it with: go install ./cmd/parley (it goes to \$(go env GOPATH)/bin), or set PARLEY=path/to/parley" >&2
	exit 1
fi
mkdir -p "$dir"

# port_in_use P reports whether something on 127.0.0.1 accepts connections
# on port P (bash's /dev/tcp: a refused connection means the port is free).
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ports_in_use B prints the ports, of the 2N from B, that are in use.
ports_in_use() {
	local p used=()
	for ((p = $1; p < $1 + 2 * n; p++)); do
		if port_in_use "$p"; then used+=("$p"); fi
	done
	echo "${used[*]}"
}

record="$dir/base-port"
recorded=""
if [[ -f $record ]]; then recorded=$(<"$record"); fi
if [[ -n ${PARLEY_BASE_PORT:-} ]]; then
	base=$PARLEY_BASE_PORT
	if ! [[ $base =~ ^[0-9]+$ ]] || ((base < 1 || base + 2 * n > 65536)); then
		echo "$0: PARLEY_BASE_PORT=$base: want a port from 1 to $((65536 - 2 * n))" >&2
		exit 2
	fi
	if [[ -n $recorded && $recorded != "$base" ]]; then
		echo "$0: the members in $dir were created on ports from $recorded and cannot move; unset PARLEY_BASE_PORT, or use another DIR" >&2
		exit 1
	fi
elif [[ -n $recorded ]]; then
	base=$recorded
else
	base=""
	for try in $(seq 0 19); do
		b=$((2379 + 2 * n * try))
		if [[ -z $(ports_in_use "$b") ]]; then
			base=$b
			break
		fi
	done
	if [[ -z $base ]]; then
		echo "$0: no $((2 * n)) free ports in a row from 2379 to $((2379 + 40 * n)); choose some with PARLEY_BASE_PORT=PORT" >&2
		exit 1
	fi
	if ((base != 2379)); then
		echo "$0: ports from 2379 are in use ($(ports_in_use 2379)); using $base..$((base + 2 * n - 1))" >&2
	fi
fi
used=$(ports_in_use "$base")
if [[ -n $used ]]; then
	echo "$0: port(s) $used on 127.0.0.1 already in use; this cluster needs $base..$((base + 2 * n - 1))." >&2
	if [[ -n $recorded ]]; then
		echo "$0: the members in $dir were created on those ports: stop what listens there (ss -ltnp shows it), or start afresh with another DIR" >&2
	else
		echo "$0: stop what listens there (ss -ltnp shows it), or choose other ports with PARLEY_BASE_PORT=PORT" >&2
	fi
	exit 1
fi
echo "$base" >"$record"

client_url() { echo "http://127.0.0.1:$((base + 2 * ($1 - 1)))"; }
peer_url() { echo "http://127.0.0.1:$((base + 2 * ($1 - 1) + 1))"; }

initial=""
endpoints=""
for i in $(seq 1 "$n"); do
	initial+="${initial:+,}m$i=$(peer_url "$i")"
	endpoints+="${endpoints:+,}$(client_url "$i")"
done

pids=()
stop() {
	trap - INT TERM EXIT
	if ((${#pids[@]})); then
		kill -TERM "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

for i in $(seq 1 "$n"); do
	"$parley" node --name "m$i" --data-dir "$dir/m$i" \
		--listen-client-urls "$(client_url "$i")" --advertise-client-urls "$(client_url "$i")" \
		--listen-peer-urls "$(peer_url "$i")" --initial-advertise-peer-urls "$(peer_url "$i")" \
		--initial-cluster "$initial" --initial-cluster-token "parley-local-$n" &
	pids+=($!)
done

echo "$0: starting m1..m$n on 127.0.0.1 ports $base..$((base + 2 * n - 1)); PARLEY_ENDPOINTS=$endpoints" >&2

# Wait until every member answers; stop at once if one exits.
status=""
for _ in $(seq 1 60); do
	for i in $(seq 1 "$n"); do
		if ! kill -0 "${pids[i - 1]}" 2>/dev/null; then
			echo "$0: member m$i exited (its error is above; etcd's log is $dir/m$i/etcd.log)" >&2
			exit 1
		fi
	done
	if status=$("$parley" --endpoints "$endpoints" --timeout 5s cluster status 2>/dev/null) &&
		grep -q "^$n members\? ($n voting), $n answering; leader" <<<"$status"; then
		break
	fi
	sleep 1
done

if [[ -z $status ]] || ! grep -q "answering; leader" <<<"$status"; then
	echo "$0: the members did not form a cluster within a minute; see $dir/m*/etcd.log" >&2
	exit 1
fi

next=$((n + 1))
# The next free pair of ports, for a member added later.
nb=$((base + 2 * n))
while port_in_use "$nb" || port_in_use "$((nb + 1))"; do nb=$((nb + 2)); done
cat >&2 <<MSG

$status

The cluster of $n members runs; etcd's logs are in $dir/m*/etcd.log.
In another terminal:

  export PARLEY_ENDPOINTS=$endpoints
  parley cluster status
  parley --user alice create general

Add a member while it runs:

  parley node --name m$next --data-dir $dir/m$next \\
    --listen-client-urls http://127.0.0.1:$nb --listen-peer-urls http://127.0.0.1:$((nb + 1)) \\
    --join $endpoints

Ctrl-C stops every member.
MSG
wait "${pids[@]}"
