// tap coverage map: every test file reports coverage of lib/ only. The demo and the
// benchmark code that some tests load are exercised, but are not the plugin.
import { readdirSync } from 'node:fs'

const lib = readdirSync(new URL('../lib/', import.meta.url)).filter((file) => file.endsWith('.ts')).map((file) => `lib/${file}`)

export default function coverageMap () {
  return lib
}
