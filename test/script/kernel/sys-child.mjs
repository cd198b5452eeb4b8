// Runs inside a throwaway network namespace (ip netns exec NS node sys-child.mjs '{"family":4}'): a TUN
// device with the script addresses, a real listener and a real client made with the addon's syscalls, and
// hand-built packets from the remote side written to the TUN. Prints one JSON line of what it saw
// ({type:'result', ...}) for the parent test to check, or {type:'error'} and exits 1.
import { execFileSync } from 'node:child_process'
import { createKernelSys, LINUX as L, readTcpInfo, sockAddr } from '../../../dist/script/kernel/sys.js'
import { buildTcpPacket, decodeIp } from '../../../dist/net/packet.js'
import { parseIp } from '../../../dist/net/addr.js'

const opts = JSON.parse(process.argv[2] ?? '{}')
const v6 = opts.family === 6
const LOCAL = v6 ? '2001:2::1' : '198.18.0.1'
const REMOTE = v6 ? '2001:2:0:2::1' : '198.19.2.1'
const AF = v6 ? L.AF_INET6 : L.AF_INET
const S = 0x02, F = 0x01, R = 0x04, P = 0x08, A = 0x10

const sys = createKernelSys()
const nat = sys.native
const out = { type: 'result' }
const opened = []

// Every syscall result must be what the test says, or the child stops with the call and its errno.
function must(what, r, ok = (x) => x.ret >= 0) {
  if (!ok(r)) throw new Error(`${what}: ret ${r.ret} ${r.errnoName ?? ''}`)
  return r
}

// ---- the TUN and its packets ----
const tun = nat.tunOpen('tun0', 1500)
const ip = (...a) => execFileSync('ip', a, { stdio: ['ignore', 'ignore', 'pipe'] })
if (v6) {
  // nodad: a tentative address cannot be bound, and DAD would take a second
  ip('-6', 'addr', 'add', `${LOCAL}/64`, 'dev', 'tun0', 'nodad')
  ip('-6', 'route', 'add', '2001:2:0:2::/64', 'dev', 'tun0')
} else {
  ip('addr', 'add', `${LOCAL}/24`, 'dev', 'tun0')
  ip('route', 'add', '198.19.2.0/24', 'dev', 'tun0')
}

const queue = []
let waiter
const buf = new Uint8Array(65536)
const stamp = new BigUint64Array(1)
const watch = nat.tunWatch(tun, () => {
  for (;;) {
    const n = nat.tunRead(tun, buf, stamp)
    if (n < 0) break
    const bytes = buf.slice(0, n)
    const d = decodeIp(bytes)
    // Router solicitations and MLD reports share the TUN; only TCP is ours.
    if (d.tcp !== undefined) queue.push({ tcp: d.tcp, atNs: stamp[0] })
  }
  waiter?.()
})

async function nextTcp(what, match = () => true) {
  const deadline = Date.now() + 5000 // a bound on a hang, not a timing assertion
  for (;;) {
    const i = queue.findIndex((p) => match(p.tcp))
    if (i >= 0) return queue.splice(i, 1)[0]
    if (Date.now() > deadline) throw new Error(`no ${what} on the TUN`)
    await new Promise((r) => {
      waiter = r
      setTimeout(r, 100)
    })
    waiter = undefined
  }
}

function inject(tcp) {
  const pkt = buildTcpPacket({ src: parseIp(REMOTE), dst: parseIp(LOCAL) }, {
    srcPort: 40000, dstPort: 8080, seq: 0, ack: 0, flags: 0, window: 65535, urgent: 0, options: [],
    payload: new Uint8Array(0), ...tcp,
  })
  const atNs = nat.monotonicNs() // before the write: the kernel may act on it before write() returns
  must('tunWrite', { ret: nat.tunWrite(tun, pkt, pkt.length) }, (r) => r.ret === pkt.length)
  return atNs
}

const kinds = (options) => options.map((o) => o.kind)

try {
  // ---- a listener, and a handshake from the remote side ----
  const ls = must('socket', sys.socket(AF, L.SOCK_STREAM, L.IPPROTO_TCP)).ret
  opened.push(ls)
  must('setsockopt SO_REUSEADDR', sys.setsockopt(ls, L.SOL_SOCKET, L.SO_REUSEADDR, 1))
  must('bind', sys.bind(ls, sockAddr(LOCAL, 8080)))
  must('listen', sys.listen(ls, 16))
  out.listenState = readTcpInfo(must('TCP_INFO', sys.getsockopt(ls, L.IPPROTO_TCP, L.TCP_INFO)).bytes).tcpi_state

  // accept blocks (the listener is blocking): on the threadpool, so the event loop keeps reading the TUN
  const accepted = sys.async.accept(ls)
  const ISN = 1000
  inject({ seq: ISN, flags: S, options: [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'timestamp', value: 100, echo: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }] })
  const synack = (await nextTcp('SYN+ACK', (t) => (t.flags & (S | A)) === (S | A))).tcp
  out.synack = { flags: synack.flags & 0xff, ack: synack.ack, srcPort: synack.srcPort, dstPort: synack.dstPort, kinds: kinds(synack.options) }
  const tsv = synack.options.find((o) => o.kind === 'timestamp')?.value ?? 0
  let rcvNxt = (synack.seq + 1) >>> 0
  let sndNxt = ISN + 1
  const ackAtNs = inject({ seq: sndNxt, ack: rcvNxt, flags: A, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 101, echo: tsv }] })
  const acc = await accepted
  must('accept', acc)
  const c = acc.ret
  opened.push(c)
  out.accept = { ret: acc.ret, errno: acc.errno, addr: acc.addr, endAfterAck: acc.endNs > ackAtNs }
  out.connState = readTcpInfo(must('TCP_INFO', sys.getsockopt(c, L.IPPROTO_TCP, L.TCP_INFO)).bytes).tcpi_state

  // ---- non-blocking and empty: EAGAIN ----
  const fl = must('F_GETFL', sys.fcntl(c, L.F_GETFL)).ret
  must('F_SETFL', sys.fcntl(c, L.F_SETFL, fl | L.O_NONBLOCK))
  out.nonblockSet = (must('F_GETFL', sys.fcntl(c, L.F_GETFL)).ret & L.O_NONBLOCK) !== 0
  const rd = sys.read(c, 100)
  const rv = sys.recv(c, 100, 0)
  out.emptyRead = { ret: rd.ret, errnoName: rd.errnoName }
  out.emptyRecv = { ret: rv.ret, errnoName: rv.errnoName }
  out.emptyInq = must('SIOCINQ', sys.ioctl(c, L.SIOCINQ)).value

  // ---- data in: poll, epoll, SIOCINQ, recv ----
  const ep = must('epoll_create', sys.epollCreate(1)).ret
  opened.push(ep)
  must('epoll_ctl', sys.epollCtl(ep, L.EPOLL_CTL_ADD, c, { events: L.EPOLLIN }))
  const hello = new TextEncoder().encode('hello')
  inject({ seq: sndNxt, ack: rcvNxt, flags: P | A, payload: hello, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 102, echo: tsv }] })
  sndNxt += hello.length
  const pl = await sys.async.poll([{ fd: c, events: L.POLLIN }], 5000)
  out.poll = { ret: pl.ret, revents: pl.revents }
  const ew = sys.epollWait(ep, 8, 0)
  out.epoll = { ret: ew.ret, events: ew.events.map((e) => ({ events: e.events, data: Number(e.data) })), fd: c }
  out.inq = must('SIOCINQ', sys.ioctl(c, L.SIOCINQ)).value
  const got = must('recv', sys.recv(c, 100, 0))
  out.recv = { ret: got.ret, text: new TextDecoder().decode(got.data) }

  // ---- data out: write, SIOCOUTQ before the ACK, the segment on the TUN ----
  const world = new TextEncoder().encode('world!')
  const wr = must('write', sys.write(c, world))
  out.write = wr.ret
  out.outq = must('SIOCOUTQ', sys.ioctl(c, L.SIOCOUTQ)).value
  const seg = (await nextTcp('data segment', (t) => t.payload.length > 0)).tcp
  out.dataSeg = { text: new TextDecoder().decode(seg.payload), seq: seg.seq, expectedSeq: rcvNxt, psh: (seg.flags & P) !== 0 }
  rcvNxt = (rcvNxt + seg.payload.length) >>> 0
  inject({ seq: sndNxt, ack: rcvNxt, flags: A, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 103, echo: tsv }] })

  // ---- options through getsockopt/setsockopt ----
  must('TCP_NODELAY', sys.setsockopt(c, L.IPPROTO_TCP, L.TCP_NODELAY, 1))
  out.nodelay = must('TCP_NODELAY', sys.getsockopt(c, L.IPPROTO_TCP, L.TCP_NODELAY)).value
  must('SO_LINGER', sys.setsockopt(c, L.SOL_SOCKET, L.SO_LINGER, { onoff: 1, linger: 7 }))
  out.linger = must('SO_LINGER', sys.getsockopt(c, L.SOL_SOCKET, L.SO_LINGER)).linger
  must('SO_LINGER off', sys.setsockopt(c, L.SOL_SOCKET, L.SO_LINGER, { onoff: 0, linger: 0 }))
  const bad = sys.setsockopt(c, L.SOL_SOCKET, L.SO_LINGER, 1)
  out.lingerShort = { ret: bad.ret, errnoName: bad.errnoName }

  // ---- vectors and messages: writev, sendmsg with a cmsg, recvmsg with TCP_CM_INQ's cmsg, readv ----
  const enc = (s) => new TextEncoder().encode(s)
  const dec = (b) => new TextDecoder().decode(b)
  const ackOurs = async (what) => {
    const s = (await nextTcp(what, (t) => t.payload.length > 0)).tcp
    rcvNxt = (rcvNxt + s.payload.length) >>> 0
    inject({ seq: sndNxt, ack: rcvNxt, flags: A, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 104, echo: tsv }] })
    return dec(s.payload)
  }
  out.writev = must('writev', sys.writev(c, [enc('ab'), enc('cd')])).ret
  out.writevSeg = await ackOurs('writev segment')
  out.sendmsg = must('sendmsg', sys.sendmsg(c, { iov: [enc('e'), enc('f')], cmsgs: [{ level: L.SOL_SOCKET, type: L.SO_TIMESTAMPING, data: 0 }] })).ret
  out.sendmsgSeg = await ackOurs('sendmsg segment')
  const badCmsg = sys.sendmsg(c, { iov: [enc('g')], cmsgs: [{ level: L.SOL_SOCKET, type: 999, data: 0 }] })
  out.sendmsgBadCmsg = { ret: badCmsg.ret, errnoName: badCmsg.errnoName }
  must('TCP_INQ', sys.setsockopt(c, L.IPPROTO_TCP, L.TCP_INQ, 1))
  // epoll_wait blocks on the threadpool until the segment below arrives
  const waiting = sys.async.epollWait(ep, 8, 5000)
  const dataAtNs = inject({ seq: sndNxt, ack: rcvNxt, flags: P | A, payload: enc('xyz12'), options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 105, echo: tsv }] })
  sndNxt += 5
  const woke = await waiting
  out.epollBlocking = { ret: woke.ret, events: woke.events.map((e) => e.events), endAfterData: woke.endNs > dataAtNs }
  const rm = must('recvmsg', sys.recvmsg(c, { iov: [2, 2], control: 64 }))
  out.recvmsg = {
    ret: rm.ret,
    text: dec(rm.data),
    msgFlags: rm.msgFlags,
    cmsgs: rm.cmsgs.map((m) => ({ level: m.level, type: m.type, value: m.data.length >= 4 ? m.data.readInt32LE(0) : -1 })),
  }
  const rvv = must('readv', sys.readv(c, [1, 8]))
  out.readv = { ret: rvv.ret, text: dec(rvv.data) }
  must('epoll_ctl DEL', sys.epollCtl(ep, L.EPOLL_CTL_DEL, c))
  const gone = sys.epollCtl(ep, L.EPOLL_CTL_DEL, c)
  out.epollDelAgain = { ret: gone.ret, errnoName: gone.errnoName }

  // ---- a non-blocking connect to a port nobody listens on ----
  const cs = must('socket', sys.socket(AF, L.SOCK_STREAM | L.SOCK_NONBLOCK)).ret
  opened.push(cs)
  const cn = sys.connect(cs, sockAddr(REMOTE, 9))
  out.connect = { ret: cn.ret, errnoName: cn.errnoName }
  const syn = (await nextTcp('SYN to port 9', (t) => t.dstPort === 9 && (t.flags & S) !== 0)).tcp
  out.connectSyn = { flags: syn.flags & 0xff, kinds: kinds(syn.options) }
  out.synSentState = readTcpInfo(must('TCP_INFO', sys.getsockopt(cs, L.IPPROTO_TCP, L.TCP_INFO)).bytes).tcpi_state
  // The remote refuses: RST+ACK, then SO_ERROR carries the real ECONNREFUSED
  const rst = buildTcpPacket({ src: parseIp(REMOTE), dst: parseIp(LOCAL) }, {
    srcPort: 9, dstPort: syn.srcPort, seq: 0, ack: (syn.seq + 1) >>> 0, flags: R | A, window: 0, urgent: 0, options: [], payload: new Uint8Array(0),
  })
  nat.tunWrite(tun, rst, rst.length)
  const cpl = await sys.async.poll([{ fd: cs, events: L.POLLOUT }], 5000)
  out.refusedPoll = cpl.revents
  out.soError = must('SO_ERROR', sys.getsockopt(cs, L.SOL_SOCKET, L.SO_ERROR)).value
  const again = sys.connect(cs, sockAddr(REMOTE, 9))
  out.connectAgain = { ret: again.ret, errnoName: again.errnoName }

  // ---- close: a FIN on the TUN ----
  must('close', sys.close(c))
  opened.splice(opened.indexOf(c), 1)
  const fin = (await nextTcp('FIN', (t) => (t.flags & F) !== 0 && t.dstPort === 40000)).tcp
  out.fin = { flags: fin.flags & 0xff, seq: fin.seq, expectedSeq: rcvNxt }
  const closedAgain = sys.close(c)
  out.closeAgain = { ret: closedAgain.ret, errnoName: closedAgain.errnoName }
} catch (e) {
  out.type = 'error'
  out.message = e instanceof Error ? e.stack : String(e)
} finally {
  for (const fd of opened) sys.close(fd)
  nat.tunUnwatch(watch)
  sys.close(tun)
}
// _exit once the line is out: a call that failed the run may still block a threadpool thread (an accept whose
// peer never came), and a normal exit would wait for it forever.
process.stdout.write(`${JSON.stringify(out)}\n`, () => nat.exitNow(out.type === 'result' ? 0 : 1))
