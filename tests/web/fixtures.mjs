// What every browser test shares: the server (one per run, started before the first test),
// a page that fails its test on any console error or uncaught exception, and the steps a
// user takes again and again (sign in, take a screenshot of a page).
import { test as base, expect } from '@playwright/test';
import fs from 'node:fs';
import path from 'node:path';
import { start_server } from './server.mjs';

export const out_dir = process.env.DOJO_WEB_TEST_OUT || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../out/web-tests');
export const screenshot_dir = path.join(out_dir, 'screenshots');

export const test = base.extend({
  // One server for the whole run (worker scope: the suite runs on one worker).
  server: [async ({}, use) => {
    const server = await start_server(out_dir);
    try {
      await use(server);
    } finally {
      await server.stop();
    }
  }, { scope: 'worker' }],

  baseURL: async ({ server }, use) => use(server.url),

  // Console errors the test expects (e.g. the 404 of another user's job): [{status, url}].
  expected_errors: async ({}, use) => use([]),

  page: async ({ page, expected_errors }, use) => {
    const errors = [];
    page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const where = msg.location().url || '';
      const status = (msg.text().match(/status of (\d{3})/) || [])[1];
      if (expected_errors.some((e) => String(e.status) === status && e.url.test(where))) return;
      errors.push(`${msg.text()} (${where})`);
    });
    await use(page);
    expect(errors, 'console errors on the page').toEqual([]);
  },
});
export { expect };

// Signs in through the form, from the keyboard: the token field has the focus on arrival.
export async function sign_in(page, token, name) {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByLabel('API token')).toBeFocused();
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
  await expect(page.locator('#whoami')).toContainText(name);
}

// Saves the page as it looks now, at the desktop size and at phone width.
export async function screenshots(page, name) {
  fs.mkdirSync(screenshot_dir, { recursive: true });
  const desktop = page.viewportSize();
  await page.screenshot({ path: path.join(screenshot_dir, `${name}-1280x800.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200); // charts resize on the next frame
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, `${name} at phone width is wider than the screen by ${overflow}px`).toBeLessThanOrEqual(0);
  await page.screenshot({ path: path.join(screenshot_dir, `${name}-390x844.png`), fullPage: true });
  await page.setViewportSize(desktop);
}

// The API, as a script would call it (Bearer token), to check what the page shows.
export async function api(server, user, method, p) {
  const res = await fetch(`${server.url}${p}`, { method, headers: { Authorization: `Bearer ${server.tokens[user]}` } });
  return res;
}
