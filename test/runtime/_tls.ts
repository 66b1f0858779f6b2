/**
 * The test-only TLS material in test/fixtures/tls and an HTTPS GET that trusts its CA on every runtime: Node
 * through `node:https` with `ca` (its fetch takes no CA), Bun through `fetch` with `tls.ca`, Deno through plain
 * `fetch`, which trusts the CA because test/run.mjs starts Deno with `DENO_CERT` pointing at it.
 */
import type { Runtime } from "../../src/runtime/types.ts";
import { repoRoot, text } from "../_helpers.ts";

export interface TlsFixture {
  ca: string;
  cert: string;
  key: string;
  caPath: string;
  certPath: string;
  keyPath: string;
}

export async function tlsFixture(rt: Runtime): Promise<TlsFixture> {
  const dir = `${repoRoot}/test/fixtures/tls`;
  const read = async (name: string) => text(await rt.fs.readFile(`${dir}/${name}`));
  return {
    ca: await read("ca.pem"),
    cert: await read("server.pem"),
    key: await read("server-key.pem"),
    caPath: `${dir}/ca.pem`,
    certPath: `${dir}/server.pem`,
    keyPath: `${dir}/server-key.pem`,
  };
}

/** GETs an https:// URL trusting `ca`; returns the status and body text. */
export async function httpsGet(rt: Runtime, url: string, ca: string): Promise<{ status: number; body: string }> {
  if (rt.name === "node") {
    const https = await import("node:https");
    return await new Promise((resolve, reject) => {
      https
        .get(url, { ca }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on("error", reject);
    });
  }
  const init = rt.name === "bun" ? ({ tls: { ca } } as RequestInit) : undefined;
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text() };
}
