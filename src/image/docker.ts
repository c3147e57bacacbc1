/**
 * A thin wrapper around the `docker` command-line tool: build, push, pull,
 * save and inspect, with Docker's failures turned into clear errors.
 *
 * @module
 */
import { registryOf } from "./image_ref.ts";

/** How to run `docker`. */
export interface DockerOptions {
  /** The environment for `docker` (PATH finds the binary; DOCKER_HOST picks the engine). */
  env: Record<string, string | undefined>;
  /** Receives Docker's progress output as it arrives. */
  onOutput?: (text: string) => void;
  /** The docker binary (default `docker`, found on PATH). */
  binary?: string;
}

/** A `docker` command that failed. */
export class DockerError extends Error {
  /**
   * @param message What failed and what to do.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DockerError";
  }
}

/** `docker` is not installed, or its engine cannot be reached. */
export class DockerUnavailableError extends DockerError {
  /**
   * @param message What is missing and how to fix it.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DockerUnavailableError";
  }
}

/** A registry refused a push or pull for lack of credentials. */
export class DockerAuthError extends DockerError {
  /**
   * @param message Which registry refused, and the `docker login` to run.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DockerAuthError";
  }
}

/**
 * A running `docker save`: its tar stream and how it ended. Cancelling the
 * stream or disposing the save kills `docker save`, so a reader that gives up
 * partway (a failed hash) leaves no process behind, blocked on a full pipe.
 */
export interface DockerSave extends AsyncDisposable {
  /** The tar bytes; read it to the end, or cancel it to stop `docker save`. */
  stream: ReadableStream<Uint8Array>;
  /** Resolves when `docker save` succeeded, rejects with a {@linkcode DockerError} otherwise. */
  done: Promise<void>;
  /** Kills `docker save` unless it has exited, and waits for it; never throws. */
  [Symbol.asyncDispose](): Promise<void>;
}

const UNREACHABLE =
  /Cannot connect to the Docker daemon|error during connect|Is the docker daemon running/i;
const UNAUTHORIZED =
  /unauthorized|authentication required|no basic auth credentials|requested access to the resource is denied|denied:/i;
const OUTPUT_TAIL = 4000;

/**
 * Runs the `docker` CLI. Never prompts: standard input is closed, and
 * credentials come from `docker login`.
 *
 * @example
 * ```ts ignore
 * import { Docker } from "./docker.ts";
 * const docker = new Docker({ env: Deno.env.toObject(), onOutput: (t) => console.log(t) });
 * await docker.checkEngine();
 * const id = await docker.build("./context", "localhost:5000/team/svc:1.0");
 * const digest = await docker.push("localhost:5000/team/svc:1.0");
 * ```
 */
export class Docker {
  #env: Record<string, string>;
  #onOutput: (text: string) => void;
  #binary: string;

  /** @param options The environment and where progress goes. */
  constructor(options: DockerOptions) {
    this.#env = Object.fromEntries(
      Object.entries(options.env).filter((entry): entry is [string, string] =>
        entry[1] !== undefined
      ),
    );
    this.#onOutput = options.onOutput ?? (() => {});
    this.#binary = options.binary ?? "docker";
  }

  #spawn(args: string[], stdout: "piped" | "null" = "piped"): Deno.ChildProcess {
    try {
      return new Deno.Command(this.#binary, {
        args,
        env: this.#env,
        clearEnv: true,
        stdin: "null",
        stdout,
        stderr: "piped",
      }).spawn();
    } catch (cause) {
      if (cause instanceof Deno.errors.NotFound) {
        throw new DockerUnavailableError(
          `"${this.#binary}" was not found on PATH; install Docker (Debian: apt-get install docker.io)`,
          { cause },
        );
      }
      throw new DockerError(`cannot run ${this.#binary}: ${(cause as Error).message}`, { cause });
    }
  }

  /** Turns a failed command's output into the clearest error for it. */
  #failure(args: string[], output: string, image?: string): DockerError {
    const detail = output.trim().slice(-OUTPUT_TAIL);
    const command = `docker ${args[0]}`;
    if (UNREACHABLE.test(detail)) {
      const host = this.#env.DOCKER_HOST ?? "the default socket";
      return new DockerUnavailableError(
        `the Docker engine is unreachable (DOCKER_HOST: ${host}); start Docker or point ` +
          `DOCKER_HOST at a running engine.\n${detail}`,
      );
    }
    if (image !== undefined && UNAUTHORIZED.test(detail)) {
      const registry = registryOf(image);
      return new DockerAuthError(
        `${command} ${image} was refused for lack of credentials; run ` +
          `\`docker login ${registry}\` and try again.\n${detail}`,
      );
    }
    return new DockerError(`${command} failed:\n${detail}`);
  }

  /**
   * Runs docker, streaming its output (when `stream`) and returning stdout.
   * Throws the error {@linkcode Docker.#failure} picks when it exits non-zero.
   */
  async #run(args: string[], options: { stream?: boolean; image?: string } = {}): Promise<string> {
    const child = this.#spawn(args);
    const decoder = () => new TextDecoderStream();
    let all = "";
    let stdout = "";
    const pump = async (readable: ReadableStream<Uint8Array>, isStdout: boolean) => {
      for await (const text of readable.pipeThrough(decoder())) {
        if (isStdout) stdout += text;
        all = (all + text).slice(-OUTPUT_TAIL * 4);
        if (options.stream) this.#onOutput(text);
      }
    };
    const [status] = await Promise.all([
      child.status,
      pump(child.stdout, true),
      pump(child.stderr, false),
    ]);
    if (!status.success) throw this.#failure(args, all, options.image);
    return stdout;
  }

  /**
   * Checks that `docker` exists and its engine answers.
   *
   * @throws {DockerUnavailableError} When either is not the case.
   *
   * @example
   * ```ts ignore
   * import { Docker } from "./docker.ts";
   * await new Docker({ env: Deno.env.toObject() }).checkEngine();
   * ```
   */
  async checkEngine(): Promise<void> {
    try {
      await this.#run(["version", "--format", "{{.Server.Version}}"]);
    } catch (error) {
      if (error instanceof DockerUnavailableError) throw error;
      throw new DockerUnavailableError(
        `the Docker engine did not answer \`docker version\`; check that Docker runs ` +
          `and DOCKER_HOST is right.\n${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /**
   * Builds `contextDir` (with its `Dockerfile`) as image `tag`, streaming progress.
   *
   * @param contextDir The build context directory.
   * @param tag The image name to give the result.
   * @returns The built image's ID (`sha256:...`).
   *
   * @example
   * ```ts ignore
   * import { Docker } from "./docker.ts";
   * const id = await new Docker({ env: Deno.env.toObject() }).build("./ctx", "svc:1.0");
   * ```
   */
  async build(contextDir: string, tag: string): Promise<string> {
    const iidFile = await Deno.makeTempFile({ prefix: "registry-cli-iid-" });
    try {
      await this.#run(["build", "--iidfile", iidFile, "-t", tag, contextDir], { stream: true });
      const id = (await Deno.readTextFile(iidFile)).trim();
      if (!id) throw new DockerError(`docker build of ${tag} reported no image ID`);
      return id;
    } finally {
      await Deno.remove(iidFile).catch(() => {});
    }
  }

  /**
   * Pushes `image` and returns the manifest digest the registry acknowledged.
   *
   * @param image The image name (with tag) to push.
   * @returns The pushed digest, `sha256:...`.
   * @throws {DockerAuthError} When the registry wants credentials.
   *
   * @example
   * ```ts ignore
   * import { Docker } from "./docker.ts";
   * const digest = await new Docker({ env: Deno.env.toObject() }).push("localhost:5000/svc:1.0");
   * ```
   */
  async push(image: string): Promise<string> {
    const out = await this.#run(["push", image], { stream: true, image });
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
    if (!digest) throw new DockerError(`docker push ${image} did not report a digest:\n${out}`);
    return digest;
  }

  /**
   * Pulls `image` and returns its manifest digest.
   *
   * @param image The image name (tag or digest) to pull.
   * @returns The digest, `sha256:...`.
   *
   * @example
   * ```ts ignore
   * import { Docker } from "./docker.ts";
   * const digest = await new Docker({ env: Deno.env.toObject() }).pull("localhost:5000/svc:1.0");
   * ```
   */
  async pull(image: string): Promise<string> {
    const out = await this.#run(["pull", image], { stream: true, image });
    const digest = /Digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1];
    if (!digest) throw new DockerError(`docker pull ${image} did not report a digest:\n${out}`);
    return digest;
  }

  /**
   * Returns the ID of a local image.
   *
   * @param image An image name or ID.
   * @returns The image ID, `sha256:...`.
   *
   * @example
   * ```ts ignore
   * import { Docker } from "./docker.ts";
   * const id = await new Docker({ env: Deno.env.toObject() }).imageId("svc:1.0");
   * ```
   */
  async imageId(image: string): Promise<string> {
    return (await this.#run(["image", "inspect", "--format", "{{.Id}}", image])).trim();
  }

  /**
   * Returns the size of a local image in bytes (about the size of its `docker save` tar).
   *
   * @param image An image name or ID.
   * @returns The image's size as Docker reports it.
   *
   * @example
   * ```ts ignore
   * import { Docker } from "./docker.ts";
   * const bytes = await new Docker({ env: Deno.env.toObject() }).imageSize("svc:1.0");
   * ```
   */
  async imageSize(image: string): Promise<number> {
    return Number((await this.#run(["image", "inspect", "--format", "{{.Size}}", image])).trim());
  }

  /**
   * Starts `docker save` of `image` and hands out its tar as a stream, so a
   * large image never sits in memory. Cancelling the stream kills `docker save`;
   * `await using` kills it too when the block is left before the end.
   *
   * @param image The image name to save.
   * @returns The tar stream and a promise for how `docker save` ended.
   *
   * @example
   * ```ts ignore
   * import { Docker } from "./docker.ts";
   * import { contentHash } from "./content_hash.ts";
   * await using save = new Docker({ env: Deno.env.toObject() }).save("svc:1.0");
   * const [cid] = await Promise.all([contentHash(save.stream), save.done]);
   * ```
   */
  save(image: string): DockerSave {
    const args = ["save", image];
    const child = this.#spawn(args);
    const stderr = new Response(child.stderr).text();
    const tar = child.stdout.getReader();
    let exited = false;
    let stopped = false;
    const status = child.status.finally(() => (exited = true));
    const stop = async (): Promise<void> => {
      if (!exited) {
        stopped = true;
        try {
          child.kill("SIGKILL");
        } catch {
          // It exited meanwhile.
        }
      }
      await tar.cancel().catch(() => {});
      await status;
    };
    const done = (async () => {
      const [{ success }, text] = await Promise.all([status, stderr]);
      if (stopped) {
        throw new DockerError(
          `docker save of ${image} was stopped before it finished: its output was not read`,
        );
      }
      if (!success) throw this.#failure(args, text, image);
    })();
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await tar.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: stop,
    }, { highWaterMark: 0 });
    return {
      stream,
      done,
      async [Symbol.asyncDispose]() {
        // Handled first: stopping makes `done` reject, and the caller may never look at it.
        const settled = done.catch(() => {});
        await stop();
        await settled;
      },
    };
  }
}
