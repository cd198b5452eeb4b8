import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { expect } from 'vitest'
import { describeRoot, itRoot } from '../helpers/root.js'
import { labLeftovers } from '../../src/net/netns.js'

const cli = new URL('../../dist/lab/cli.js', import.meta.url).pathname
const tcplab = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8' })

describeRoot('tcplab netns up/down', () => {
  itRoot('brings a lab up that outlives the command, and removes it again', async () => {
    const name = 'c' + randomBytes(3).toString('hex')
    try {
      const up = tcplab('netns', 'up', '--name', name, '--json')
      expect(up.status).toBe(0)
      const lab = JSON.parse(up.stdout)
      expect(lab.id).toBe(name)
      expect(lab.a).toMatchObject({ ns: `tcplab-${name}-a`, ipv4: '198.18.0.1', ipv6: '2001:2::1' })
      expect(lab.b).toMatchObject({ ns: `tcplab-${name}-b`, ipv4: '198.18.0.2', ipv6: '2001:2::2' })
      // the lab is still there after the command exited, and its sides reach each other
      const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      expect(ns).toContain(`tcplab-${name}-a`)
      expect(tcplab('netns', 'list').stdout.split('\n')).toContain(name)
      const again = tcplab('netns', 'up', '--name', name)
      expect(again.status).toBe(1)
      expect(again.stderr).toMatch(new RegExp(`^tcplab netns: lab '${name}' already exists`))
      const down = tcplab('netns', 'down', '--name', name)
      expect(down.status).toBe(0)
      expect(down.stdout.trim()).toBe(`removed tcplab-${name}-a tcplab-${name}-b`)
      expect(labLeftovers(name)).toEqual([])
      expect(tcplab('netns', 'down', '--name', name).status).toBe(1)
    } finally {
      spawnSync('node', [cli, 'netns', 'down', '--name', name])
    }
  })

  itRoot('rejects a bad name with one line and exit 2', () => {
    const r = tcplab('netns', 'up', '--name', 'Bad_Name!')
    expect(r.status).not.toBe(0)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(tcplab('netns', 'sideways').status).toBe(2)
  })
})
