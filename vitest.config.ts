import { configDefaults, defineConfig } from 'vitest/config'

/**
 * Tests whose verdicts rest on real-time packet timing against the kernel (packetdrill's 4 ms tolerance):
 * they run in a group of their own, after every other file has finished and one file at a time, so the
 * rest of the suite's labs and floods never share the two cores with them.
 */
const REALTIME = ['test/script/kernel-script.test.ts']
const shared = { testTimeout: 60_000, hookTimeout: 60_000 }

export default defineConfig({
  test: {
    projects: [
      {
        test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...REALTIME], ...shared, sequence: { groupOrder: 0 } },
      },
      {
        test: { name: 'realtime', include: REALTIME, fileParallelism: false, ...shared, sequence: { groupOrder: 1 } },
      },
    ],
  },
})
