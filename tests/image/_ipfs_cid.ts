/**
 * Independent known answers: Debian's `ipfs_cid` (a separate IPFS
 * implementation) prints the CID v0 and v1 of a file as JSON.
 */

/** Runs `ipfs_cid <path>` and returns its CID v0. */
export async function ipfsCidV0(path: string): Promise<string> {
  const out = await new Deno.Command("ipfs_cid", { args: [path], stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`ipfs_cid ${path} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout)).CIDv0;
}
