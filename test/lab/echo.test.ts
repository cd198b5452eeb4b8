import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { ECHO_DEFAULTS, runEchoClient, runEchoServer } from '../../src/lab/echo.js'
import { kernelNet, parseHostPort } from '../../src/lab/commands/echo.js'

const cli = new URL('../../dist/lab/cli.js', import.meta.url).pathname

describe('the seed echo pair on node:net', () => {
  it('answers each client with <message> 你好! and stops after count clients', async () => {
    const log: string[] = []
    let port = 0
    const listening = new Promise<void>((r) => {
      void runEchoServer(kernelNet, { port: 0, count: 2, log: (l) => log.push(l), onListening: (a) => { port = (a as { port: number }).port; r() } }).then((n) => log.push(`done ${n}`))
    })
    await listening
    const replies: string[] = []
    expect(await runEchoClient(kernelNet, { host: '127.0.0.1', port, onReply: (r) => replies.push(r) })).toBe('张三:  你好!')
    expect(await runEchoClient(kernelNet, { host: '127.0.0.1', port, message: 'ping' })).toBe('ping 你好!')
    await expect.poll(() => log.at(-1)).toBe('done 2')
    expect(replies).toEqual(['张三:  你好!'])
    expect(log.filter((l) => l.includes('sent'))).toEqual(['client 1 sent "张三: "', 'client 2 sent "ping"'])
    // the server has stopped: a third client is refused
    await expect(runEchoClient(kernelNet, { host: '127.0.0.1', port })).rejects.toMatchObject({ code: 'ECONNREFUSED' })
  })

  it('keeps the classic defaults', () => {
    expect(ECHO_DEFAULTS).toEqual({ host: '127.0.0.1', port: 1935, backlog: 4, count: 5, suffix: ' 你好!', message: '张三: ' })
    expect(parseHostPort('[::1]:1935')).toEqual({ host: '::1', port: 1935 })
    expect(() => parseHostPort('1935')).toThrow(/HOST:PORT/)
  })

  it('runs as the tcplab binary: echo-server serves echo-client, then exits 0', async () => {
    const server = spawn('node', [cli, 'echo-server', '--port', '0', '--count', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const [first] = (await once(server.stdout, 'data')) as [Buffer]
    const m = /listening on 127\.0\.0\.1:(\d+), serving 1 client/.exec(first.toString())
    expect(m).not.toBeNull()
    const client = spawnSync('node', [cli, 'echo-client', `127.0.0.1:${m![1]}`], { encoding: 'utf8' })
    expect(client.stdout).toBe('张三:  你好!\n')
    expect(client.status).toBe(0)
    const [code] = await once(server, 'exit')
    expect(code).toBe(0)
    const refused = spawnSync('node', [cli, 'echo-client', `127.0.0.1:${m![1]}`], { encoding: 'utf8' })
    expect(refused.status).toBe(1)
    expect(refused.stderr).toBe(`tcplab echo-client: connect ECONNREFUSED 127.0.0.1:${m![1]}\n`)
  })
})
