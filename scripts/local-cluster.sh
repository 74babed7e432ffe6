#!/usr/bin/env bash
# Runs an N-member Parley cluster on this machine, one `parley node` per
# member, all on 127.0.0.1, until interrupted (Ctrl-C stops every member
# cleanly). Running it again with the same directory restarts the same
# members on their data.
#
#   scripts/local-cluster.sh 3                 # m1..m3, data in ./local-cluster
#   scripts/local-cluster.sh 5 /tmp/parley-5   # m1..m5, data in /tmp/parley-5
#
# Member i serves clients on port BASE+2(i-1) and peers on the next port,
# where BASE is $PARLEY_BASE_PORT (default 2379, etcd's own client port):
# m1 is 127.0.0.1:2379 and :2380, m2 :2381 and :2382, and so on. $PARLEY
# names the parley binary (default: parley on $PATH). Extra etcd settings
# can be given as ETCD_* variables, which every member reads.
set -euo pipefail

n=${1:-}
dir=${2:-local-cluster}
base=${PARLEY_BASE_PORT:-2379}
parley=${PARLEY:-parley}

if ! [[ $n =~ ^[1-9]$ ]]; then
	echo "usage: $0 N [DIR]   (N from 1 to 9; 3 or 5 for a cluster that survives failures)" >&2
	exit 2
fi
if ! command -v "$parley" >/dev/null 2>&1; then
	echo "$0: $parley not found; build it (go build -o parley ./cmd/parley) and set PARLEY=./parley" >&2
	exit 1
fi
mkdir -p "$dir"

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

# Wait until every member answers.
status=""
for _ in $(seq 1 60); do
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
cat >&2 <<MSG

$status

The cluster of $n members runs; etcd's logs are in $dir/m*/etcd.log.
In another terminal:

  export PARLEY_ENDPOINTS=$endpoints
  parley cluster status
  parley --user alice create general

Add a member while it runs:

  parley node --name m$next --data-dir $dir/m$next \\
    --listen-client-urls $(client_url "$next") --listen-peer-urls $(peer_url "$next") \\
    --join $endpoints

Ctrl-C stops every member.
MSG
wait "${pids[@]}"
