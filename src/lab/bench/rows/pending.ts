/**
 * A placeholder for rows that cannot be measured yet: declared with their units and targets, each reports
 * `skipped` with the reason, never a made-up figure. Rows 3–6 of the benchmark issue started here and now
 * have real modules (handshake.ts, bulk.ts, inspect.ts); a future row can start here the same way and be
 * swapped for its real module in index.ts.
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
