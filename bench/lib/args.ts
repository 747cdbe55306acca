/** Command-line options of the benchmark scripts (`--name value`). */

/** The value after `--name` on the command line, or `dflt`. */
export function option(name: string, dflt: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : dflt;
}
