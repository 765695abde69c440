// enos-cert-mock from a Node test (node:test, no dependencies): start it on a free
// port before the tests, reset it before each test, stop it after. The binary is
// $ENOS_MOCK_BIN, else `enos-cert-mock` on the PATH. Run: node --test
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { before, beforeEach, after, test } from "node:test";
import assert from "node:assert/strict";

const ORG = "o15444172373271";
let mock;
let base;

before(async () => {
  mock = spawn(process.env.ENOS_MOCK_BIN ?? "enos-cert-mock", ["--port", "0", "--mqtt-tls-port", "0", "--mqtt-port", "0"], {
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  // The mock binds before it logs this line, so the URL is ready when we read it.
  base = await new Promise((resolve, reject) => {
    mock.once("exit", (code) => reject(new Error(`enos-cert-mock exited with ${code}`)));
    createInterface({ input: mock.stdout }).on("line", (line) => {
      const match = line.match(/listening on (http:\/\/\S+)/);
      if (match) resolve(match[1]);
    });
  });
});

beforeEach(async () => {
  const response = await fetch(`${base}/__admin/reset`, { method: "POST" });
  assert.equal(response.status, 200);
});

after(() => mock.kill());

async function createDevice() {
  const response = await fetch(`${base}/connect-service/v2.1/devices?action=create&orgId=${ORG}`, {
    method: "POST",
    headers: { "apim-accesstoken": "test", "Content-Type": "application/json" },
    body: JSON.stringify({
      productKey: "BiDiProd", deviceName: "Recipe", timezone: "+08:00", deviceKey: "recipe-1",
    }),
  });
  return response.json();
}

// The same device twice: each passes only because of the reset in between.
test("create a device", async () => {
  const answer = await createDevice();
  assert.equal(answer.code, 0, answer.msg);
  assert.equal(answer.data.deviceKey, "recipe-1");
});

test("create it again after the reset", async () => {
  const answer = await createDevice();
  assert.equal(answer.code, 0, answer.msg);
});
