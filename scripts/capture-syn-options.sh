#!/usr/bin/env bash
# Regenerates test/fixtures/linux-syn/*.pcap: the SYN, SYN+ACK and first ACK of one connection between two
# Linux network namespaces, for every on/off combination of timestamps, SACK and window scaling (set with
# sysctl INSIDE the two namespaces only), over IPv4 and IPv6. test/tcp/optlayout.test.ts pins the 'linux'
# option layout against these bytes. Root only; the namespaces are removed on every exit path.
set -euo pipefail
OUT=${1:-test/fixtures/linux-syn}
A="tcplab-optl-$$-a"
B="tcplab-optl-$$-b"
cleanup() {
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
mkdir -p "$OUT"
ip netns add "$A"
ip netns add "$B"
ip link add va netns "$A" type veth peer name vb netns "$B"
ip -n "$A" link set lo up
ip -n "$B" link set lo up
ip -n "$A" addr add 198.18.77.1/24 dev va
ip -n "$B" addr add 198.18.77.2/24 dev vb
ip -n "$A" addr add 2001:2:0:77::1/64 dev va nodad
ip -n "$B" addr add 2001:2:0:77::2/64 dev vb nodad
ip -n "$A" link set va up
ip -n "$B" link set vb up

port=40000
for ts in 1 0; do
  for sack in 1 0; do
    for ws in 1 0; do
      for ns in "$A" "$B"; do
        ip netns exec "$ns" sysctl -q -w net.ipv4.tcp_timestamps=$ts net.ipv4.tcp_sack=$sack net.ipv4.tcp_window_scaling=$ws
      done
      for fam in 4 6; do
        port=$((port + 1))
        if [ $fam = 4 ]; then srv=198.18.77.2; af=AF_INET; else srv=2001:2:0:77::2; af=AF_INET6; fi
        name="ts$ts-sack$sack-ws$ws-ipv$fam"
        ip netns exec "$A" tcpdump -i va -U -c 3 -w "$OUT/$name.pcap" "tcp port $port" 2>"$OUT/.tcpdump.log" &
        dump=$!
        # tcpdump prints "listening on" once its filter is attached.
        for _ in $(seq 50); do grep -qs "listening on" "$OUT/.tcpdump.log" && break; sleep 0.1; done
        ip netns exec "$B" python3 -c "
import socket
s = socket.socket(socket.$af, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('$srv', $port)); s.listen(1)
c, _ = s.accept(); c.recv(1); c.close(); s.close()
" &
        srvpid=$!
        sleep 0.3
        ip netns exec "$A" python3 -c "
import socket, time
c = socket.create_connection(('$srv', $port), timeout=5)
time.sleep(0.2); c.close()
"
        wait "$srvpid"
        wait "$dump"
        echo "$name: $(stat -c %s "$OUT/$name.pcap") bytes"
      done
    done
  done
done
rm -f "$OUT/.tcpdump.log"
