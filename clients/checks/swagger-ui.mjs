// Swagger UI in headless Chromium, against a running dataset-api.
//
//   DATASET_API_URL=http://127.0.0.1:8000 DATASET_API_TOKEN=<admin token> node swagger-ui.mjs
//
// Checks that /ui/ renders a section for every tag and an operation block for every (path, method)
// of the served document (/openapi.json), authorizes with the bearer token through the Authorize
// dialog, then runs POST /projects with "Try it out" and the request body exactly as Swagger UI
// fills it in, and expects 201 in the live response. Any failure exits 1 with a message.
// Optional: SCREENSHOT=<file.png> (taken at the end, on failure too), CHROMIUM_PATH (default
// /usr/bin/chromium), SWAGGER_UI_TIMEOUT_MS (default 30000, per step).

import { chromium } from "playwright-core";

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const BASE = (process.env.DATASET_API_URL || "").replace(/\/+$/, "");
const TOKEN = process.env.DATASET_API_TOKEN || "";
const SCREENSHOT = process.env.SCREENSHOT || "";
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const TIMEOUT = Number(process.env.SWAGGER_UI_TIMEOUT_MS || 30000);

class CheckFailure extends Error {}
const fail = (message) => { throw new CheckFailure(message); };
const log = (message) => console.log(`swagger-ui: ${message}`);

async function loadDocument() {
  let response;
  try {
    response = await fetch(`${BASE}/openapi.json`, { headers: { Accept: "application/json" } });
  } catch (error) {
    fail(`cannot fetch ${BASE}/openapi.json: ${error.cause?.message || error.message}`);
  }
  if (response.status !== 200) fail(`GET ${BASE}/openapi.json answered ${response.status}`);
  return response.json();
}

/** {tag: [{method, path}]} as Swagger UI groups them: an operation under each of its tags, or "default". */
function expectedLayout(doc) {
  const byTag = new Map((doc.tags || []).map((tag) => [tag.name, []]));
  let operations = 0;
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      operations += 1;
      for (const tag of operation.tags?.length ? operation.tags : ["default"]) {
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push({ method, path });
      }
    }
  }
  return { byTag, operations };
}

/** What the page shows: {tag: [{method, path}]} read from the tag sections' operation blocks. */
async function renderedLayout(page) {
  return page.$$eval(".opblock-tag-section", (sections) => sections.map((section) => ({
    tag: section.querySelector("h3.opblock-tag")?.getAttribute("data-tag") ?? "",
    operations: [...section.querySelectorAll(".opblock")].map((block) => ({
      method: (block.querySelector(".opblock-summary-method")?.textContent || "").trim().toLowerCase(),
      path: block.querySelector(".opblock-summary-path")?.getAttribute("data-path") ?? "",
      classMethod: [...block.classList].find((c) => c.startsWith("opblock-") && c !== "opblock-deprecated")
        ?.slice("opblock-".length) ?? "",
    })),
  })));
}

async function errorsShown(page) {
  const wrapper = page.locator(".errors-wrapper");
  if (!(await wrapper.count())) return "";
  return (await wrapper.first().innerText()).trim();
}

function checkLayout(expected, rendered) {
  const problems = [];
  const renderedByTag = new Map(rendered.map((section) => [section.tag, section.operations]));
  for (const [tag, operations] of expected.byTag) {
    const shown = renderedByTag.get(tag);
    if (!shown) {
      problems.push(operations.length
        ? `tag "${tag}": no section rendered`
        : `tag "${tag}": declared in "tags" but no operation uses it, so Swagger UI renders no section for it`);
      continue;
    }
    const key = (op) => `${op.method.toUpperCase()} ${op.path}`;
    const shownKeys = shown.map(key);
    for (const op of shown) {
      if (op.classMethod !== op.method) problems.push(`tag "${tag}": block ${key(op)} has class opblock-${op.classMethod}`);
    }
    for (const op of operations) {
      if (!shownKeys.includes(key(op))) problems.push(`tag "${tag}": no operation block for ${key(op)}`);
    }
    const expectedKeys = operations.map(key);
    for (const k of shownKeys) {
      if (!expectedKeys.includes(k)) problems.push(`tag "${tag}": unexpected operation block ${k}`);
    }
    if (shown.length !== operations.length) {
      problems.push(`tag "${tag}": ${shown.length} operation blocks rendered, ${operations.length} expected`);
    }
  }
  for (const section of rendered) {
    if (!expected.byTag.has(section.tag)) problems.push(`unexpected tag section "${section.tag}"`);
  }
  return problems;
}

async function authorize(page) {
  await page.locator(".auth-wrapper button.authorize").click();
  const dialog = page.locator(".modal-ux");
  await dialog.waitFor();
  const container = dialog.locator(".auth-container").filter({ has: page.locator("h4 code", { hasText: /^bearerAuth$/ }) });
  if ((await container.count()) !== 1) fail('the Authorize dialog has no "bearerAuth" section');
  await container.locator("input").first().fill(TOKEN);
  await container.getByRole("button", { name: "Authorize" }).click();
  try {
    await container.getByRole("button", { name: "Logout" }).waitFor({ timeout: 5000 });
  } catch {
    fail(`the Authorize dialog did not accept the bearer token:\n${await container.innerText()}`);
  }
  await dialog.locator("button.close-modal").click();
  await dialog.waitFor({ state: "detached" });
  log("authorized with the bearer token (bearerAuth)");
}

let focus = null; // the POST /projects block, once found: what the screenshot shows

async function tryCreateProject(page) {
  const block = page.locator(".opblock.opblock-post").filter({
    has: page.locator('.opblock-summary-path[data-path="/projects"]'),
  }).first();
  if (!(await block.count())) fail("no operation block for POST /projects");
  focus = block;
  await block.locator(".opblock-summary-control").click();
  await block.locator("button.try-out__btn").click();
  const body = block.locator("textarea.body-param__text");
  await body.waitFor();
  // Let Swagger UI finish filling in the example (it resolves the schema lazily on expansion).
  await page.waitForFunction((el) => el.value.trim().length > 0, await body.elementHandle());
  const filled = await body.inputValue();
  log(`POST /projects body as Swagger UI filled it in:\n${filled}`);
  if (await block.locator(".authorization__btn.unlocked").count()) {
    fail("POST /projects still shows an open lock after authorizing");
  }

  const requestSeen = page.waitForRequest((r) => r.method() === "POST" && new URL(r.url()).pathname === "/projects");
  await block.locator("button.execute").click();
  const request = await requestSeen.catch(() => null);
  if (!request) fail("clicking Execute sent no POST /projects request");
  const headers = await request.allHeaders();
  log(`request: POST ${request.url()} content-type=${headers["content-type"] || "-"} ` +
      `authorization=${headers.authorization ? headers.authorization.split(" ")[0] + " …" : "(none)"}`);

  const live = block.locator(".live-responses-table tbody tr.response").first();
  await live.waitFor();
  const shown = (await live.locator(".response-col_status").innerText()).trim();
  const description = (await live.locator(".response-col_description").innerText()).trim();
  if (shown !== "201") {
    fail(`POST /projects with Swagger UI's filled-in body: live response ${shown || "(empty)"}, expected 201\n` +
         `request body:\n${filled}\nresponse:\n${description}`);
  }
  log(`POST /projects live response 201:\n${description.slice(0, 1500)}`);
}

/** The POST /projects block from its summary down to the live response, else the first screen. */
async function screenshot(page) {
  if (!focus) return page.screenshot({ path: SCREENSHOT });
  const live = focus.locator(".live-responses-table");
  if (!(await live.count())) return focus.screenshot({ path: SCREENSHOT });
  await live.scrollIntoViewIfNeeded();
  const scroll = await page.evaluate(() => ({ x: window.scrollX, y: window.scrollY }));
  const top = await focus.boundingBox();
  const bottom = await live.boundingBox();
  return page.screenshot({ path: SCREENSHOT, fullPage: true, clip: {
    x: top.x + scroll.x, y: top.y + scroll.y, width: top.width, height: bottom.y + bottom.height - top.y,
  } });
}

async function main() {
  if (!BASE) fail("DATASET_API_URL is not set (e.g. http://127.0.0.1:8000)");
  if (!TOKEN) fail("DATASET_API_TOKEN is not set (an admin bearer token: dataset-api token --role admin …)");
  const doc = await loadDocument();
  const expected = expectedLayout(doc);
  log(`document: ${expected.byTag.size} tags, ${expected.operations} operations (path, method)`);

  let browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  } catch (error) {
    fail(`cannot launch ${CHROMIUM}: ${error.message}`);
  }
  const pageErrors = [];
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") log(`browser console error: ${message.text()}`);
    });

    const response = await page.goto(`${BASE}/ui/`);
    if (!response || response.status() !== 200) fail(`GET ${BASE}/ui/ answered ${response?.status()}`);
    await page.locator(".opblock-tag-section, .errors-wrapper").first().waitFor();
    await page.waitForLoadState("networkidle");
    let errors = await errorsShown(page);
    if (errors) fail(`Swagger UI shows errors for the document:\n${errors}`);

    const rendered = await renderedLayout(page);
    const problems = checkLayout(expected, rendered);
    if (problems.length) fail(`Swagger UI's rendering does not match the document:\n  ${problems.join("\n  ")}`);
    log(`rendered: ${rendered.length} tag sections, ` +
        `${rendered.reduce((n, s) => n + s.operations.length, 0)} operation blocks, as the document says`);

    await authorize(page);
    await tryCreateProject(page);

    errors = await errorsShown(page);
    if (errors) fail(`Swagger UI shows errors for the document:\n${errors}`);
    if (pageErrors.length) fail(`uncaught errors in the page:\n  ${pageErrors.join("\n  ")}`);
    log("OK");
  } finally {
    if (SCREENSHOT && page) {
      await screenshot(page)
        .then(() => log(`screenshot: ${SCREENSHOT}`), (e) => log(`screenshot failed: ${e.message}`));
    }
    await browser.close();
  }
}

main().then(() => process.exit(0), (error) => {
  if (error instanceof CheckFailure) console.error(`swagger-ui: FAIL: ${error.message}`);
  else console.error(`swagger-ui: FAIL: ${error.stack || error}`);
  process.exit(1);
});
