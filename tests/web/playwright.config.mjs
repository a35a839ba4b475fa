// Playwright runs the dashboard's browser tests in Debian's chromium (no browser download),
// headless, against a real `dojo serve` that server.mjs starts for the run.
//
// Environment (CTest sets these): DOJO_BIN (the dojo executable), DOJO_WEB_TEST_OUT (where
// results.json, screenshots and traces go; default <repo>/out/web-tests), DOJO_SHARED_DATA.
import { defineConfig } from '@playwright/test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = process.env.DOJO_WEB_TEST_OUT || path.resolve(here, '../../out/web-tests');

export default defineConfig({
  testDir: here,
  testMatch: /.*\.spec\.mjs$/,
  outputDir: path.join(out, 'artifacts'),
  timeout: 120_000,
  expect: { timeout: 20_000 },
  fullyParallel: false,
  workers: 1, // one server, one story: each test builds on what the previous one made
  retries: 0,
  reporter: [['list'], ['json', { outputFile: path.join(out, 'results.json') }]],
  use: {
    browserName: 'chromium',
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.DOJO_CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
  },
});
