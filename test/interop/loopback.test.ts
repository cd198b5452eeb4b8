/**
 * Loopback: the seed's pair on one host — a server on 127.0.0.1:1935 and a client on the same host — with
 * tcplab's userland TCP over a raw socket as either end and the kernel's TCP as the other, IPv4 and IPv6
 * (::1), in side A of a lab (its own loopback, so nothing of the machine's is touched). On lo a raw socket
 * hears its own sends and the kernel leaves every TCP checksum to offload (the field holds only the
 * pseudo-header sum): tcplab must ignore the first and accept the second, and its RST guard must cover the
 * kernel's RSTs there too.
 */
import { afterAll, expect, it } from 'vitest'
import { describeRoot } from '../helpers/root.js'
import { exitOf, labChild, repoPath, requireBuilt, withLab } from '../helpers/lab.js'
import { expectNothingLeft } from '../helpers/interop.js'
import { OFFLOAD_NOTICE } from '../../src/lab/stack/live.js'

const CLI = 'dist/lab/cli.js'
const PORT = 1935

interface Json {
  result?: string
  received: string
  via: string
  checksumOffloaded?: number
  states?: string[]
}

describeRoot('loopback: the seed pair with tcplab as either end (root, namespace lab)', () => {
  afterAll(() => expectNothingLeft())

  for (const host of ['127.0.0.1', '::1']) {
    const at = host.includes(':') ? `[${host}]:${PORT}` : `${host}:${PORT}`

    it(`${host}: tcplab handshake --via raw → the kernel's echo server, and the reply comes back`, async () => {
      requireBuilt(CLI)
      await withLab(async (lab) => {
        const server = labChild(lab, 'a', [process.execPath, repoPath(CLI), 'echo-server', '--host', host, '--port', String(PORT), '--count', '1'])
        await server.out.next(/listening/)
        const hs = labChild(lab, 'a', [process.execPath, repoPath(CLI), 'handshake', at, '--send', '张三: ', '--idle', '300', '--json'])
        let out = ''
        hs.child.stdout!.removeAllListeners('data')
        hs.child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
        expect(await exitOf(hs.child)).toEqual({ code: 0, signal: null })
        const j = JSON.parse(out) as Json
        expect(j).toMatchObject({ result: 'established', received: '张三:  你好!', via: 'raw' })
        expect(j.states).toEqual(['CLOSED', 'SYN-SENT', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2', 'TIME-WAIT', 'CLOSED'])
        // lo leaves every checksum to offload: the kernel's segments were taken as such, and counted.
        expect(j.checksumOffloaded).toBeGreaterThan(0)
        expect(await exitOf(server.child)).toEqual({ code: 0, signal: null })
        // In lines, the run says so once, on stderr, with the way to wire-exact checksums.
        const again = labChild(lab, 'a', [process.execPath, repoPath(CLI), 'echo-server', '--host', host, '--port', String(PORT), '--count', '1'])
        await again.out.next(/listening/)
        const text = labChild(lab, 'a', [process.execPath, repoPath(CLI), 'handshake', at, '--send', '张三: ', '--idle', '300'])
        await text.out.next(/^received: "张三:  你好!"$/)
        expect(await exitOf(text.child)).toEqual({ code: 0, signal: null })
        expect(text.out.errors).toBe(`${OFFLOAD_NOTICE}\n`)
        expect(await exitOf(again.child)).toEqual({ code: 0, signal: null })
      })
    }, 30_000)

    it(`${host}: tcplab listen --via raw --echo serves the kernel's echo client`, async () => {
      requireBuilt(CLI)
      await withLab(async (lab) => {
        const ln = labChild(lab, 'a', [process.execPath, repoPath(CLI), 'listen', String(PORT), '--via', 'raw', '--ip', host, '--echo', '--count', '1', '--json'])
        let out = ''
        ln.child.stdout!.removeAllListeners('data')
        ln.child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
        // The kernel client retries until the listener is up (connect is refused before that: the guard
        // is only installed once the raw socket is open).
        const client = await lab.exec('a', ['python3', '-c', `
import socket, time
for i in range(100):
    try:
        c = socket.create_connection(('${host}', ${PORT}), timeout=5)
        break
    except ConnectionRefusedError:
        time.sleep(0.05)
c.sendall('张三: '.encode())
print(c.recv(100).decode(), flush=True)
c.close()
`])
        expect(client.stdout.trim()).toBe('张三:  你好!')
        expect(await exitOf(ln.child)).toEqual({ code: 0, signal: null })
        const j = JSON.parse(out.trim().split('\n')[0]) as Json
        expect(j).toMatchObject({ received: '张三: ', via: 'raw' })
        expect(j.checksumOffloaded).toBeGreaterThan(0)
      })
    }, 30_000)
  }
})
