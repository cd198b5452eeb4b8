/**
 * Running two interfaces in virtual time (VirtualClock) from a test: the event loop carries packets and
 * stream events; when a whole turn moved no packet, the next virtual timer fires.
 */
import type { VirtualClock } from '../../src/lab/stack/clock.js'

/** One turn of the event loop (microtasks, nextTicks and immediates queued so far all run). */
export const turn = (): Promise<void> => new Promise((r) => setImmediate(r))

/**
 * Runs `us` of virtual time, letting everything due happen: each turn calls `step`, then lets the loop run;
 * a turn that moved no packet (`moved()`, a count of packets received) fires the next timer up to the end.
 */
export async function runVirtual(vc: VirtualClock, moved: () => number, us: number, step: () => void = () => {}): Promise<void> {
  const end = vc.now + us
  for (let i = 0; i < 100_000; i++) {
    step()
    const before = moved()
    await turn()
    if (moved() !== before) continue
    const at = vc.nextAt()
    if (at === undefined || at > end) break
    vc.runNext()
  }
  vc.advanceTo(end)
  await turn()
}
