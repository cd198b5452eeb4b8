/**
 * Time-sequence graphs ("Stevens" graphs) of one TCP connection: the model (model.ts), the SVG and HTML
 * renderers, adapters from a captured connection (`tcplab inspect`) and from a live run's recorder, and
 * `renderGraphToFile`, which picks the format from the file name as `--graph FILE` does.
 */
import { writeFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { WireError } from '../../tcp/errors.js'
import { parseFlags } from '../../tcp/segment.js'
import { endpointText, type ConnectionReport } from '../inspect/report.js'
import type { RecorderLimits, SegmentRecord as LiveSegment } from '../liverec.js'
import { buildGraph, type GraphSegment, type TimeSequenceGraph } from './model.js'
import { renderGraphHtml } from './html.js'
import { renderGraphSvg } from './svg.js'

export * from './model.js'
export { GRAPH_COLORS, niceTicks, renderGraphSvg, siText, type GraphSvgOptions } from './svg.js'
export { graphSummary, renderGraphHtml } from './html.js'

/** Segments of one connection kept for a graph (inspect's and a live run's cap); later ones are left out. */
export const GRAPH_MAX_SEGMENTS = 200_000

/** Recorder limits for a live run's graph: every segment from the start up to GRAPH_MAX_SEGMENTS. */
export const GRAPH_RECORDER_LIMITS: Readonly<Partial<RecorderLimits>> = { head: GRAPH_MAX_SEGMENTS, tail: 0, connections: 16 }

/** A file format a graph can be written in. */
export type GraphFormat = 'svg' | 'html'

/** The format for a file name (.svg or .html, case-insensitive); throws ERR_BAD_ARGUMENT otherwise. */
export function graphFormat(path: string): GraphFormat {
  const ext = extname(path).toLowerCase()
  if (ext === '.svg') return 'svg'
  if (ext === '.html') return 'html'
  throw new WireError(
    'ERR_BAD_ARGUMENT',
    `cannot tell the graph format of ${JSON.stringify(path)}: ${ext === '' ? 'no extension' : `unknown extension ${JSON.stringify(ext)}`}; use .svg or .html`,
  )
}

/** Writes the graph to `path` as SVG or HTML by its extension; rejects with ERR_BAD_ARGUMENT before writing otherwise. */
export async function renderGraphToFile(g: TimeSequenceGraph, path: string): Promise<GraphFormat> {
  const format = graphFormat(path)
  await writeFile(path, format === 'svg' ? renderGraphSvg(g) : renderGraphHtml(g), 'utf8')
  return format
}

/** The graph of a captured connection whose segments were kept (client = end `a`, server = end `b`). */
export function graphFromReport(conn: ConnectionReport): TimeSequenceGraph {
  const segments: GraphSegment[] = (conn.segments ?? []).map((s) => ({
    from: s.from === 'client' ? 'a' : 'b',
    timeUs: s.timeUs,
    flags: s.flags,
    seq: s.seq,
    ack: s.ack,
    len: s.len,
    window: s.window,
    options: s.options,
  }))
  const ws = conn.negotiated?.windowScale
  return buildGraph({
    title: `#${conn.index} ${endpointText(conn.client)} ↔ ${endpointText(conn.server)}`,
    ends: { a: endpointText(conn.client), b: endpointText(conn.server) },
    windowScale: ws ? { a: ws.client, b: ws.server } : conn.negotiated !== null ? null : undefined,
    segments,
  })
}

/**
 * The graph of one connection of a live run (our end = `a`). Segments the interface dropped (bad checksum…)
 * are left out: they never acted on our TCP. Times are the device's wire stamps when every segment has one.
 */
export function graphFromLive(segs: readonly LiveSegment[], title: string): TimeSequenceGraph {
  const kept = segs.filter((s) => !s.drop)
  const wire = kept.length > 0 && kept.every((s) => s.wireUs !== undefined)
  const first = kept[0]
  return buildGraph({
    title,
    ends: { a: first?.local ?? 'tcplab', b: first?.remote ?? 'peer' },
    segments: kept.map((s) => ({
      from: s.dir === 'out' ? 'a' : 'b',
      timeUs: wire ? s.wireUs! : s.timeUs,
      flags: parseFlags(s.flags),
      seq: s.seq,
      ack: s.ack,
      len: s.len,
      window: s.window,
      options: s.options,
    })),
  })
}
