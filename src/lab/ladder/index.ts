/**
 * Ladder diagrams of one TCP connection: the model, the four renderers (terminal text, Mermaid, SVG,
 * HTML) and `renderToFile`, which picks the format from a file name the way `--diagram FILE` does.
 */
import { writeFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { WireError } from '../../tcp/errors.js'
import type { LadderExchange, LadderOptions } from './model.js'
import { renderHtml } from './html.js'
import { renderMermaid } from './mermaid.js'
import { renderSvg } from './svg.js'

export type { LadderEnd, LadderExchange, LadderOptions, LadderRow } from './model.js'
export { DEFAULT_LADDER_ROWS, MAX_TIME_GAP_PX } from './model.js'
export { ladderView, spanText, type LadderView, type ViewGap, type ViewRow } from './view.js'
export {
  displayNumbers,
  displayWidth,
  flagNames,
  numbersCaption,
  optionText,
  renderText,
  rowKind,
  rowLabel,
  rowTime,
  sequenceBases,
  wrapText,
} from './text.js'
export type { RowKind, RowLabel } from './text.js'
export { MERMAID_MAX_TEXT, mermaidText, renderMermaid } from './mermaid.js'
export { renderSvg, xmlEscape } from './svg.js'
export type { SvgOptions } from './svg.js'
export { renderHtml } from './html.js'

/** A file format a ladder can be written in. */
export type DiagramFormat = 'mermaid' | 'markdown' | 'svg' | 'html'

/** The extensions `renderToFile` knows, and what each gives. */
export const DIAGRAM_EXTENSIONS: Readonly<Record<string, DiagramFormat>> = {
  '.mmd': 'mermaid',
  '.md': 'markdown',
  '.svg': 'svg',
  '.html': 'html',
}

/** The format for a file name, by extension (case-insensitive); throws ERR_BAD_ARGUMENT naming the allowed ones. */
export function diagramFormat(path: string): DiagramFormat {
  const ext = extname(path).toLowerCase()
  const f = Object.prototype.hasOwnProperty.call(DIAGRAM_EXTENSIONS, ext) ? DIAGRAM_EXTENSIONS[ext] : undefined
  if (f === undefined) {
    throw new WireError(
      'ERR_BAD_ARGUMENT',
      `cannot tell the diagram format of ${JSON.stringify(path)}: ${ext === '' ? 'no extension' : `unknown extension ${JSON.stringify(ext)}`}; use ${Object.keys(DIAGRAM_EXTENSIONS).join(', ')}`,
    )
  }
  return f
}

/** The ladder in a given file format (Markdown is the Mermaid source in a ```mermaid fence). */
export function renderDiagram(ex: LadderExchange, format: DiagramFormat, opts: LadderOptions = {}): string {
  switch (format) {
    case 'mermaid':
      return renderMermaid(ex, opts)
    case 'markdown':
      return '```mermaid\n' + renderMermaid(ex, opts) + '```\n'
    case 'svg':
      return renderSvg(ex, opts)
    case 'html':
      return renderHtml(ex, opts)
  }
}

/**
 * Writes the ladder to `path` in the format its extension names (.mmd/.md Mermaid, .svg, .html) and
 * resolves with that format. An unknown extension rejects with ERR_BAD_ARGUMENT before anything is written.
 */
export async function renderToFile(ex: LadderExchange, path: string, opts: LadderOptions = {}): Promise<DiagramFormat> {
  const format = diagramFormat(path)
  await writeFile(path, renderDiagram(ex, format, opts), 'utf8')
  return format
}
