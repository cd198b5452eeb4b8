/**
 * The benchmark rows of `tcplab bench`, in the order they print. Each entry is one module from rows/;
 * a row that becomes measurable replaces its pending entry here.
 */
import type { BenchModule } from './harness.js'
import { bulkModule } from './rows/bulk.js'
import { checksumModule } from './rows/checksum.js'
import { codecModule } from './rows/codec.js'
import { handshakeModule } from './rows/handshake.js'
import { inspectModule } from './rows/inspect.js'

export * from './harness.js'
export { checksumModule } from './rows/checksum.js'
export { codecModule } from './rows/codec.js'
export { handshakeModule } from './rows/handshake.js'
export { bulkModule } from './rows/bulk.js'
export { inspectModule } from './rows/inspect.js'
export { pendingModule } from './rows/pending.js'

/** Every benchmark module, in the row order. */
export function benchModules(): BenchModule[] {
  return [checksumModule(), codecModule(), handshakeModule(), bulkModule(), inspectModule()]
}
