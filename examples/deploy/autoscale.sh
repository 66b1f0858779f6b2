#!/bin/sh
# A plain-process autoscaler for meshkv@.service instances: every minute, read each running node's request
# rate from /metrics, start one more instance when the average is above HIGH requests/s, stop the newest
# one (it leaves first: --leave-on-shutdown) when it is below LOW, never below MIN nodes nor during moves
# (meshkv_partitions_acquiring or meshkv_partitions_handing_off above 0 anywhere).
# Usage: MIN=3 MAX=9 HIGH=2000 LOW=300 sh examples/deploy/autoscale.sh   (needs curl and systemctl)
MIN=${MIN:-3}; MAX=${MAX:-9}; HIGH=${HIGH:-2000}; LOW=${LOW:-300}; EVERY=${EVERY:-60}
total() { curl -fsS "http://127.0.0.1:74$1/metrics" | awk -v m="$2" '$1 ~ "^"m"([{]|$)" { s += $2 } END { print s + 0 }'; }
before=""
while :; do
  nodes=$(systemctl list-units --state=active --plain --no-legend 'meshkv@*.service' | sed -n 's/^meshkv@\([0-9]*\)\.service.*/\1/p' | sort -n)
  count=$(echo "$nodes" | grep -c .)
  requests=0; moving=0
  for n in $nodes; do
    requests=$((requests + $(total "$n" meshkv_http_requests_total | cut -d. -f1)))
    moving=$((moving + $(total "$n" meshkv_partitions_acquiring) + $(total "$n" meshkv_partitions_handing_off)))
  done
  if [ -n "$before" ] && [ "$moving" -eq 0 ] && [ "$count" -gt 0 ]; then
    rate=$(( (requests - before) / EVERY / count ))
    newest=$(echo "$nodes" | tail -n 1)
    if [ "$rate" -gt "$HIGH" ] && [ "$count" -lt "$MAX" ]; then
      next=$(printf '%02d' "$(expr "$newest" + 1)")
      echo "rate $rate/s per node > $HIGH: starting meshkv@$next"; systemctl start "meshkv@$next"
    elif [ "$rate" -lt "$LOW" ] && [ "$count" -gt "$MIN" ]; then
      echo "rate $rate/s per node < $LOW: stopping meshkv@$newest (it leaves first)"; systemctl stop "meshkv@$newest"
    fi
  fi
  before=$requests
  sleep "$EVERY"
done
