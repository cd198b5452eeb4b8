/**
 * Rows 3–6 of the benchmark issue, declared with their units and targets but not measurable yet: they need
 * the namespace lab, the devices and tcplab's userland TCP (or `tcplab inspect`), which are still being
 * built. Until then each reports `skipped` with the reason, never a made-up figure. To add one, write its
 * module in rows/ with the same RowSpec and swap it in for the pending one in index.ts.
 */
import type { BenchModule, RowSpec } from '../harness.js'

/** A module whose rows are all skipped with `reason`. */
export function pendingModule(id: string, rows: RowSpec[], reason: string): BenchModule {
  return {
    id,
    rows,
    async run(_ctx, selected) {
      return selected.map((s) => ({ row: s.name, tcplab: null, baseline: null, skipped: reason }))
    },
  }
}

const NEEDS_STACK =
  "not built yet: needs tcplab's userland TCP over a raw device in a namespace lab (devices issue); will need root"

/** Row 3: sequential handshakes over a veth pair, tcplab's active open vs net.connect, p50 and p99. */
export const HANDSHAKE_LATENCY_ROWS: RowSpec[] = [
  {
    name: 'handshake-latency-p50',
    unit: 's',
    better: 'lower',
    baselineName: 'node:net connect (kernel)',
    targets: [{ on: 'ratio', value: 1 }],
  },
  {
    name: 'handshake-latency-p99',
    unit: 's',
    better: 'lower',
    baselineName: 'node:net connect (kernel)',
    targets: [],
  },
]

/** Row 4: connections established per second with 1,000 in flight. */
export const HANDSHAKE_RATE_ROWS: RowSpec[] = [
  {
    name: 'handshake-rate',
    unit: 'conn/s',
    better: 'higher',
    baselineName: 'node:net connect (kernel)',
    targets: [{ on: 'ratio', value: 3 }],
  },
]

/** Row 5: 256 MB userland → kernel server over the veth, in bits per second. */
export const BULK_ROWS: RowSpec[] = [
  {
    name: 'bulk-transfer',
    unit: 'bit/s',
    better: 'higher',
    baselineName: 'node:net (kernel)',
    targets: [
      { on: 'ratio', value: 0.3 },
      { on: 'tcplab', value: 1e9 },
    ],
  },
]

/** Row 6: `tcplab inspect` over a 1-million-packet capture vs `tshark -q -z conv,tcp`, packets per second. */
export const INSPECT_ROWS: RowSpec[] = [
  {
    name: 'inspect',
    unit: 'packets/s',
    better: 'higher',
    baselineName: 'tshark -q -z conv,tcp',
    targets: [{ on: 'ratio', value: 3 }],
  },
]

/** The four pending modules, in the order. */
export const PENDING_MODULES: BenchModule[] = [
  pendingModule('handshake-latency', HANDSHAKE_LATENCY_ROWS, NEEDS_STACK),
  pendingModule('handshake-rate', HANDSHAKE_RATE_ROWS, NEEDS_STACK),
  pendingModule('bulk-transfer', BULK_ROWS, NEEDS_STACK),
  pendingModule('inspect', INSPECT_ROWS, "not built yet: needs 'tcplab inspect' and a capture generator"),
]
