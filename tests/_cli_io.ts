/** An in-process `registry-cli` run with a recording io. */
import { cliMain } from "../src/cli/main.ts";
import type { CliIo } from "../src/cli/command.ts";

/** What a run printed and returned. */
export interface CliRun {
  code: number;
  /** Everything written to stdout, each write followed by a newline (as `cli.ts` prints). */
  stdout: string;
  /** Everything written to stderr, the same way. */
  stderr: string;
}

/** Runs `cliMain(args)` with `env` as the whole environment; records its output. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    env,
    stdout: (text) => (stdout += `${text}\n`),
    stderr: (text) => (stderr += `${text}\n`),
  };
  const code = await cliMain(args, io);
  return { code, stdout, stderr };
}
