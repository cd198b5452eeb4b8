/**
 * Bench rows bulk-transfer (tcplab on a raw socket), bulk-transfer-pcap (on libpcap, with an address and
 * MAC of its own) and bulk-transfer-gso (the same, sending through tcplab's packet socket addon with
 * segmentation offload, which the kernel cuts back to MTU-sized frames before the veth): one connection from lab side A to the kernel server in side B carrying 256 MB
 * (a few MB with --quick), tcplab's TcpSocket over its userland TCP against node:net's
 * socket over the kernel's TCP, with the same application code (child/bulk.ts). Figures are payload bits
 * per second from 'connect' until the server confirmed the byte count and closed. The veth runs with
 * checksum and segmentation offloads off (the lab turns them off so raw sockets see finished packets), so
 * the kernel path also moves MTU-sized packets with software checksums: the same wire for both.
 */
import type { BenchContext, BenchModule, RowMeasurement, RowSpec } from '../harness.js'
import type { TcpConfig } from '../../../tcp/types.js'
import { blocksOf, childScript, deviceOptions, figureOf, labPrivileged, labSkipReason, viaSkipReason, runLabChild, TCPLAB_PORTS, withBenchLab, type BenchLab, type BenchVia, type ChildLine, type LabModuleOptions } from './handshake.js'

/** Row 5: userland → kernel server over the veth, in bits per second; tcplab on raw, on pcap, on pcap with GSO. */
export const BULK_ROWS: RowSpec[] = ['bulk-transfer', 'bulk-transfer-pcap', 'bulk-transfer-gso'].map((name) => ({
  name,
  unit: 'bit/s',
  better: 'higher',
  baselineName: 'node:net (kernel)',
  targets: [
    { on: 'ratio', value: 0.3 },
    { on: 'tcplab', value: 1e9 },
  ],
}))

/** How much the bulk row moves. */
export interface BulkSizes {
  reps: number
  bytes: number
  warmupBytes: number
  chunk: number
}

/** Full run: 5 transfers of 256 MB per side after a 32 MB warm-up each. */
export const FULL_BULK_SIZES: BulkSizes = { reps: 5, bytes: 256 << 20, warmupBytes: 32 << 20, chunk: 64 << 10 }

/** `--quick`: 2 MB per transfer, for real. */
export const QUICK_BULK_SIZES: BulkSizes = { reps: 3, bytes: 2 << 20, warmupBytes: 256 << 10, chunk: 64 << 10 }

/**
 * tcplab's TCB options for the transfer: a 1 MB send buffer (the TCB's default of 256 KB is the
 * interactive default; the kernel autotunes its own send buffer to several MB for a bulk sender).
 */
export const BULK_TCP: Partial<TcpConfig> = { sndBuf: 1 << 20 }

/** How each row's tcplab sends, for the row's note. */
const VIA_TEXT: Record<BenchVia, string> = {
  raw: 'a raw socket',
  pcap: 'libpcap',
  'pcap-gso': 'libpcap, sending through its packet socket with segmentation offload (super-frames the kernel cuts)',
}

/** Options of the bulk module. */
export interface BulkModuleOptions extends LabModuleOptions {
  sizes?: BulkSizes
  tcp?: Partial<TcpConfig>
}

/** Runs the bulk child and returns its lines. */
export function runBulkChild(b: BenchLab, sizes: BulkSizes, quick: boolean, tcp: Partial<TcpConfig> = BULK_TCP, via: BenchVia = 'raw'): Promise<ChildLine[]> {
  const opts = { server: b.server, port: b.port, ports: TCPLAB_PORTS, table: b.table, tcp, ...deviceOptions(b, via), ...sizes }
  return runLabChild(b.lab, 'a', childScript('bulk'), opts, quick ? 60_000 : 900_000)
}

/** The bulk row as a module. */
export function bulkModule(opts: BulkModuleOptions = {}): BenchModule {
  const privileged = opts.privileged ?? labPrivileged
  return {
    id: 'bulk-transfer',
    rows: BULK_ROWS,
    async run(ctx: BenchContext, selected: readonly RowSpec[]): Promise<RowMeasurement[]> {
      const skip = labSkipReason([childScript('bulk'), childScript('server')], privileged)
      if (skip !== undefined) return selected.map((s) => ({ row: s.name, tcplab: null, baseline: null, skipped: skip }))
      const sizes = opts.sizes ?? (ctx.quick ? QUICK_BULK_SIZES : FULL_BULK_SIZES)
      const want = new Set(selected.map((s) => s.name))
      const tcp = opts.tcp ?? BULK_TCP
      const bits = (bs: ChildLine[]): number[] => bs.map((x) => x.bitsPerSecond as number)
      const mb = sizes.bytes / (1 << 20)
      const out: RowMeasurement[] = []
      const plan: [string, BenchVia][] = [['bulk-transfer', 'raw'], ['bulk-transfer-pcap', 'pcap'], ['bulk-transfer-gso', 'pcap-gso']]
      const runs = plan.filter(([row]) => want.has(row))
      for (const [row, via] of runs) {
        const skipVia = viaSkipReason(via)
        if (skipVia !== undefined) out.push({ row, tcplab: null, baseline: null, skipped: skipVia })
      }
      const live = runs.filter(([row]) => !out.some((m) => m.row === row))
      if (live.length === 0) return out
      await withBenchLab(opts, 'sink', async (b) => {
        for (const [row, via] of live) {
          ctx.progress(`bench: bulk transfer over ${via} (namespace lab)…`)
          const lines = await runBulkChild(b, sizes, ctx.quick, tcp, via)
          out.push({
            row,
            tcplab: figureOf(bits(blocksOf(lines, 'tcplab'))),
            baseline: figureOf(bits(blocksOf(lines, 'kernel'))),
            note: `${sizes.reps}×${mb} MB per side, one connection, MTU 1500, veth offloads off; tcplab send buffer ${(tcp.sndBuf ?? 0) >> 10} KB over ${VIA_TEXT[via]}`,
          })
        }
      })
      return plan.flatMap(([row]) => out.filter((m) => m.row === row))
    },
  }
}
