/**
 * Shared fixtures of the `add` tests: a small service directory and config, a
 * proxy git repository, and independent checks of what Docker and the local
 * registry hold.
 */
import type { DockerEnv } from "../_docker_env.ts";
import { ipfsCidV0 } from "./_ipfs_cid.ts";

/** Runs a shell script in `cwd`; throws with its stderr on failure, returns trimmed stdout. */
export async function sh(cwd: string, script: string): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", script],
    cwd,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) throw new Error(`${script} failed: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).trim();
}

/** A proxy that records its exact arguments, one [arg] each, tagged with its version. */
export const proxyScript = (version: string): string =>
  `#!/bin/sh\nprintf '${version}' > /app/proxy-args.txt\nfor a in "$@"; do printf '[%s]' "$a" >> /app/proxy-args.txt; done\necho "${version} started"\n`;

/** The service: waits for the proxy to record its arguments, then prints them and its own. */
export const SERVICE = `#!/bin/sh
i=0
while [ ! -s /app/proxy-args.txt ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
sleep 0.2
printf 'service:'; for a in "$@"; do printf '[%s]' "$a"; done; echo
echo "proxy: $(cat /app/proxy-args.txt)"
`;

/**
 * An add config on `base` that copies `svc.sh` and `web` (see
 * {@linkcode makeServiceDir}); `dockerConf` overrides DockerConf fields.
 */
export function config(base: string, dockerConf: Record<string, unknown> = {}): string {
  return JSON.stringify(
    {
      NetworkSoftReq: { RTT: 100 },
      NetworkHardReq: { RTT: 250 },
      CpuReq: 20,
      MemoryReq: 1000,
      DockerConf: {
        From: base,
        Copy: [["svc.sh", "bin/svc.sh"], ["web", "www"]],
        Run: ["echo built > run.txt"],
        Cmd: "./bin/svc.sh $PROXY_IP $SERVICE_PORT",
        ProxyClientMode: false,
        ...dockerConf,
      },
    },
    null,
    2,
  );
}

/** Creates `<tmp>/svc`, the -dir of {@linkcode config}: the service script and a web directory. */
export async function makeServiceDir(tmp: string): Promise<string> {
  const dir = `${tmp}/svc`;
  await Deno.mkdir(`${dir}/web/static`, { recursive: true });
  await Deno.writeTextFile(`${dir}/svc.sh`, SERVICE, { mode: 0o755 });
  await Deno.writeTextFile(`${dir}/web/static/index.html`, "<p>hello</p>\n");
  return dir;
}

/** A proxy git repository made by {@linkcode makeProxyRepo}. */
export interface ProxyRepo {
  /** Path of the repository. */
  repo: string;
  /** The older commit, whose proxy reports `v1`; HEAD reports `v2`. */
  v1: string;
  /** add flags that clone it over `file://` and build `proxy/proxy` from it. */
  flags: string[];
}

/** Creates `<tmp>/proxy-repo`: v1 at an older commit, v2 at HEAD of branch main. */
export async function makeProxyRepo(tmp: string): Promise<ProxyRepo> {
  const repo = `${tmp}/proxy-repo`;
  await Deno.mkdir(`${repo}/proxy`, { recursive: true });
  const git = "git -c user.name=test -c user.email=test@example.com";
  await sh(repo, "git init -q -b main .");
  await Deno.writeTextFile(`${repo}/proxy/proxy.sh`, proxyScript("v1"));
  await sh(repo, `git add -A && ${git} commit -q -m v1`);
  const v1 = await sh(repo, "git rev-parse HEAD");
  await Deno.writeTextFile(`${repo}/proxy/proxy.sh`, proxyScript("v2"));
  await sh(repo, `${git} commit -q -am v2`);
  const flags = [
    "-proxy-repo",
    `file://${repo}`,
    "-proxy-build",
    "cp proxy.sh proxy", // deliberately not chmod: add must keep the proxy executable
  ];
  return { repo, v1, flags };
}

/** Asks the registry over HTTP for a manifest digest (undefined when there is none). */
export async function manifestDigest(
  registry: string,
  name: string,
  tag: string,
): Promise<string | undefined> {
  const response = await fetch(`http://${registry}/v2/${name}/manifests/${tag}`, {
    method: "HEAD",
    headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json" },
  });
  await response.body?.cancel();
  return response.ok ? response.headers.get("Docker-Content-Digest") ?? undefined : undefined;
}

/** The CID v0 of `docker save <image>`, computed by `ipfs_cid` (an independent implementation). */
export async function saveCid(de: DockerEnv, image: string): Promise<string> {
  const path = `${de.tmp}/saved.tar`;
  await de.docker(["save", "-o", path, image]);
  try {
    return await ipfsCidV0(path);
  } finally {
    await Deno.remove(path);
  }
}

/** Whether the private engine has `image`. */
export async function imageExists(de: DockerEnv, image: string): Promise<boolean> {
  return await de.docker(["image", "inspect", image]).then(() => true, () => false);
}
