/**
 * `registry-cli`: add, get, list and delete services in the registry.
 *
 * ```sh
 * deno run -A jsr:@physarum/registry/cli -bootstrap /ip4/127.0.0.1/tcp/4001/p2p/12D3... list
 * ```
 *
 * @module
 */
import { cliMain } from "./src/cli/main.ts";

if (import.meta.main) {
  const encoder = new TextEncoder();
  const code = await cliMain(Deno.args, {
    env: Deno.env.toObject(),
    stdout: (text) => console.log(text),
    stderr: (text) => console.error(text),
    stderrRaw: (text) => {
      const bytes = encoder.encode(text);
      for (let n = 0; n < bytes.length;) n += Deno.stderr.writeSync(bytes.subarray(n));
    },
    stderrIsTerminal: Deno.stderr.isTerminal(),
    onInterrupt: (listener) => {
      Deno.addSignalListener("SIGINT", listener);
      return () => Deno.removeSignalListener("SIGINT", listener);
    },
  });
  Deno.exit(code);
}
