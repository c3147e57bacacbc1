/**
 * `registry-service`: a long-running libp2p node that answers registry
 * requests and keeps the data in its own etcd member.
 *
 * ```sh
 * deno run -A jsr:@physarum/registry/service -local -new-etcd-cluster -psk secret
 * ```
 *
 * @module
 */
import { serviceMain } from "./src/service/main.ts";

if (import.meta.main) {
  const code = await serviceMain(Deno.args, {
    env: Deno.env.toObject(),
    stdout: (line) => console.log(line),
    stderr: (line) => console.error(line),
    onShutdownSignal: (handler) => {
      Deno.addSignalListener("SIGINT", handler);
      Deno.addSignalListener("SIGTERM", handler);
    },
    onUncaughtError: (handler) => {
      globalThis.addEventListener("error", (event) => {
        event.preventDefault();
        handler(event.error);
      });
      globalThis.addEventListener("unhandledrejection", (event) => {
        event.preventDefault();
        handler(event.reason);
      });
    },
  });
  Deno.exit(code);
}
