// The dashboard in headless Chromium (run by scripts/ui-test.sh, which starts the mock
// and makes the CSRs): each step acts over the API or on the page and waits for the
// page to show the result.
import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const { BASE_URL: base, TOKEN_BASE_URL: tokenBase, ADMIN_TOKEN: adminToken, UI_TEST_DIR: dir, WORK: work,
  SCREENSHOT: screenshot } = process.env;
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
  check(true, "the filter narrows 126 devices to the 11 that match");
  await page.fill("#state-filter", "");
  await page.waitForFunction(() => document.querySelector("#page-info").textContent.includes("of 126"));
  await page.click("#page-next");
  await page.waitForFunction(() => document.querySelector("#page-info").textContent.startsWith("devices 51–100"));
  check(true, "paging: 50 devices a page");
  await page.click("#page-prev");
  await page.waitForFunction(() => document.querySelector("#page-info").textContent.startsWith("devices 1–50"));

  // Reset with its confirmation: back to the fixtures.
  await page.click("#btn-reset");
  await page.waitForFunction(() => document.querySelector("#page-info").textContent.includes("of 6"));
  check(true, "reset (confirmed) goes back to the fixtures' 6 devices");

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

  check(problems.length === 0, "no page errors and nothing fetched from outside the mock" +
    (problems.length ? ": " + problems.join("; ") : ""));

  await anotherSiteCannotDriveTheMock();
  await theTokenIsAskedForOnceATab();
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
