/**
 * Who made a lab or an RST guard: one small file per resource, written before the resource exists and
 * removed with it, naming the process that owns it by pid and start time (field 22 of /proc/<pid>/stat,
 * so a pid the kernel reused for another process does not count as the owner). Plain `tcplab cleanup`
 * removes only what a dead owner left; a lab handed over by `tcplab netns up` is marked kept and outlives
 * its creator on purpose.
 *
 * The files live in /run/tcplab (a tmpfs: a reboot, which removes every namespace and rule, clears them
 * too), or in $TCPLAB_RUN_DIR. They are written synchronously because removal runs in exit handlers.
 */
import * as fs from 'node:fs'
import { join } from 'node:path'

/** What a record is about: a namespace lab (by id) or an RST guard (by table name / rule comment). */
export type OwnedKind = 'lab' | 'guard'

/** One owner record. */
export interface OwnerRecord {
  kind: OwnedKind
  /** Lab id, or the guard's `tcplab_g…` name. */
  name: string
  /** The owner's pid. */
  pid: number
  /** The owner's start time in clock ticks since boot (/proc/<pid>/stat field 22), as text. */
  start: string
  /** True for a lab handed to nobody (`netns up`): never removed as a dead owner's leftover. */
  kept: boolean
}

/** Whose a thing is, for plain cleanup: a live owner's, a dead owner's, kept on purpose, or no record at all. */
export type Ownership = 'alive' | 'dead' | 'kept' | 'unowned'

/** The directory of owner records. */
export function ownerDir(): string {
  return process.env.TCPLAB_RUN_DIR ?? '/run/tcplab'
}

const fileOf = (kind: OwnedKind, name: string): string => join(ownerDir(), `${kind}-${name}.json`)

/** A process's start time (/proc/<pid>/stat field 22), or undefined when there is no such process. */
export function processStart(pid: number): string | undefined {
  let stat: string
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) is in parentheses and may itself hold spaces or ')': count from the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return rest[19] // field 22 is the 20th after "pid (comm)"
}

/** Records this process as the owner of `name` (before creating it, so a kill in between leaves a record). */
export function recordOwner(kind: OwnedKind, name: string, pid = process.pid): void {
  const rec: OwnerRecord = { kind, name, pid, start: processStart(pid) ?? '', kept: false }
  try {
    fs.mkdirSync(ownerDir(), { recursive: true, mode: 0o755 })
    fs.writeFileSync(fileOf(kind, name), `${JSON.stringify(rec)}\n`)
  } catch {
    // Without the record the thing is 'unowned': plain cleanup leaves it, --all and --name still remove it.
  }
}

/** Marks `name` kept: it is meant to outlive its creator (`tcplab netns up`). */
export function markKept(kind: OwnedKind, name: string): void {
  const rec = readOwner(kind, name)
  if (rec === undefined) return
  try {
    fs.writeFileSync(fileOf(kind, name), `${JSON.stringify({ ...rec, kept: true })}\n`)
  } catch {
    // As in recordOwner.
  }
}

/** Removes the record of `name` (the thing is gone). */
export function dropOwner(kind: OwnedKind, name: string): void {
  try {
    fs.unlinkSync(fileOf(kind, name))
  } catch {
    // Already gone, or never written.
  }
}

/** The record of `name`, or undefined (none, or unreadable). */
export function readOwner(kind: OwnedKind, name: string): OwnerRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(fileOf(kind, name), 'utf8')) as Partial<OwnerRecord>
    if (typeof r.pid !== 'number' || typeof r.start !== 'string') return undefined
    return { kind, name, pid: r.pid, start: r.start, kept: r.kept === true }
  } catch {
    return undefined
  }
}

/** True while the record's process runs: the same pid with the same start time. */
export function ownerAlive(rec: Pick<OwnerRecord, 'pid' | 'start'>): boolean {
  const start = processStart(rec.pid)
  return start !== undefined && (rec.start === '' || start === rec.start)
}

/** Whose `name` is (see {@link Ownership}). */
export function ownershipOf(kind: OwnedKind, name: string): Ownership {
  const rec = readOwner(kind, name)
  if (rec === undefined) return 'unowned'
  if (rec.kept) return 'kept'
  return ownerAlive(rec) ? 'alive' : 'dead'
}

/**
 * Drops the records of guards whose owner is gone and of which nothing is left (`present`: the names of the
 * tables and rules found anywhere): a guard inside a lab's namespace goes with the namespace, but its record
 * stayed in the owner directory. Returns the names dropped.
 */
export function dropStaleGuardRecords(present: ReadonlySet<string>): string[] {
  let files: string[]
  try {
    files = fs.readdirSync(ownerDir())
  } catch {
    return []
  }
  const dropped: string[] = []
  for (const f of files) {
    const m = /^guard-(.+)\.json$/.exec(f)
    if (!m || present.has(m[1]!)) continue
    const rec = readOwner('guard', m[1]!)
    if (rec === undefined || rec.kept || ownerAlive(rec)) continue
    dropOwner('guard', m[1]!)
    dropped.push(m[1]!)
  }
  return dropped
}
