/**
 * The kernel target's native part against the real kernel (root): in a throwaway namespace, a child opens
 * a TUN with the script addresses, makes real syscalls through the addon, writes hand-built packets from
 * the remote side and reads the kernel's answers from the TUN (test/script/kernel/sys-child.mjs).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { expect, it } from 'vitest'
import { labNamespaces, newLabId, parseNetnsList } from '../../../src/net/netns.js'
import { LINUX as L } from '../../../src/script/kernel/sys.js'
import { describeRoot } from '../../helpers/root.js'
import { exitOf, repoPath, requireBuilt } from '../../helpers/lab.js'

/** Runs the child in a fresh namespace; the namespace is deleted and the child killed on every path. */
async function runChild(family: 4 | 6): Promise<Record<string, any>> {
  requireBuilt('dist/script/kernel/sys.js', 'dist/net/packet.js')
  // Named like a lab's side A so `tcplab cleanup` finds it should this process die before finally.
  const [ns] = labNamespaces(`k${newLabId()}`)
  const add = spawnSync('ip', ['netns', 'add', ns])
  if (add.status !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr.toString().trim()}`)
  let child: ChildProcess | undefined
  try {
    child = spawn('ip', ['netns', 'exec', ns, process.execPath, repoPath('test/script/kernel/sys-child.mjs'), JSON.stringify({ family })], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    // A child that hangs is killed well before the test's own timeout, so the namespace is still removed below.
    const killer = setTimeout(() => child?.kill('SIGKILL'), 40_000)
    const { code } = await exitOf(child).finally(() => clearTimeout(killer))
    const line = stdout.split('\n').find((l) => l.startsWith('{'))
    if (line === undefined) throw new Error(`child printed no result (exit ${code}): ${stderr.trim()}`)
    const out = JSON.parse(line) as Record<string, any>
    if (out.type !== 'result') throw new Error(`child failed: ${out.message}\n${stderr.trim()}`)
    expect(code).toBe(0)
    return out
  } finally {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exitOf(child)
    }
    // Retried: a namespace being added by a test running in parallel can make one delete fail (EBUSY).
    let why = ''
    for (let i = 0; i < 10; i++) {
      why = spawnSync('ip', ['netns', 'del', ns]).stderr.toString().trim()
      if (!parseNetnsList(spawnSync('ip', ['netns', 'list']).stdout.toString()).includes(ns)) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect([ns, parseNetnsList(spawnSync('ip', ['netns', 'list']).stdout.toString()).includes(ns), why]).toEqual([ns, false, why])
  }
}

const ISN = 1000
const SYN = 0x02
const ACK = 0x10
const FIN = 0x01

describeRoot('kernel target syscalls and TUN (real kernel, throwaway namespace)', () => {
  for (const family of [4, 6] as const) {
    it(`IPv${family}: handshake from the TUN, accept, EAGAIN, poll/epoll, SIOCINQ/OUTQ, TCP_INFO, vectors and cmsgs, EINPROGRESS, FIN`, async () => {
      const out = await runChild(family)
      // the listener and the kernel's SYN+ACK to our hand-built SYN
      expect(out.listenState).toBe(L.TCP_LISTEN)
      expect(out.synack.flags).toBe(SYN | ACK)
      expect(out.synack.ack).toBe(ISN + 1)
      expect([out.synack.srcPort, out.synack.dstPort]).toEqual([8080, 40000])
      expect(out.synack.kinds).toEqual(['mss', 'sackPermitted', 'timestamp', 'nop', 'wscale'])
      // accept ran on the threadpool and returned only after the ACK went in (when the worker started it
      // is the threadpool's business: it may pick the call up after the ACK, so no start-time check)
      expect(out.accept.ret).toBeGreaterThanOrEqual(0)
      expect(out.accept.errno).toBe(0)
      expect(out.accept.addr).toMatchObject({ family: family === 4 ? L.AF_INET : L.AF_INET6, addr: family === 4 ? '198.19.2.1' : '2001:2:0:2::1', port: 40000 })
      expect(out.accept.endAfterAck).toBe(true)
      expect(out.connState).toBe(L.TCP_ESTABLISHED)
      // non-blocking and empty
      expect(out.nonblockSet).toBe(true)
      expect(out.emptyRead).toEqual({ ret: -1, errnoName: 'EAGAIN' })
      expect(out.emptyRecv).toEqual({ ret: -1, errnoName: 'EAGAIN' })
      expect(out.emptyInq).toBe(0)
      // data in: readiness and counts
      expect(out.poll).toEqual({ ret: 1, revents: [L.POLLIN] })
      expect(out.epoll.ret).toBe(1)
      expect(out.epoll.events).toEqual([{ events: L.EPOLLIN, data: out.epoll.fd }])
      expect(out.inq).toBe(5)
      expect(out.recv).toEqual({ ret: 5, text: 'hello' })
      // data out
      expect(out.write).toBe(6)
      expect(out.outq).toBe(6)
      expect(out.dataSeg.text).toBe('world!')
      expect(out.dataSeg.seq).toBe(out.dataSeg.expectedSeq)
      // options
      expect(out.nodelay).toBe(1)
      expect(out.linger).toEqual({ onoff: 1, linger: 7 })
      expect(out.lingerShort).toEqual({ ret: -1, errnoName: 'EINVAL' })
      // vectors and messages: the bytes reach the wire in order, cmsgs reach the kernel both ways
      expect([out.writev, out.writevSeg]).toEqual([4, 'abcd'])
      expect([out.sendmsg, out.sendmsgSeg]).toEqual([2, 'ef'])
      expect(out.sendmsgBadCmsg).toEqual({ ret: -1, errnoName: 'EINVAL' })
      expect(out.epollBlocking).toEqual({ ret: 1, events: [L.EPOLLIN], endAfterData: true })
      expect(out.recvmsg).toEqual({ ret: 4, text: 'xyz1', msgFlags: 0, cmsgs: [{ level: L.SOL_TCP, type: L.TCP_CM_INQ, value: 1 }] })
      expect(out.readv).toEqual({ ret: 1, text: '2' })
      expect(out.epollDelAgain).toEqual({ ret: -1, errnoName: 'ENOENT' })
      // a non-blocking connect: EINPROGRESS, its SYN on the TUN, SYN-SENT, then refused by our RST
      expect(out.connect).toEqual({ ret: -1, errnoName: 'EINPROGRESS' })
      expect(out.connectSyn.flags).toBe(SYN)
      expect(out.connectSyn.kinds).toEqual(['mss', 'sackPermitted', 'timestamp', 'nop', 'wscale'])
      expect(out.synSentState).toBe(L.TCP_SYN_SENT)
      expect(out.refusedPoll[0] & L.POLLOUT).toBe(L.POLLOUT)
      expect(out.soError).toBe(111) // ECONNREFUSED
      // close sends a FIN where the data left off; a second close answers EBADF
      expect(out.fin.flags & (FIN | ACK)).toBe(FIN | ACK)
      expect(out.fin.seq).toBe(out.fin.expectedSeq)
      expect(out.closeAgain).toEqual({ ret: -1, errnoName: 'EBADF' })
    })
  }
})
