// Docs that stay true (run by `npm run test:docs`, before `tsc -p test/docs/tsconfig.json`):
//
// 1. Every ```ts / ```typescript block of README.md and docs/*.md is written to
//    test/docs/snippets/ (gitignored), one module per block, named after its file and line
//    (docs/messages.md line 40 -> docs-messages-L40.ts), for tsc to type-check. Other blocks
//    (sh, json, text) are not extracted.
// 2. A block preceded by `<!-- fragment: NAME -->` on the line before its fence is a
//    fragment: it uses names that test/docs/contexts/NAME.ts exports (an `app`, say), and
//    its module imports the exported names it mentions from there.
// 3. Every relative link of those files must resolve: the file, and the heading an
//    `#anchor` names (GitHub's heading ids); and the file must be one package.json "files"
//    ships, so that the links work in the installed package too.
//
// Any problem is printed as file:line and makes the script exit 1.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const here = fileURLToPath(new URL('.', import.meta.url))
const outDir = path.join(here, 'snippets')
const contextDir = path.join(here, 'contexts')

const extracted = new Set(['ts', 'typescript'])
const fragmentMarker = /^<!--\s*fragment:\s*([\w-]+)\s*-->$/
const problems: string[] = []

interface Block { language: string, line: number, code: string[], fragment: string | undefined }
interface Parsed { blocks: Block[], prose: Array<{ line: number, text: string }> }

/** Splits a Markdown file into fenced code blocks and the lines outside them. */
function parse (file: string, text: string): Parsed {
  const lines = text.split('\n')
  const blocks: Block[] = []
  const prose: Parsed['prose'] = []
  let open: { fence: string, indent: number, block: Block } | undefined
  for (const [index, line] of lines.entries()) {
    if (open !== undefined) {
      const { fence, indent, block } = open
      if (line.trim().startsWith(fence) && line.trim().replaceAll(fence[0] ?? '`', '') === '') {
        blocks.push(block)
        open = undefined
      } else {
        // Lines indented like the fence (a block in a list item) lose that indentation.
        block.code.push(line.slice(Math.min(indent, line.length - line.trimStart().length)))
      }
      continue
    }
    const fence = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(line)
    if (fence === null) {
      prose.push({ line: index + 1, text: line })
      continue
    }
    const marker = fragmentMarker.exec((lines[index - 1] ?? '').trim())
    const language = (fence[3] ?? '').toLowerCase()
    if (marker !== null && !extracted.has(language)) problems.push(`${file}:${index}: a fragment marker before a \`\`\`${language} block, which is not type-checked`)
    open = { fence: fence[2] ?? '```', indent: fence[1]?.length ?? 0, block: { language, line: index + 2, code: [], fragment: marker?.[1] } }
  }
  if (open !== undefined) problems.push(`${file}:${open.block.line - 1}: a code block that is never closed`)
  return { blocks, prose }
}

/** The names a context module exports (`export const|let|function|class|type|interface NAME`, `export { a, b as c }`). */
function contextExports (source: string): string[] {
  const names = Array.from(source.matchAll(/^export\s+(?:declare\s+)?(?:async\s+)?(?:const|let|var|function|class|interface|type|enum)\s+([\w$]+)/gm), (match) => match[1] ?? '')
  for (const list of source.matchAll(/^export\s+(?:type\s+)?\{([^}]*)\}/gm)) {
    for (const item of (list[1] ?? '').split(',')) {
      const name = item.trim().split(/\s+as\s+/).pop()?.replace(/^type\s+/, '')
      if (name !== undefined && name !== '') names.push(name)
    }
  }
  return names.filter((name) => name !== '')
}

/** The module a block becomes: a header naming where it comes from, the fragment's context, the code, `export {}`. */
function snippet (file: string, block: Block): string | undefined {
  const header = [`// from ${file}:${block.line}`]
  if (block.fragment !== undefined) {
    const context = path.join(contextDir, `${block.fragment}.ts`)
    if (!existsSync(context)) {
      problems.push(`${file}:${block.line - 2}: fragment context ${path.relative(root, context)} does not exist`)
      return undefined
    }
    const code = block.code.join('\n')
    const used = contextExports(readFileSync(context, 'utf8')).filter((name) => new RegExp(`(?<![\\w$.])${name.replaceAll('$', '\\$')}(?![\\w$])`).test(code))
    if (used.length > 0) header.push(`import { ${used.join(', ')} } from '../contexts/${block.fragment}.js'`)
  }
  header[0] += `, which is line ${header.length + 1} here`
  return [...header, ...block.code, '', 'export {}', ''].join('\n')
}

/** GitHub's id of a heading: lowercase, punctuation dropped, spaces to hyphens, -1, -2... for repeats. */
function headingIds (prose: Parsed['prose']): Set<string> {
  const ids = new Set<string>()
  const seen = new Map<string, number>()
  for (const { text } of prose) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text)
    if (heading === null) continue
    const rendered = (heading[1] ?? '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '')
    const base = rendered.toLowerCase().replace(/[^\p{L}\p{N}\p{M}\p{Pc} -]/gu, '').replaceAll(' ', '-')
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    ids.add(count === 0 ? base : `${base}-${count}`)
  }
  return ids
}

/** Relative link targets in the prose: `[text](target)`, `[ref]: target`; code spans are not links. */
function links (prose: Parsed['prose']): Array<{ line: number, target: string }> {
  const found: Array<{ line: number, target: string }> = []
  for (const { line, text } of prose) {
    const outsideCode = text.replace(/(`+)[^`]*?\1/g, '')
    for (const match of outsideCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g)) {
      const target = match[1] ?? match[2] ?? ''
      if (!/^([a-z][a-z0-9+.-]*:|\/\/)/i.test(target)) found.push({ line, target })
    }
  }
  return found
}

/** What the package ships: package.json "files" (directories and files; no globs there). */
const shipped = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { files: string[] }).files
function isShipped (relative: string): boolean {
  const file = relative.split(path.sep).join('/')
  return file === 'package.json' || shipped.some((entry) => file === entry || file.startsWith(`${entry.replace(/\/$/, '')}/`))
}

const sources = ['README.md', ...readdirSync(path.join(root, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)]
const parsed = new Map(sources.map((file) => [file, parse(file, readFileSync(path.join(root, file), 'utf8'))]))

rmSync(outDir, { recursive: true, force: true })
mkdirSync(outDir, { recursive: true })
let written = 0
for (const [file, { blocks }] of parsed) {
  for (const block of blocks.filter((block) => extracted.has(block.language))) {
    const module = snippet(file, block)
    if (module === undefined) continue
    writeFileSync(path.join(outDir, `${file.replace(/\.md$/, '').replaceAll('/', '-')}-L${block.line}.ts`), module)
    written++
  }
}

let checked = 0
const idsOf = new Map<string, Set<string>>()
for (const [file, { prose }] of parsed) {
  for (const { line, target } of links(prose)) {
    checked++
    const [pathPart = '', anchor] = target.split('#', 2)
    const resolved = pathPart === '' ? path.join(root, file) : path.resolve(path.dirname(path.join(root, file)), decodeURI(pathPart))
    const shown = path.relative(root, resolved)
    if (shown.startsWith('..') || !existsSync(resolved)) {
      problems.push(`${file}:${line}: link ${target}: ${shown} does not exist`)
      continue
    }
    if (!isShipped(shown)) problems.push(`${file}:${line}: link ${target}: ${shown} is not in package.json "files", so the link is broken in the installed package`)
    if (anchor === undefined) continue
    if (!resolved.endsWith('.md') || statSync(resolved).isDirectory()) {
      problems.push(`${file}:${line}: link ${target}: an anchor into a file that is not Markdown`)
      continue
    }
    let ids = idsOf.get(resolved)
    if (ids === undefined) {
      const target = parsed.get(shown.split(path.sep).join('/')) ?? parse(shown, readFileSync(resolved, 'utf8'))
      ids = headingIds(target.prose)
      idsOf.set(resolved, ids)
    }
    if (!ids.has(decodeURIComponent(anchor).toLowerCase())) problems.push(`${file}:${line}: link ${target}: ${shown} has no heading #${anchor}`)
  }
}

for (const problem of problems) console.error(problem)
console.log(`${written} snippets from ${sources.length} files written to ${path.relative(root, outDir)}/; ${checked} relative links checked, ${problems.length} problems`)
if (problems.length > 0) process.exitCode = 1
