// The sandbox accepts any Bearer key and holds the uploaded training files, so it listens on loopback only.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openDb } from "../../src/db/open.ts";
import { startSandbox } from "../../src/sandbox/server.ts";
import { startRig } from "./helpers.ts";

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

describe("sandbox address", () => {
  it("listens on 127.0.0.1 and on none of the machine's other addresses", async () => {
    const rig = await startRig();
    try {
      const url = new URL(rig.sandbox.url);
      assert.equal(url.hostname, "127.0.0.1");
      const port = Number(url.port);
      assert.equal(await accepts("127.0.0.1", port), true);
      const others = Object.values(networkInterfaces())
        .flat()
        .filter((a) => a !== undefined && !a.internal && a.family === "IPv4")
        .map((a) => a?.address as string);
      for (const address of others) assert.equal(await accepts(address, port), false, address);
    } finally {
      await rig.close();
    }
  });

  it("refuses to listen on an address other than loopback", async () => {
    const db = openDb(":memory:");
    const dir = mkdtempSync(join(tmpdir(), "sandbox-listen-"));
    try {
      for (const host of ["0.0.0.0", "::", "192.0.2.10"]) {
        const started = await startSandbox({ db, dataDir: dir, host }).catch((err: Error) => err);
        if (!(started instanceof Error)) {
          await started.close();
          assert.fail(`it listened on ${host}`);
        }
        assert.match(started.message, /listens on loopback only/, host);
      }
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
