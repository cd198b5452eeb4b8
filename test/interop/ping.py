"""One ICMP echo (like `ping -c1 -W1 ADDR`) for hosts without ping: exit 0 on a reply, 1 on timeout.
Run inside a lab namespace as root. Prints 'reply from ADDR' on success."""
import os, select, socket, struct, sys, time

addr = sys.argv[1]
v6 = ':' in addr
if v6:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    req_type, rep_type = 128, 129  # RFC 4443 echo request/reply; the kernel fills the ICMPv6 checksum
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    req_type, rep_type = 8, 0  # RFC 792

ident = os.getpid() & 0xFFFF
payload = b'tcplab-ping'

def checksum(b):
    if len(b) % 2:
        b += b'\0'
    total = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF

msg = struct.pack('!BBHHH', req_type, 0, 0, ident, 1) + payload
if not v6:
    msg = msg[:2] + struct.pack('!H', checksum(msg)) + msg[4:]
s.sendto(msg, (addr, 0))
deadline = time.time() + 1.0
while True:
    left = deadline - time.time()
    if left <= 0 or not select.select([s], [], [], left)[0]:
        print('no reply from %s' % addr)
        sys.exit(1)
    data, src = s.recvfrom(2048)
    icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
    if len(icmp) >= 8 and icmp[0] == rep_type and struct.unpack('!H', icmp[4:6])[0] == ident:
        print('reply from %s' % src[0])
        sys.exit(0)
