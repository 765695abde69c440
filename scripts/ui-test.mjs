// The dashboard in headless Chromium (run by scripts/ui-test.sh, which starts the mock
// and makes the CSRs): each step acts over the API or on the page and waits for the
// page to show the result.
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import net from "node:net";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const { BASE_URL: base, TOKEN_BASE_URL: tokenBase, ADMIN_TOKEN: adminToken, UI_TEST_DIR: dir, WORK: work,
  SCREENSHOT: screenshot, LAYOUT_SCREENSHOT: layoutShot } = process.env;
const { chromium } = createRequire(join(dir, "package.json"))("playwright-core");

const ORG = "o15444172373271";
const DEVICE = "Uvmm5AXU"; // bi-directional, in fixtures/default.json
const TIMEOUT = 15000;

function check(ok, what) {
  if (!ok) throw new Error("check failed: " + what);
  console.log("ui-test: ok   " + what);
}

async function enos(action, body, device = DEVICE) {
  const url = `${base}/connect-service/v2.0/certificates?action=${action}&orgId=${ORG}&assetId=${device}`;
  const res = await fetch(url, {
    method: "POST",
    headers: { "apim-accesstoken": "ui-test", "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return res.json();
}

async function apply(csrFile, authority) {
  const answer = await enos("apply", { csr: readFileSync(join(work, csrFile), "utf8"), issueAuthority: authority });
  if (answer.code !== 0) throw new Error("apply failed: " + JSON.stringify(answer));
  return String(answer.data.certSN);
}

// A device over MQTT 3.1.1 on the plain port, in a few lines: CONNECT with the EnOS login
// (sha256 of the sorted content and the secret), PUBLISH QoS 0, and the PUBLISHes it gets.
function mqttString(text) {
  const b = Buffer.from(text);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);
}
function mqttPacket(first, body) {
  const len = [];
  let n = body.length;
  do { let byte = n % 128; n = Math.floor(n / 128); if (n > 0) byte |= 128; len.push(byte); } while (n > 0);
  return Buffer.concat([Buffer.from([first, ...len]), body]);
}
async function mqttDevice(port, pk, dk, secret) {
  const ts = String(Date.now());
  const password = createHash("sha256").update(`clientIdui-${dk}deviceKey${dk}productKey${pk}timestamp${ts}${secret}`).digest("hex");
  const socket = net.connect(port, "127.0.0.1");
  let buf = Buffer.alloc(0);
  const waiting = [];
  const messages = [];
  socket.on("data", (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      let len = 0, mult = 1, at = 1;
      for (; at < buf.length; at++) { len += (buf[at] & 127) * mult; mult *= 128; if (!(buf[at] & 128)) break; }
      if (at >= buf.length || buf.length < at + 1 + len) return;
      const first = buf[0], type = first >> 4, qos = (first >> 1) & 3;
      const body = buf.subarray(at + 1, at + 1 + len);
      buf = buf.subarray(at + 1 + len);
      if (type === 3) {
        const tlen = body.readUInt16BE(0), topic = body.subarray(2, 2 + tlen).toString();
        const pkid = qos > 0 ? body.readUInt16BE(2 + tlen) : 0;
        messages.push({ topic, payload: body.subarray(2 + tlen + (qos > 0 ? 2 : 0)).toString() });
        if (qos > 0) socket.write(Buffer.from([0x40, 2, pkid >> 8, pkid & 255]));
      } else {
        messages.push({ type });
      }
      while (waiting.length) waiting.shift()();
    }
  });
  await new Promise((ok, bad) => { socket.once("connect", ok); socket.once("error", bad); });
  const next = async (match) => {
    for (;;) {
      const i = messages.findIndex(match);
      if (i >= 0) return messages.splice(i, 1)[0];
      await new Promise((ok) => { waiting.push(ok); setTimeout(ok, 200); });
    }
  };
  const variable = Buffer.concat([mqttString("MQTT"), Buffer.from([4, 0xc2, 0, 60])]);
  const payload = Buffer.concat([mqttString(`ui-${dk}|securemode=2,signmethod=hmacsha256,timestamp=${ts}|`),
    mqttString(`${dk}&${pk}`), mqttString(password)]);
  socket.write(mqttPacket(0x10, Buffer.concat([variable, payload])));
  const connack = await next((m) => m.type === 2);
  return {
    connack,
    publish: (topic, text) => socket.write(mqttPacket(0x30, Buffer.concat([mqttString(topic), Buffer.from(text)]))),
    subscribe: (filter) => socket.write(mqttPacket(0x82, Buffer.concat([Buffer.from([0, 1]), mqttString(filter), Buffer.from([0])]))),
    next,
    close: () => socket.destroy(),
  };
}

async function adminJson(path, url = base) {
  const res = await fetch(url + path, { headers: { authorization: "Bearer " + adminToken } });
  return res.json();
}

// A page on another site (served by the browser itself at http://attacker.test) posts to the
// control plane as a CSRF would: with fetch (no-cors, text/plain) and with a form. The mock
// must refuse both, while a request to an EnOS path from the same page shows that the
// browser did reach the mock. Then the page's name is rebound to the mock (DNS rebinding).
async function anotherSiteCannotDriveTheMock() {
  const before = await adminJson("/__admin/clock");
  await fetch(base + "/__admin/faults", { method: "POST", body: JSON.stringify({ action: "revoke", times: 3, httpStatus: 503 }) });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.route("http://attacker.test/**", (route) => route.fulfill({
    contentType: "text/html",
    body: `<!doctype html><title>attacker</title>
      <form id="f" method="POST" action="${base}/__admin/reset" enctype="text/plain"><input name="x" value="1"></form>`,
  }));
  await page.goto("http://attacker.test/");
  const control = `/connect-service/v2.0/certificates?action=list&orgId=${ORG}&assetId=${DEVICE}&probe=attacker`;
  await page.evaluate(async ([base, control]) => {
    await fetch(base + "/__admin/clock", { method: "POST", mode: "no-cors", body: '{"reset": true}' });
    await fetch(base + "/__admin/faults", { method: "DELETE", mode: "no-cors" }).catch(() => null);
    await fetch(base + control, { method: "POST", mode: "no-cors", body: "{}" });
  }, [base, control]);
  const journal = await (await fetch(base + "/__admin/requests?limit=1000")).json();
  check(journal.some((e) => (e.query || "").includes("probe=attacker")),
    "a page on another site reaches the mock (its EnOS call is in the journal)");
  await Promise.all([page.waitForNavigation(), page.evaluate(() => document.getElementById("f").submit())]);
  const refused = await page.textContent("body");
  check(refused.includes("cross-origin request refused"), "its form POST to /__admin/reset is refused: " + refused.slice(0, 120));
  const after = await adminJson("/__admin/clock");
  const faults = await adminJson("/__admin/faults");
  check(after.offsetSeconds === before.offsetSeconds && faults.some((f) => f.action === "revoke"),
    "neither its fetches nor its form changed the clock or the faults");
  await fetch(base + "/__admin/faults", { method: "DELETE" });

  const port = new URL(base).port;
  const rebound = await page.goto(`http://rebind.test:${port}/__admin/health`);
  const text = await rebound.text();
  check(rebound.status() === 403 && text.includes("--allowed-hosts rebind.test"),
    "a name rebound to the mock's address gets 403 naming --allowed-hosts: " + text.slice(0, 80));
  await page.close();
}

// A mock started with --admin-token: the page asks for the token on the first 401, says
// so when it is wrong, keeps it for the tab (a reload does not ask again), and a new tab asks.
async function theTokenIsAskedForOnceATab() {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  let opened = 0;
  await page.exposeFunction("tokenDialogOpened", () => { opened += 1; });
  await page.addInitScript(() => {
    const show = HTMLDialogElement.prototype.showModal;
    HTMLDialogElement.prototype.showModal = function () { if (this.id === "token-dialog") window.tokenDialogOpened(); return show.call(this); };
  });
  await page.goto(tokenBase + "/__admin/ui");
  await page.waitForSelector("#token-dialog[open]");
  check(await page.isHidden("#token-error"), "a mock with --admin-token: the page asks for the token");
  await page.fill("#token-input", "not-the-token");
  await page.click("[data-testid=token-submit]");
  await page.waitForSelector("#token-dialog[open] #token-error:not([hidden])");
  check(true, "a wrong token is refused, and the page asks again saying so");
  await page.fill("#token-input", adminToken);
  await page.click("[data-testid=token-submit]");
  await page.waitForSelector(`[data-testid=device][data-asset-id=${DEVICE}]`);
  await page.click("#clock-advance");
  await page.waitForFunction(() => document.querySelector("#flash").textContent.startsWith("clock advanced"));
  const clock = await adminJson("/__admin/clock", tokenBase);
  check(clock.offsetSeconds >= 86400 - 5, "with the token the page lists devices and moves the clock");
  await page.waitForTimeout(3500); // two rounds of polling
  check(opened === 2 && !(await page.isVisible("#token-dialog")), `asked twice (wrong, right), not again while polling (${opened})`);
  await page.reload();
  await page.waitForSelector(`[data-testid=device][data-asset-id=${DEVICE}]`);
  check(opened === 2 && (await page.evaluate(() => sessionStorage.length)) === 1, "a reload of the tab keeps the token: not asked again");
  const other = await context.newPage();
  await other.goto(tokenBase + "/__admin/ui");
  await other.waitForSelector("#token-dialog[open]");
  check(true, "a new tab asks again (the token is kept per tab)");
  await other.close();
  await page.close();
  check(errors.length === 0, "no page errors with a token" + (errors.length ? ": " + errors.join("; ") : ""));
}

const profile = mkdtempSync(join(tmpdir(), "ui-test-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1400, height: 1000 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    // A DNS-rebinding name: resolves to the mock's loopback address.
    "--host-resolver-rules=MAP rebind.test 127.0.0.1",
    // Chromium's own guard (Local Network Access) would stop the attacker page's requests
    // before they reach the mock; off, this is a browser without it (or a user who allowed it).
    "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights"],
});
try {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  // A 404 is logged as "Failed to load resource" (the optional /__admin/connections): not a fault of the page.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push("console error: " + m.text());
  });
  page.on("request", (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith("blob:") && !r.url().startsWith("data:")) {
      problems.push("fetched from outside the mock: " + r.url());
    }
  });
  page.on("dialog", (d) => d.accept());

  // / leads to the page, which draws the fixtures' devices.
  await page.goto(base + "/");
  check(page.url() === base + "/__admin/ui", "/ redirects to /__admin/ui");
  await page.waitForSelector(`[data-testid=device][data-asset-id=${DEVICE}]`);
  check(true, "the page lists fixture device " + DEVICE);
  await page.waitForSelector("[data-testid=root][data-authority=RSA]");
  await page.waitForSelector("[data-testid=root][data-authority=ECC]");
  check(true, "the CA section shows both roots");

  // Applied over the API: appears, valid.
  const first = await apply("rsa.csr", "RSA");
  await page.waitForSelector(`[data-testid=cert][data-serial="${first}"][data-status=valid]`);
  check(true, `certificate ${first} applied over the API appears as valid`);

  // Its details: decoded fields, extensions, PEM.
  await page.click(`[data-testid=cert][data-serial="${first}"]`);
  await page.waitForSelector("#cert-dialog[open]");
  const serialShown = await page.textContent("#cd-fields [data-field=serial]");
  const pem = await page.textContent("#cd-pem");
  const extensions = await page.locator("#cd-ext tr").count();
  check(serialShown.trim() === first && pem.startsWith("-----BEGIN CERTIFICATE-----") && extensions > 0,
    "clicking it shows serial, PEM and extensions");
  check((await page.getAttribute("#cd-download", "download")) === `cert-${first}.pem`, "the PEM can be downloaded");
  await page.click("#cd-close");

  // Advanced from the page past notAfter (BiDiProd: 730 days): expired.
  await page.fill("#clock-amount", "3");
  await page.selectOption("#clock-unit", "years");
  await page.click("#clock-advance");
  await page.waitForSelector(`[data-testid=cert][data-serial="${first}"][data-status=expired]`);
  const offset = await (await fetch(base + "/__admin/clock")).json();
  check(offset.offsetSeconds >= 3 * 365 * 86400 - 5, "advancing the clock 3 years from the page moved the mock clock");
  check(true, `certificate ${first} shows as expired`);
  await page.click("#clock-reset");
  await page.waitForSelector(`[data-testid=cert][data-serial="${first}"][data-status=valid]`);
  check(true, "resetting the clock from the page makes it valid again");

  // Revoked over the API: in the ECC root's CRL view.
  const second = await apply("ecc.csr", "ECC");
  const revoked = await enos("revoke", { certSn: Number(second), reason: "KEY_COMPROMISE" });
  check(revoked.code === 0, "certificate " + second + " revoked over the API");
  await page.waitForSelector(`#crl-ECC [data-testid=crl-entry][data-serial="${second}"]`);
  check((await page.textContent(`#crl-ECC [data-serial="${second}"]`)).includes("KEY_COMPROMISE"),
    "the page's ECC CRL view lists it with its reason");
  await page.waitForSelector(`[data-testid=cert][data-serial="${second}"][data-status=revoked]`);
  check(true, "the state shows it as revoked");

  // A fault added from the page: the next apply answers that catalogue row.
  const catalogue = await (await fetch(base + "/__admin/errors")).json();
  const row = catalogue.find((r) => r.key === "cert_service_internal");
  await page.selectOption("#fault-error", row.key);
  await page.selectOption("#fault-action", "apply");
  await page.fill("#fault-device", DEVICE);
  await page.fill("#fault-times", "1");
  await page.click("#fault-add");
  await page.waitForSelector("[data-testid=fault-row]");
  const faults = await (await fetch(base + "/__admin/faults")).json();
  check(faults.length === 1 && faults[0].error === row.key && faults[0].assetId === DEVICE && faults[0].times === 1,
    "the page registered the fault (" + JSON.stringify(faults[0]) + ")");
  const failed = await enos("apply", { csr: readFileSync(join(work, "rsa.csr"), "utf8") });
  check(failed.code === row.code && failed.msg === row.msg, `the next apply answers ${row.code} ${row.msg}`);
  await page.waitForSelector(`[data-testid=activity-row][data-action=apply][data-code="${row.code}"]`);
  check(true, "the activity view shows that answer's EnOS code");
  await page.waitForSelector("[data-testid=faults-list] [data-testid=fault-row]", { state: "detached" });
  check(true, "the spent fault leaves the list");

  // Paging and filtering over more devices.
  const bulk = await fetch(base + "/__admin/bulk/devices", {
    method: "POST",
    body: JSON.stringify({ orgId: ORG, productKey: "ShortPrd", count: 120, prefix: "sensor-", issueAuthority: "ECC" }),
  });
  check(bulk.ok, "120 devices bulk-loaded");
  await page.fill("#state-filter", "sensor-11");
  await page.waitForFunction(() => {
    const ids = [...document.querySelectorAll("[data-testid=device]")].map((d) => d.dataset.assetId);
    return ids.length === 11 && ids.every((id) => id.startsWith("sensor-11"));
  });
  check(true, "the filter narrows 129 devices to the 11 that match");
  await page.fill("#state-filter", "");
  await page.waitForFunction(() => document.querySelector("#page-info").textContent.includes("of 129"));
  await page.click("#page-next");
  await page.waitForFunction(() => document.querySelector("#page-info").textContent.startsWith("devices 51–100"));
  check(true, "paging: 50 devices a page");
  await page.click("#page-prev");
  await page.waitForFunction(() => document.querySelector("#page-info").textContent.startsWith("devices 1–50"));

  // Reset with its confirmation: back to the fixtures.
  await page.click("#btn-reset");
  await page.waitForFunction(() => document.querySelector("#page-info").textContent.includes("of 9"));
  check(true, "reset (confirmed) goes back to the fixtures' 9 devices");

  // A device online: its session and messages on the page, and a command sent from it.
  const GATEWAY = "Pl9gY1wQ";
  const got = await (await fetch(`${base}/connect-service/v2.1/devices?action=get&orgId=${ORG}&assetId=${GATEWAY}`,
    { headers: { "apim-accesstoken": "ui-test" } })).json();
  const { productKey: pk, deviceKey: dk, deviceSecret } = got.data;
  const health = await (await fetch(base + "/__admin/health")).json();
  const device = await mqttDevice(health.mqtt.port, pk, dk, deviceSecret);
  check(device.connack.type === 2, "a device connects over MQTT");
  device.publish(`/sys/${pk}/${dk}/thing/measurepoint/post`,
    JSON.stringify({ id: "ui-1", version: "1.0", method: "thing.measurepoint.post", params: { measurepoints: { temperature: 21.5 } } }));
  await page.waitForSelector(`[data-testid=device][data-asset-id=${GATEWAY}] [data-testid=online]`);
  check(true, "the state marks the device online");
  await page.click(`[data-testid=device][data-asset-id=${GATEWAY}] [data-testid=online]`);
  await page.waitForSelector("[data-testid=session-detail]:not([hidden]) [data-testid=session-message][data-direction=up]");
  check((await page.textContent("[data-testid=session-messages]")).includes("thing/measurepoint/post"),
    "clicking it shows its session and the message it sent");
  await page.fill("#cmd-payload", JSON.stringify({ id: "ui-cmd", version: "1.0", method: "thing.service.measurepoint.set", params: { temperature: 30 } }));
  await page.click("#cmd-send");
  const command = await device.next((m) => m.topic === `/sys/${pk}/${dk}/thing/service/measurepoint/set`);
  check(JSON.parse(command.payload).id === "ui-cmd", "the command sent from the page reaches the device");
  device.publish(command.topic + "_reply", JSON.stringify({ id: "ui-cmd", code: 200, data: {}, message: "set from the device" }));
  await page.waitForFunction(() => document.querySelector("#cmd-result").textContent.includes("set from the device"));
  check(true, "the device's reply shows on the page");
  await page.waitForSelector("[data-testid=session-message][data-direction=down]");
  check(true, "the command is among the session's recent messages");

  // A reply fault from the page: a device reply row of the catalogue, for one method.
  await page.selectOption("#fault-error", "mqtt_measurepoint_format_error");
  await page.selectOption("#fault-action", "thing.measurepoint.post");
  await page.fill("#fault-device", "");
  await page.fill("#fault-times", "1");
  await page.click("#fault-add");
  await page.waitForSelector("[data-testid=fault-row]");
  const replyFaults = await (await fetch(base + "/__admin/faults")).json();
  check(replyFaults.length === 1 && replyFaults[0].action === "mqtt.reply" && replyFaults[0].method === "thing.measurepoint.post"
    && replyFaults[0].code === 1206, "the page registered an mqtt.reply fault (" + JSON.stringify(replyFaults[0]) + ")");
  device.subscribe(`/sys/${pk}/${dk}/thing/measurepoint/post_reply`);
  await device.next((m) => m.type === 9);
  device.publish(`/sys/${pk}/${dk}/thing/measurepoint/post`,
    JSON.stringify({ id: "ui-2", version: "1.0", method: "thing.measurepoint.post", params: { measurepoints: { temperature: 22 } } }));
  const faulted = JSON.parse((await device.next((m) => m.topic === `/sys/${pk}/${dk}/thing/measurepoint/post_reply`)).payload);
  check(faulted.code === 1206 && faulted.id === "ui-2", "the device's next post is answered 1206 (" + faulted.message + ")");

  // The screenshot for docs/dashboard.md: a few devices with certificates in each state.
  const a = await apply("rsa.csr", "RSA");
  const b = await apply("ecc.csr", "ECC");
  await enos("revoke", { certSn: Number(b), reason: "KEY_COMPROMISE" });
  await fetch(base + "/__admin/bulk/devices", {
    method: "POST",
    body: JSON.stringify({ orgId: ORG, productKey: "ShortPrd", count: 3, prefix: "sensor-", issueAuthority: "ECC" }),
  });
  await fetch(base + "/__admin/clock", { method: "POST", body: JSON.stringify({ advanceDays: 45 }) });
  await page.waitForSelector(`[data-testid=cert][data-serial="${b}"][data-status=revoked]`);
  await page.waitForSelector(`[data-testid=cert][data-serial="${a}"][data-status=valid]`);
  await page.waitForSelector("[data-testid=cert][data-status=expired]");
  await page.screenshot({ path: screenshot, fullPage: true });
  check(true, "screenshot saved to " + screenshot);
  device.close();

  // The layout with 1,000 devices: the right-hand panels stay one stack beside the list,
  // and no CRL cell spills out of its column.
  const big = await fetch(base + "/__admin/bulk/devices", {
    method: "POST",
    body: JSON.stringify({ orgId: ORG, productKey: "ShortPrd", count: 1000, prefix: "bulk-", issueAuthority: "ECC" }),
  });
  check(big.ok, "1,000 more devices bulk-loaded");
  await page.selectOption("#page-size", "250");
  await page.waitForFunction(() => document.querySelector("#page-info").textContent.startsWith("devices 1–250 of 10"));
  const layout = await page.evaluate(() => {
    const box = (id) => document.getElementById(id).getBoundingClientRect();
    const side = ["online-section", "clock-section", "faults-section", "ca-section"].map(box);
    const gaps = side.slice(1).map((b, i) => Math.round(b.top - side[i].bottom));
    const state = box("state");
    const spilled = [...document.querySelectorAll("#cas td, #cas th")].filter((c) => c.scrollWidth > c.clientWidth + 1).length;
    return { gaps, stateHeight: Math.round(state.height), sideLeft: Math.round(side[0].left), stateRight: Math.round(state.right), spilled };
  });
  check(layout.stateHeight > 5000 && layout.gaps.every((g) => g >= 8 && g <= 24) && layout.sideLeft > layout.stateRight,
    "with 250 devices on the page the right-hand panels stay stacked beside it (gaps " + layout.gaps.join(", ") + " px)");
  check(layout.spilled === 0, "no CRL cell is clipped");
  if (layoutShot) {
    await page.screenshot({ path: layoutShot });
    check(true, "layout screenshot saved to " + layoutShot);
  }

  check(problems.length === 0, "no page errors and nothing fetched from outside the mock" +
    (problems.length ? ": " + problems.join("; ") : ""));

  await anotherSiteCannotDriveTheMock();
  await theTokenIsAskedForOnceATab();
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
