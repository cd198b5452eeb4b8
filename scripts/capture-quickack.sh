#!/usr/bin/env bash
# Regenerates test/fixtures/linux-quickack/*.pcap: how a Linux receiver acknowledges the first data of a
# connection. A client in one namespace sends 20 segments of 100 bytes, 50 ms apart (TCP_NODELAY), to a
# server in another that sends nothing; tcpdump in the client's namespace records both
# directions; the server reads nothing until the client is done. Linux acknowledges the first segments at once (quick-ack mode, tcp_incr_quickack) and delays
# the later ones (40 ms, TCP_ATO_MIN). IPv4 with timestamps and SACK (the namespaces' defaults). Root only;
# the namespaces are removed on every exit path.
set -euo pipefail
OUT=${1:-test/fixtures/linux-quickack}
A="tcplab-qack-$$-a"
B="tcplab-qack-$$-b"
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
ip -n "$A" addr add 198.18.78.1/24 dev va
ip -n "$B" addr add 198.18.78.2/24 dev vb
ip -n "$A" link set va up
ip -n "$B" link set vb up
port=40100
name=small-writes-ipv4
ip netns exec "$A" tcpdump -i va -U -w "$OUT/$name.pcap" "tcp port $port" 2>"$OUT/.tcpdump.log" &
dump=$!
for _ in $(seq 50); do grep -qs "listening on" "$OUT/.tcpdump.log" && break; sleep 0.1; done
ip netns exec "$B" python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('198.18.78.2', $port)); s.listen(1)
c, _ = s.accept()
time.sleep(1.6)  # reads nothing while the client writes: a read that empties the buffer makes Linux ACK at once
while c.recv(65536): pass
c.close(); s.close()
" &
srvpid=$!
sleep 0.3
ip netns exec "$A" python3 -c "
import socket, time
c = socket.create_connection(('198.18.78.2', $port), timeout=5)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
time.sleep(0.05)
for i in range(20):
    c.send(bytes([65 + i]) * 100); time.sleep(0.05)
time.sleep(0.2); c.close()
"
wait "$srvpid"
sleep 0.3
kill "$dump"; wait "$dump" || true
rm -f "$OUT/.tcpdump.log"
echo "$name: $(stat -c %s "$OUT/$name.pcap") bytes"
