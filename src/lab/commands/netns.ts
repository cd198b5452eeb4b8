/** `tcplab netns up|down|list` and `tcplab cleanup`: the throwaway namespace lab by hand. */
import { cleanupAll, labIdOf, labNameMatcher, listLabs, netnsDown, netnsUp, LAB_PLAN } from '../../net/netns.js'
import { Capability, hasCapability, labPermissionError } from '../../net/native.js'
import { usageError, type Command } from '../command.js'

/** Removing labs and rules needs what creating them needs: say so instead of reporting 'nothing found'. */
function requireLabPrivilege(): void {
  if (!hasCapability(Capability.CAP_SYS_ADMIN) || !hasCapability(Capability.CAP_NET_ADMIN)) throw labPermissionError()
}

/** The `netns` command. */
export const netnsCommand: Command = {
  name: 'netns',
  usage: 'up [--name N] [--offloads on|off] [--topology pair|bridge] | down [--name N | --all] | list',
  summary: 'Create or remove a lab: two network namespaces joined by a veth pair, or three on a bridge (root only).',
  description:
    `Addresses come from the benchmarking ranges (RFC 2544 ${LAB_PLAN.subnet4}, RFC 5180 ${LAB_PLAN.subnet6}):\n` +
    `side a is ${LAB_PLAN.a.ipv4} and ${LAB_PLAN.a.ipv6}, side b ${LAB_PLAN.b.ipv4} and ${LAB_PLAN.b.ipv6}.\n` +
    "Nothing is added to the machine's own namespace. 'up' prints how to run commands in each side;\n" +
    "the lab stays until 'tcplab netns down' (or 'tcplab cleanup --all'; plain cleanup leaves it).\n" +
    '--offloads off (default) turns checksum and segmentation offloads off on the veth: captures then show\n' +
    'finished checksums and packets of at most one MTU. --offloads on leaves the veth as the kernel makes it\n' +
    '(as Docker and podman do): packets sent from inside a side show only the pseudo-header sum in their TCP\n' +
    "checksum field (tcpdump says 'incorrect'; it is completed later or never needed) and TSO/GRO let taps see\n" +
    'super-segments of up to 64 KB.\n' +
    `--topology bridge (the Docker shape): side b holds a Linux bridge with its addresses, side a and a third\n` +
    `side c (${LAB_PLAN.c.ipv4} and ${LAB_PLAN.c.ipv6}) hang off it through a veth each; STP off, forward delay 0,\n` +
    '--offloads applies to every veth end and to the bridge.',
  allowPositionals: true,
  options: {
    name: { type: 'string', arg: 'N', help: 'lab name, 1-10 of a-z0-9 (default: a random one for up)' },
    all: { type: 'boolean', help: "with 'down': remove every tcplab lab" },
    offloads: { type: 'string', arg: 'on|off', help: "with 'up': leave the veth's offloads at the kernel's defaults (on) or turn them off (off, default)" },
    topology: { type: 'string', arg: 'pair|bridge', help: "with 'up': a veth pair a-b (pair, default) or a bridge in b with a and c on it (bridge)" },
    json: { type: 'boolean', help: 'print the lab (or what was removed) as JSON' },
  },
  async run(args, io) {
    const [action, ...extra] = args.positionals
    if (extra.length > 0) throw usageError(`unexpected argument '${extra[0]}'`)
    const name = args.values.name as string | undefined
    const json = args.values.json === true
    switch (action) {
      case 'up': {
        const offloads = args.values.offloads as string | undefined
        if (offloads !== undefined && offloads !== 'on' && offloads !== 'off') throw usageError(`--offloads must be on or off, got '${offloads}'`)
        const topology = args.values.topology as string | undefined
        if (topology !== undefined && topology !== 'pair' && topology !== 'bridge') throw usageError(`--topology must be pair or bridge, got '${topology}'`)
        const lab = await netnsUp({
          ...(name !== undefined ? { name } : {}),
          ...(offloads !== undefined ? { offloads } : {}),
          ...(topology !== undefined ? { topology } : {}),
        })
        lab.keep()
        if (json) {
          // New fields are added after the old ones (topology always; c and bridge only for a bridge lab).
          const bridged = lab.bridge !== undefined ? { c: lab.c, bridge: lab.bridge } : {}
          io.stdout(
            JSON.stringify({ id: lab.id, a: lab.a, b: lab.b, prefix4: lab.prefix4, prefix6: lab.prefix6, offloads: lab.offloads, topology: lab.topology, ...bridged }),
          )
        } else for (const line of lab.describe()) io.stdout(line)
        return 0
      }
      case 'down': {
        requireLabPrivilege()
        if (args.values.all === true) {
          const labs = await listLabs()
          const removed: string[] = []
          for (const id of labs) removed.push(...(await netnsDown(id)))
          io.stdout(json ? JSON.stringify({ removed }) : removed.length ? `removed ${removed.join(' ')}` : 'no tcplab labs')
          return 0
        }
        let id = name
        if (id === undefined) {
          const labs = await listLabs()
          if (labs.length !== 1) {
            throw usageError(labs.length === 0 ? 'no tcplab lab is up' : `several labs are up (${labs.join(', ')}): say which with --name, or --all`)
          }
          id = labs[0]
        }
        const removed = await netnsDown(id)
        if (json) io.stdout(JSON.stringify({ removed }))
        else io.stdout(removed.length ? `removed ${removed.join(' ')}` : `no lab named ${id}`)
        return removed.length ? 0 : 1
      }
      case 'list': {
        const labs = await listLabs()
        if (json) io.stdout(JSON.stringify({ labs }))
        else for (const id of labs) io.stdout(id)
        return 0
      }
      default:
        throw usageError(`netns takes up, down or list (see 'tcplab netns --help')`)
    }
  },
}

/** True when an item of a cleanup report (`<where>:<family> <name>` or `<where>:<tool> <rule>`) is lab `id`'s. */
function itemOfLab(item: string, id: string): boolean {
  // cleanupAll({ only }) takes tables and rules named after the lab; attribute them the same way.
  const named = labNameMatcher(id)
  return item.split(/\s+/).some((w) => named(w.replace(/^"|"$/g, '')))
}

/** The `cleanup` command. */
export const cleanupCommand: Command = {
  name: 'cleanup',
  usage: '[--all | --name ID...] [--json]',
  summary: 'Remove everything tcplab may have left after a crash or kill -9: labs, RST guards, firewall rules.',
  description:
    'Without arguments it removes only what a tcplab process that is gone left behind (a kill -9, a crash):\n' +
    'labs, RST guards and rules whose owner (pid and start time, recorded in /run/tcplab) no longer runs.\n' +
    "It leaves labs and guards in use, labs made by 'tcplab netns up' (meant to outlive it: netns down\n" +
    'removes them) and anything with no owner record (made by an older tcplab or by hand), and lists them.\n' +
    "--all removes every tcplab lab, table and rule on the machine, in use or not (other users' too).\n" +
    'With --name it removes only those labs and the tables and rules named after them, in use or not; a name\n' +
    "with nothing to remove prints 'no lab named ID' and the command exits 1.",
  options: {
    name: { type: 'string', multiple: true, arg: 'ID', help: 'only this lab (its namespaces, and tables and rules named tcplab_ID or tcplab_ID_…)' },
    all: { type: 'boolean', help: 'everything of tcplab, including labs and guards in use and kept labs' },
    json: { type: 'boolean', help: 'print what was removed as JSON' },
  },
  async run(args, io) {
    const names = args.values.name as string[] | undefined
    const only = names !== undefined ? [...new Set(names)] : undefined
    const all = args.values.all === true
    if (all && only !== undefined) throw usageError('give --all or --name, not both')
    requireLabPrivilege()
    const report = await cleanupAll(only !== undefined ? { only } : all ? {} : { owners: 'dead' })
    const items = [...report.namespaces, ...report.tables, ...report.iptablesRules]
    const unknown = (only ?? []).filter(
      (id) => !report.namespaces.some((ns) => labIdOf(ns) === id) && ![...report.tables, ...report.iptablesRules].some((i) => itemOfLab(i, id)),
    )
    if (args.values.json === true) io.stdout(JSON.stringify(only !== undefined ? { ...report, unknown } : report))
    else {
      if (items.length > 0 || only === undefined) io.stdout(items.length ? `removed: ${items.join(', ')}` : report.staleRecords?.length ? 'nothing left to remove' : 'nothing to clean up')
      if (report.staleRecords?.length) io.stdout(`dropped ${report.staleRecords.length} owner record(s) of guards already gone: ${report.staleRecords.join(', ')}`)
      for (const id of unknown) io.stdout(`no lab named ${id}`)
      if (report.inUse?.length) io.stdout(`left in use (owner running): ${report.inUse.join(', ')}`)
      if (report.kept?.length) io.stdout(`left kept labs (tcplab netns down --name ID, or cleanup --all): ${report.kept.join(', ')}`)
      if (report.unowned?.length) io.stdout(`left without an owner record (cleanup --all removes them): ${report.unowned.join(', ')}`)
    }
    return unknown.length > 0 ? 1 : 0
  },
}
