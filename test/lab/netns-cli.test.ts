import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { expect } from 'vitest'
import { describeRoot, itRoot } from '../helpers/root.js'
import { labLeftovers } from '../../src/net/netns.js'

const cli = new URL('../../dist/lab/cli.js', import.meta.url).pathname
const tcplab = (...args: string[]) => spawnSync('node', [cli, ...args], { encoding: 'utf8' })
/** ETHTOOL_GTXCSUM of the interface named in argv[1]: 1 when transmit checksum offload is on. */
const TX_CSUM_PY = `
import array, fcntl, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
buf = array.array('B', struct.pack('II', 0x16, 0))
fcntl.ioctl(s.fileno(), 0x8946, struct.pack('16sP', sys.argv[1].encode(), buf.buffer_info()[0]))
print(struct.unpack('II', buf.tobytes())[1])
`

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
      expect(lab.offloads).toBe('off')
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
    const off = tcplab('netns', 'up', '--offloads', 'maybe')
    expect({ status: off.status, stderr: off.stderr }).toEqual({ status: 2, stderr: "tcplab netns: --offloads must be on or off, got 'maybe'\n" })
  })

  itRoot('--offloads on: a lab whose veth keeps the kernel\'s defaults, said in its description and JSON', () => {
    const name = 'o' + randomBytes(3).toString('hex')
    try {
      const up = tcplab('netns', 'up', '--name', name, '--offloads', 'on')
      expect(up.status).toBe(0)
      expect(up.stdout).toContain("offloads: veth offloads at the kernel's defaults (checksum offload, TSO/GSO/GRO on)")
      const tx = execFileSync('ip', ['netns', 'exec', `tcplab-${name}-a`, 'python3', '-c', TX_CSUM_PY, `tl${name}a`], { encoding: 'utf8' })
      expect(tx.trim()).toBe('1')
      expect(tcplab('netns', 'down', '--name', name).status).toBe(0)
      const j = tcplab('netns', 'up', '--name', name, '--offloads', 'off', '--json')
      expect(JSON.parse(j.stdout).offloads).toBe('off')
      expect(execFileSync('ip', ['netns', 'exec', `tcplab-${name}-a`, 'python3', '-c', TX_CSUM_PY, `tl${name}a`], { encoding: 'utf8' }).trim()).toBe('0')
    } finally {
      spawnSync('node', [cli, 'netns', 'down', '--name', name])
    }
    expect(labLeftovers(name)).toEqual([])
  })
})

describeRoot('tcplab netns up --topology bridge', () => {
  itRoot('a bridge lab from the CLI: side c and the bridge in the JSON and the description, removed by netns down and by cleanup', () => {
    const name = 'b' + randomBytes(3).toString('hex')
    try {
      const up = tcplab('netns', 'up', '--name', name, '--topology', 'bridge', '--json')
      expect(up.stderr).toBe('')
      expect(up.status).toBe(0)
      const lab = JSON.parse(up.stdout)
      // The pair lab's fields, unchanged in name and meaning; then what is new.
      expect(Object.keys(lab)).toEqual(['id', 'a', 'b', 'prefix4', 'prefix6', 'offloads', 'topology', 'c', 'bridge'])
      expect(lab).toMatchObject({ id: name, topology: 'bridge', offloads: 'off', prefix4: 24, prefix6: 64 })
      expect(lab.a).toMatchObject({ ns: `tcplab-${name}-a`, iface: `tl${name}a`, ipv4: '198.18.0.1', ipv6: '2001:2::1' })
      expect(lab.b).toMatchObject({ ns: `tcplab-${name}-b`, iface: `tl${name}br`, ipv4: '198.18.0.2', ipv6: '2001:2::2' })
      expect(lab.c).toEqual({
        name: 'c', ns: `tcplab-${name}-c`, iface: `tl${name}c`, ipv4: '198.18.0.3', ipv6: '2001:2::3', mac: '02:74:6c:00:00:03',
        owned: { ipv4: '198.18.0.30', ipv6: '2001:2::30', mac: '02:74:6c:00:00:1e' },
      })
      expect(lab.bridge).toEqual({ ns: `tcplab-${name}-b`, name: `tl${name}br`, mac: '02:74:6c:00:00:02', ports: { a: `tl${name}pa`, c: `tl${name}pc` } })
      // Side c answers side a across the bridge.
      const ping = spawnSync('ip', ['netns', 'exec', `tcplab-${name}-a`, 'python3', new URL('../interop/ping.py', import.meta.url).pathname, '198.18.0.3'])
      expect(ping.status).toBe(0)
      const down = tcplab('netns', 'down', '--name', name)
      expect(down.stdout.trim()).toBe(`removed tcplab-${name}-a tcplab-${name}-b tcplab-${name}-c`)
      expect(labLeftovers(name)).toEqual([])

      const text = tcplab('netns', 'up', '--name', name, '--topology', 'bridge', '--offloads', 'on')
      expect(text.status).toBe(0)
      const lines = text.stdout.trim().split('\n')
      expect(lines[0]).toBe(
        `lab ${name} (bridge): tcplab-${name}-a (tl${name}a 198.18.0.1/24 2001:2::1/64) <-veth-> tl${name}pa [bridge tl${name}br in tcplab-${name}-b: 198.18.0.2/24 2001:2::2/64] tl${name}pc <-veth-> tcplab-${name}-c (tl${name}c 198.18.0.3/24 2001:2::3/64)`,
      )
      expect(lines).toContain("offloads: veth and bridge offloads at the kernel's defaults (checksum offload, TSO/GSO/GRO on)")
      expect(lines).toContain(`run a command on side c: ip netns exec tcplab-${name}-c <command>`)
      const clean = tcplab('cleanup', '--name', name)
      expect(clean.stdout).toBe(`removed: tcplab-${name}-a, tcplab-${name}-b, tcplab-${name}-c\n`)
      expect(labLeftovers(name)).toEqual([])
    } finally {
      spawnSync('node', [cli, 'netns', 'down', '--name', name])
    }
  })

  itRoot('a pair lab says its topology in JSON and has no c or bridge; a bad --topology is a usage error', () => {
    const name = 'p' + randomBytes(3).toString('hex')
    try {
      const up = tcplab('netns', 'up', '--name', name, '--json')
      const lab = JSON.parse(up.stdout)
      expect(Object.keys(lab)).toEqual(['id', 'a', 'b', 'prefix4', 'prefix6', 'offloads', 'topology'])
      expect(lab.topology).toBe('pair')
    } finally {
      spawnSync('node', [cli, 'netns', 'down', '--name', name])
    }
    expect(labLeftovers(name)).toEqual([])
    const bad = tcplab('netns', 'up', '--topology', 'star')
    expect({ status: bad.status, stderr: bad.stderr }).toEqual({ status: 2, stderr: "tcplab netns: --topology must be pair or bridge, got 'star'\n" })
  })
})

describeRoot('tcplab cleanup --name', () => {
  itRoot('removes only the labs named, leaves the others, and says which names it did not find', () => {
    const one = 'k' + randomBytes(3).toString('hex')
    const two = 'm' + randomBytes(3).toString('hex')
    const three = 'n' + randomBytes(3).toString('hex')
    try {
      for (const n of [one, two, three]) expect(tcplab('netns', 'up', '--name', n).status).toBe(0)
      const first = tcplab('cleanup', '--name', one)
      expect(first.stderr).toBe('')
      expect(first.status).toBe(0)
      expect(first.stdout).toBe(`removed: tcplab-${one}-a, tcplab-${one}-b\n`)
      expect(labLeftovers(one)).toEqual([])
      // the others are untouched
      const labs = tcplab('netns', 'list').stdout.split('\n')
      expect(labs).toContain(two)
      expect(labs).toContain(three)
      expect(labs).not.toContain(one)
      // gone now: one line, exit 1 (as `netns down --name` answers for a lab that is not there)
      const again = tcplab('cleanup', '--name', one)
      expect(again.status).toBe(1)
      expect(again.stdout).toBe(`no lab named ${one}\n`)
      expect(again.stderr).toBe('')
      // repeated --name: both go; one that is gone is reported in JSON, and the exit says so
      const both = tcplab('cleanup', '--name', two, '--name', one, '--name', three, '--json')
      expect(both.status).toBe(1)
      const report = JSON.parse(both.stdout)
      expect(report.namespaces.sort()).toEqual([`tcplab-${two}-a`, `tcplab-${two}-b`, `tcplab-${three}-a`, `tcplab-${three}-b`].sort())
      expect(report.tables).toEqual([])
      expect(report.iptablesRules).toEqual([])
      expect(report.unknown).toEqual([one])
      for (const n of [two, three]) expect(labLeftovers(n)).toEqual([])
    } finally {
      for (const n of [one, two, three]) spawnSync('node', [cli, 'netns', 'down', '--name', n])
    }
  })

  itRoot('a bad name is a usage error: one line, exit 2, nothing removed', () => {
    const r = tcplab('cleanup', '--name', 'Bad_Name!')
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe("tcplab cleanup: lab name 'Bad_Name!' must be 1..10 characters of a-z and 0-9\n")
  })
})
