/**
 * What the kernel's TCP holds, from /proc/net/tcp and tcp6: the parser against lines the kernel wrote
 * (captured from a lab namespace), and, as root, a real kernel listener and connection seen through it.
 */
import { expect, it, describe } from 'vitest'
import { formatIp } from '../../src/net/addr.js'
import { parseProcNetTcp } from '../../src/net/kernelports.js'
import { describeRoot } from '../helpers/root.js'
import { repoPath, requireBuilt, withLab } from '../helpers/lab.js'

// Real lines: a listener on 198.18.0.1:7000 (IPv4) and one on [2001:2::1]:1935 (IPv6), Linux 6.x.
const TCP4 = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 010012C6:1B58 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 90744 1 00000000f02a7a1c 100 0 0 10 0
   1: 010012C6:EE48 020012C6:078F 01 00000000:00000000 00:00000000 00000000     0        0 90745 1 00000000f02a7a1d 20 4 30 10 -1
`
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 02000120000000000000000001000000:078F 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 90746 1 0000000000000000 100 0 0 10 0
`

describe('parseProcNetTcp', () => {
  it('reads addresses in the kernel\'s word order, ports and RFC state names', () => {
    const v4 = parseProcNetTcp(TCP4, 4)
    expect(v4.map((s) => [formatIp(s.localAddr), s.localPort, formatIp(s.remoteAddr), s.remotePort, s.state])).toEqual([
      ['198.18.0.1', 7000, '0.0.0.0', 0, 'LISTEN'],
      ['198.18.0.1', 61000, '198.18.0.2', 1935, 'ESTABLISHED'],
    ])
    const v6 = parseProcNetTcp(TCP6, 6)
    expect(v6.map((s) => [formatIp(s.localAddr), s.localPort, s.state])).toEqual([['2001:2::1', 1935, 'LISTEN']])
  })

  it('skips lines that are not socket lines', () => {
    expect(parseProcNetTcp('header\n\n   0: garbage\n   1: 0100:1 0:0 0A\n', 4)).toEqual([])
  })
})

describeRoot('kernelPortUse against the real kernel (root, namespace lab)', () => {
  it('names a kernel listener (on the address, or on every address) and a kernel connection, and nothing else', async () => {
    requireBuilt('dist/net/kernelports.js')
    await withLab(async (lab) => {
      const script = `
import json, socket, sys
l4 = socket.socket(); l4.bind(('${lab.a.ipv4}', 7000)); l4.listen()
l6 = socket.socket(socket.AF_INET6); l6.bind(('::', 7001)); l6.listen()
c = socket.create_connection(('${lab.a.ipv4}', 7000)); port = c.getsockname()[1]
print(json.dumps({'port': port}), flush=True)
sys.stdin.read()
`
      const py = lab.spawn('a', ['python3', '-c', script], { stdio: ['pipe', 'pipe', 'inherit'] })
      const port = await new Promise<number>((resolve) => py.stdout!.once('data', (d: Buffer) => resolve((JSON.parse(d.toString()) as { port: number }).port)))
      // /proc/net is per namespace: ask from a process inside side A.
      const probe = `
import('${repoPath('dist/net/kernelports.js')}').then((m) => {
  const A = Uint8Array.from('${lab.a.ipv4}'.split('.').map(Number))
  console.log(JSON.stringify([7000, 7001, ${port}, 7002].map((p) => m.kernelPortUse(A, p) ?? null)))
})`
      const r = await lab.exec('a', [process.execPath, '-e', probe])
      const uses = JSON.parse(r.stdout) as Array<string | null>
      expect(uses[0]).toBe(`the kernel already listens on ${lab.a.ipv4}:7000 (a server on this address)`)
      expect(uses[1]).toBe(`the kernel already listens on ${lab.a.ipv4}:7001 (a server bound to every address)`)
      expect(uses[2]).toBe(`the kernel already uses ${lab.a.ipv4}:${port} (a connection to ${lab.a.ipv4}:7000 in ESTABLISHED)`)
      expect(uses[3]).toBeNull()
      py.stdin!.end()
    })
  })
})
