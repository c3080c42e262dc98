/** Command-line options of the benchmarks: `--name value` pairs and bare `--flag`s. */
const argv = process.argv.slice(2);

/** The value after `--name`, or `def` when the option is absent. */
export function arg(name: string, def: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : def;
}

/** Whether the bare `--name` was given. */
export function flag(name: string): boolean {
  return argv.includes(`--${name}`);
}
