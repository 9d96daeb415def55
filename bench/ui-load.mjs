// The dashboard's load time in a real browser, for the bench's `dashboard` row: each URL given
// is opened three times in Debian's chromium (launched as the browser tests launch it), and the time from
// navigation start to the load event is printed as JSON: {"<url>": [ms, ms, ms], ...}.
import { launch } from "../tests/ui/support.mjs";

const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const times = {};
for (const url of process.argv.slice(2)) {
  times[url] = [];
  for (let i = 0; i < 3; i++) {
    await page.goto(url, { waitUntil: "load" });
    times[url].push(await page.evaluate(() => performance.getEntriesByType("navigation")[0].loadEventEnd));
  }
}
await browser.close();
console.log(JSON.stringify(times));
