// A browser's EventSource on GET /events/stream, in headless Chromium, against a running dataset-api.
//
//   DATASET_API_URL=http://127.0.0.1:8000 DATASET_API_TOKEN=<admin token> node event-stream.mjs
//
// The page (same origin as the API) carries the auth-token cookie, as a front end's does, and opens
// `new EventSource("/events/stream")`: no token in the URL, no header. Then, on stdin/stdout, a
// conversation with the test that runs the server (tests/test_event_stream.py):
//   "written <project id>"  the test wrote a project: the page must receive its
//                           dataset:projects:created event (within EVENT_TIMEOUT_MS), once;
//   "expect <id> <id>..."   the page must have received exactly these projects' events, in order;
//   "done"                  exit 0.
// Each check answers "ok" or exits 1 with a message. Optional: CHROMIUM_PATH (default
// /usr/bin/chromium), EVENT_TIMEOUT_MS (default 10000).

import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const BASE = (process.env.DATASET_API_URL || "").replace(/\/+$/, "");
const TOKEN = process.env.DATASET_API_TOKEN || "";
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const TIMEOUT = Number(process.env.EVENT_TIMEOUT_MS || 10000);

const say = (line) => console.log(line);
const fail = (message) => { console.error(`event-stream: ${message}`); process.exit(1); };

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
try {
  const context = await browser.newContext();
  await context.addCookies([{ name: "auth-token", value: TOKEN, url: BASE }]);
  const page = await context.newPage();
  page.on("pageerror", (error) => fail(`page error: ${error.message}`));
  await page.goto(`${BASE}/healthz`);
  await page.evaluate(() => {
    window.received = [];
    window.opened = 0;
    const source = new EventSource("/events/stream");
    source.addEventListener("open", () => { window.opened += 1; });
    source.addEventListener("dataset:projects:created", (message) => {
      window.received.push({ id: JSON.parse(message.data).attributes.resource_id, lastEventId: message.lastEventId });
    });
    source.addEventListener("reset", () => window.received.push({ reset: true }));
  });
  await page.waitForFunction(() => window.opened > 0, null, { timeout: TIMEOUT })
    .catch(() => fail("the EventSource did not open"));
  say("open");
  for await (const line of createInterface({ input: process.stdin })) {
    const [command, ...ids] = line.trim().split(/\s+/);
    if (command === "written") {
      await page.waitForFunction((id) => window.received.some((r) => r.id === id), ids[0], { timeout: TIMEOUT })
        .catch(async () => fail(`no event for project ${ids[0]} within ${TIMEOUT} ms; received ` +
                                JSON.stringify(await page.evaluate(() => window.received))));
      say("ok");
    } else if (command === "expect") {
      const received = await page.evaluate(() => window.received);
      const got = received.map((r) => (r.reset ? "reset" : r.id));
      if (JSON.stringify(got) !== JSON.stringify(ids)) fail(`received ${JSON.stringify(got)}, expected ${JSON.stringify(ids)}`);
      if (received.some((r) => !r.lastEventId)) fail("an event came without an id");
      say(`ok (opened ${await page.evaluate(() => window.opened)} times)`);
    } else if (command === "done") {
      break;
    } else {
      fail(`unknown command ${line}`);
    }
  }
} finally {
  await browser.close();
}
process.exit(0);  // stdin stays open (the test's pipe): leave without waiting for its end
