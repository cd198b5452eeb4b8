/**
 * The benchmark rows of `tcplab bench`, in the order they print. Each entry is one module from rows/;
 * a row that becomes measurable replaces its pending entry here.
 */
import type { BenchModule } from './harness.js'
import { checksumModule } from './rows/checksum.js'
import { codecModule } from './rows/codec.js'
import { PENDING_MODULES } from './rows/pending.js'

export * from './harness.js'
export { checksumModule } from './rows/checksum.js'
export { codecModule } from './rows/codec.js'
export { pendingModule } from './rows/pending.js'

/** Every benchmark module, in the row order. */
export function benchModules(): BenchModule[] {
  return [checksumModule(), codecModule(), ...PENDING_MODULES]
}
