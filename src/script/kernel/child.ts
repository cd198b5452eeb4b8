/**
 * The kernel target's runner child: started by `tcplab script` as `ip netns exec NS node child.js JSON`
 * inside a throwaway namespace, it parses the script, sets up the TUN network, runs the engine against the
 * kernel and prints the verdict as one JSON line on stdout (then exits, leaving no call running).
 */
import { readFileSync } from 'node:fs'
import { setPriority } from 'node:os'
import { parseScript } from '../parser.js'
import { runScript, DEFAULT_TOLERANCE_USECS, type RunConfig, type ScriptVerdict } from '../engine.js'
import { createKernelSys, type ScriptSysModule } from './sys.js'
import { gatewayFor, KERNEL_DEFAULTS, openKernelTarget } from './target.js'
import type { Target } from '../target.js'
import { LINKTYPE_RAW, PcapWriter } from '../../net/pcap.js'

/** What the parent hands the child (JSON in argv[2]). */
export interface ChildRequest {
  file: string
  /** The name the verdict reports the script under. */
  name: string
  config: RunConfig & { gatewayIp?: string; netmaskIp?: string; mtu?: number }
  defines: Array<[string, string]>
  /** Write every packet injected and read on the TUN to this pcap file (raw IP, the script's clock). */
  pcap?: string
}

/**
 * Records what crosses the TUN into `path` (LINKTYPE_RAW): each packet the engine injects, stamped when it
 * goes in, and each the kernel sends, stamped when it was read. The file is written when the run ends.
 */
function recordTo(target: Target, path: string): { target: Target; close(): void } {
  const packets: Array<{ bytes: Uint8Array; us: number }> = []
  const wrapped: Target = {
    now: () => target.now(),
    waitUntil: (t) => target.waitUntil(t),
    inject: async (bytes) => {
      packets.push({ bytes: bytes.slice(), us: target.now() })
      return target.inject(bytes)
    },
    nextOutbound: async (deadline) => {
      const p = await target.nextOutbound(deadline)
      if (p !== null) packets.push({ bytes: p.bytes.slice(), us: p.time })
      return p
    },
    syscall: (call) => target.syscall(call),
    shell: (command) => target.shell(command),
    unsupported: (what) => target.unsupported(what),
    close: (connections) => target.close(connections),
  }
  return {
    target: wrapped,
    close() {
      const w = PcapWriter.toFile(path, { linkType: LINKTYPE_RAW })
      for (const p of packets) w.write(p.bytes, BigInt(Math.round(p.us)) * 1000n)
      w.close()
    },
  }
}

function verdictOf(req: ChildRequest, result: ScriptVerdict['result'], message: string): ScriptVerdict {
  return { script: req.name, stack: 'kernel', result, line: null, col: null, message, events: [], text: [`${req.name}: ${message}`], warnings: [] }
}

/** The addon, once loaded: its exitNow ends the process without waiting for blocked threadpool calls. */
let native: ScriptSysModule | undefined

function exitNow(status: number): void {
  if (typeof native?.exitNow === 'function') native.exitNow(status)
  process.exit(status)
}

async function main(): Promise<ScriptVerdict> {
  const req = JSON.parse(process.argv[2] ?? '{}') as ChildRequest
  try {
    const script = parseScript(readFileSync(req.file, 'utf8'), { file: req.name, defines: new Map(req.defines) })
    const opt = new Map(script.options.map((o) => [o.name, o.value]))
    const c = req.config
    const ipVersion = c.ipVersion ?? (opt.get('ip_version') === 'ipv6' ? 'ipv6' : 'ipv4')
    const d = KERNEL_DEFAULTS[ipVersion]
    const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v))
    const sys = createKernelSys()
    native = sys.native
    const localIp = c.localIp ?? opt.get('local_ip') ?? d.localIp
    const netmaskIp = ipVersion === 'ipv6' ? d.netmaskIp : (c.netmaskIp ?? opt.get('netmask_ip') ?? d.netmaskIp)
    const kernel = openKernelTarget(sys, {
      ipVersion,
      localIp,
      remoteIp: c.remoteIp ?? opt.get('remote_ip') ?? d.remoteIp,
      // A script that moves the local address elsewhere (--local_ip=192.168.0.2) and names no gateway gets one
      // on its subnet: the default gateway would not be reachable from there.
      gatewayIp: c.gatewayIp ?? opt.get('gateway_ip') ?? gatewayFor(localIp, netmaskIp, d.gatewayIp),
      netmaskIp,
      mtu: c.mtu ?? num(opt.get('mtu')) ?? d.mtu,
      bindPort: c.bindPort ?? num(opt.get('bind_port')) ?? 8080,
      connectPort: c.connectPort ?? num(opt.get('connect_port')) ?? 8080,
      toleranceUsecs: c.toleranceUsecs ?? num(opt.get('tolerance_usecs')) ?? DEFAULT_TOLERANCE_USECS,
    })
    // The script runs in real time with packetdrill's 4 ms tolerance: once set up, this thread (the engine's)
    // goes ahead of ordinary work on the machine, such as other scripts' children still starting.
    try {
      setPriority(-10)
    } catch {
      // Without CAP_SYS_NICE the run keeps the default priority.
    }
    const rec = req.pcap !== undefined ? recordTo(kernel, req.pcap) : undefined
    try {
      return await runScript(script, rec?.target ?? kernel, { ...c, ipVersion, stack: 'kernel' })
    } finally {
      rec?.close()
    }
  } catch (e) {
    return verdictOf(req, 'error', e instanceof Error ? e.message.split('\n')[0]! : String(e))
  }
}

main().then(
  (v) => {
    // A blocking call the script left waiting (an accept() whose handshake never came, after a failure) holds a
    // threadpool thread in the kernel, and process.exit() would wait for it forever: end with _exit instead.
    process.stdout.write(`${JSON.stringify(v)}\n`, () => exitNow(0))
  },
  (e) => {
    process.stderr.write(`${String(e)}\n`)
    process.exit(3)
  },
)
