// The dashboard as a user meets it, step by step, against a real `dojo serve`: sign in,
// upload and ingest, submit and watch a job, download its checkpoint, cancel another, check
// that a second user sees none of it, and reload a running job's page without losing its log.
// The steps run in order and build on each other (story holds what earlier steps made).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { api, expect, screenshots, sign_in, test } from './fixtures.mjs';
import { dojo_bin, repo, test_clip } from './server.mjs';

test.describe.configure({ mode: 'serial' });

const story = {};
// Long enough (seconds) for the page to watch the job run, short enough for the suite.
const kTinySteps = Number(process.env.DOJO_WEB_TEST_STEPS || 1500);
// The first job's own config: the tiny model, held-out eval (and a reconstruction grid) every
// 300 steps.
const kYaml = `model: tiny
train:
  global_batch: 8
  lr: 0.003
  warmup_steps: 5
  checkpoint_every: 500
  eval_every: 300
eval:
  clips: 8
  samples: 2
`;

async function submit_job(page, { steps, ranks = 1, yaml = null, yaml_error = false }) {
  await page.getByRole('link', { name: 'Submit', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Submit a job' })).toBeVisible();
  await page.getByLabel('Dataset', { exact: true }).selectOption(story.dataset);
  // Held-out eval (and its reconstructions) on the same clips: this story has one dataset.
  await page.getByLabel('Held-out dataset (optional)').selectOption(story.dataset);
  if (yaml_error) {
    // A config the server refuses: the message names the key and sits by the YAML box.
    await page.getByLabel('my own YAML').check();
    await page.getByLabel('YAML config').fill('model: tiny\ntrain:\n  no_such_key: 1\n');
    await expect(page.locator('#config-error')).toContainText('no_such_key');
    await expect(page.getByLabel('YAML config')).toHaveAttribute('aria-invalid', 'true');
    await expect(page.getByRole('button', { name: 'Submit job' })).toBeDisabled();
    await page.getByLabel('a preset').check();
  }
  if (yaml) {
    await page.getByLabel('my own YAML').check();
    await page.getByLabel('YAML config').fill(yaml);
  } else {
    await page.getByLabel('Preset', { exact: true }).selectOption('tiny');
  }
  await page.getByLabel('Steps').fill(String(steps));
  await page.getByLabel('Ranks').fill(String(ranks));
  // The quote (a dry run) is on the page before anything is submitted.
  await expect(page.locator('#quote[data-ready="true"]')).toBeVisible();
  await expect(page.locator('#quote tr[data-preset]')).not.toHaveCount(0);
  await expect(page.locator('#quote tr[data-preset="host"]')).toBeVisible();
  return async () => {
    await page.getByRole('button', { name: 'Submit job' }).click();
    await expect(page).toHaveURL(/#\/jobs\/[^/]+$/);
    return decodeURIComponent(page.url().split('#/jobs/')[1]);
  };
}

const points = (page, which = 'points') => async () => Number(await page.locator('#loss-chart').getAttribute(`data-${which}`));
const state_of = (page) => page.locator('main').getAttribute('data-state');

test('sign in with an API token, see who is signed in, sign out', async ({ page, server }) => {
  await sign_in(page, server.tokens.alice, 'alice');
  await expect(page.locator('#whoami .badge')).toHaveText('admin');
  await expect(page.getByRole('heading', { name: 'Jobs' })).toBeVisible();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await page.reload(); // the cookie is gone: a reload does not sign back in
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await screenshots(page, 'sign-in');
});

test('upload a clip and a broken file with a progress bar each, ingest: clips, and the broken file skipped with its reason',
  async ({ page, server }, info) => {
    await sign_in(page, server.tokens.alice, 'alice');
    await page.getByRole('link', { name: 'Datasets' }).click();
    await page.getByLabel('New dataset').fill('driving');
    await page.keyboard.press('Enter');
    await expect(page).toHaveURL(/#\/datasets\/[^/]+$/);
    story.dataset = decodeURIComponent(page.url().split('#/datasets/')[1]);

    fs.mkdirSync(info.outputDir, { recursive: true });
    const clip = test_clip(info.outputDir);
    const broken = path.join(info.outputDir, 'broken.mp4');
    fs.writeFileSync(broken, Buffer.from('this is not a video file\n'.repeat(400)));
    await page.getByLabel('Video files').setInputFiles([clip, broken]);
    await page.getByRole('button', { name: 'Upload' }).click();
    for (const file of [clip, broken]) {
      const item = page.locator(`ul.uploads li[data-file="${path.basename(file)}"]`);
      await expect(item).toHaveAttribute('data-done', 'true');
      const bar = await item.locator('progress').evaluate((p) => ({ value: p.value, max: p.max }));
      expect(bar.max).toBe(fs.statSync(file).size);
      expect(bar.value).toBe(bar.max);
      await expect(page.locator('table.files')).toContainText(path.basename(file));
    }

    await page.getByLabel('Frames per clip').fill('4');
    await page.getByLabel('Frame size (WxH)').fill('16x16');
    await page.getByRole('button', { name: 'Start ingest' }).click();
    await expect(page.locator('main')).toHaveAttribute('data-ingest', 'succeeded', { timeout: 90_000 });
    const clips = Number(await page.locator('dd.ds-clips').textContent());
    expect(clips).toBeGreaterThan(0);
    const skipped = page.locator('table.skipped tbody tr', { hasText: 'broken.mp4' });
    await expect(skipped).toHaveCount(1);
    expect((await skipped.locator('td.reason').textContent()).trim().length).toBeGreaterThan(0);
    await screenshots(page, 'dataset');
    await page.getByRole('link', { name: 'Datasets' }).click();
    await expect(page.locator('table.datasets tbody tr')).toHaveCount(1);
    await screenshots(page, 'datasets');
  });

test.describe('submitting', () => {
  // The dry run of a config the server refuses is a 400 (shown by the field, not lost).
  test.use({ expected_errors: [{ status: 400, url: /\/v1\/jobs$/ }] });
  test('submit a tiny job: a config error by its field, the quote first, a loss curve that grows while it runs, success, the checkpoint downloads',
    async ({ page, server }, info) => {
      await sign_in(page, server.tokens.alice, 'alice');
      const submit = await submit_job(page, { steps: kTinySteps, yaml: kYaml, yaml_error: true });
      await screenshots(page, 'submit');
      story.job1 = await submit();

      // Live: while the page says the job runs, the chart's point count goes up. Sample the
      // page (state and points together) until the job has finished.
      const samples = await page.evaluate(() => new Promise((resolve) => {
        const seen = [];
        const timer = setInterval(() => {
          const state = document.querySelector('main').dataset.state;
          const chart = document.querySelector('#loss-chart');
          seen.push({ state, points: chart ? Number(chart.dataset.points) : 0 });
          if (['succeeded', 'failed', 'cancelled'].includes(state) || seen.length > 1200) {
            clearInterval(timer);
            resolve(seen);
          }
        }, 100);
      }));
      const running = samples.filter((x) => x.state === 'running' && x.points > 0).map((x) => x.points);
      expect(running.length, 'samples with points while running').toBeGreaterThan(1);
      expect(Math.max(...running), 'the chart grew while the job ran').toBeGreaterThan(Math.min(...running));
      await expect(page.locator('#log')).not.toBeEmpty();

      await expect(page.locator('main')).toHaveAttribute('data-state', 'succeeded', { timeout: 120_000 });
      await expect.poll(points(page)).toBe(kTinySteps);
      // Held-out eval every 300 steps and at the end, on the same chart.
      await expect.poll(points(page, 'eval-points')).toBe(Math.ceil(kTinySteps / 300));
      // The newest reconstruction grid is shown (and is a real image).
      await expect(page.locator('#recon')).toHaveAttribute('data-name', `samples/step-${String(kTinySteps).padStart(6, '0')}-visible-stats.png`);
      await expect.poll(() => page.locator('#recon').evaluate((img) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
      // Zoom: a drag across the middle of the plot shows fewer steps; "Reset zoom" all again.
      const range = async () => (await page.locator('#loss-chart').getAttribute('data-x-range')).split('..').map(Number);
      const [full_min, full_max] = await range();
      const over = await page.locator('#loss-chart .u-over').boundingBox();
      await page.mouse.move(over.x + over.width * 0.3, over.y + over.height / 2);
      await page.mouse.down();
      await page.mouse.move(over.x + over.width * 0.6, over.y + over.height / 2, { steps: 5 });
      await page.mouse.up();
      await expect(page.locator('#loss-chart')).toHaveAttribute('data-zoomed', 'true');
      const [zoom_min, zoom_max] = await range();
      expect(zoom_min).toBeGreaterThan(full_min);
      expect(zoom_max).toBeLessThan(full_max);
      await page.locator('#loss-chart').getByRole('button', { name: 'Reset zoom' }).click();
      await expect(page.locator('#loss-chart')).toHaveAttribute('data-zoomed', 'false');
      expect(await range()).toEqual([full_min, full_max]);
      await screenshots(page, 'job');
      if (process.env.DOJO_UPDATE_DOCS_SCREENSHOT) {
        await page.screenshot({ path: path.join(repo, 'docs/dashboard.png') });
      }

      // The checkpoint downloads from its link and is a checkpoint dojo can read.
      const link = page.locator('table.artifacts a', { hasText: `checkpoints/step-${String(kTinySteps).padStart(6, '0')}.h5` });
      await expect(link).toBeVisible();
      const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
      const saved = path.join(info.outputDir, 'checkpoint.h5');
      await download.saveAs(saved);
      const inspect = execFileSync(dojo_bin, ['inspect', saved], { encoding: 'utf8' });
      expect(inspect).toContain(String(kTinySteps));
    });
});

// A run resumed from an earlier checkpoint abandons the steps after it: metrics.jsonl keeps
// them, then a resume row (train/report.hpp). The page drops them. The row is appended to
// the finished job's file here, as a trainer resumed from step 100 would first write it;
// the file is put back afterwards.
test('a resume row in metrics.jsonl drops the steps it abandoned from the charts', async ({ page, server }) => {
  const file = path.join(server.state, 'jobs', String(story.job1), 'run', 'metrics.jsonl');
  const original = fs.readFileSync(file);
  try {
    await sign_in(page, server.tokens.alice, 'alice');
    await page.goto(`/#/jobs/${encodeURIComponent(story.job1)}`);
    await expect.poll(points(page)).toBe(kTinySteps);
    fs.appendFileSync(file, `${JSON.stringify({ kind: 'resume', step: 100 })}\n`);
    await page.reload();
    await expect.poll(points(page)).toBe(100);
    await expect.poll(points(page, 'eval-points')).toBe(0); // the first eval was at step 300
  } finally {
    fs.writeFileSync(file, original);
  }
});

test('cancel a second job: the button asks first, "Keep it" keeps it running, confirming cancels it; resume asks and runs it again; a job that waits shows its place in the queue', async ({ page, server }) => {
  await sign_in(page, server.tokens.alice, 'alice');
  const submit = await submit_job(page, { steps: 200000 });
  story.job2 = await submit();
  await expect(page.locator('main')).toHaveAttribute('data-state', 'running', { timeout: 60_000 });

  // A 2-rank job cannot start while job 2 holds one of the server's 2 slots: it waits,
  // first in the queue, on its page and in the list; cancelling it takes it off the queue.
  const queued = await (await submit_job(page, { steps: 100, ranks: 2 }))();
  await expect(page.locator('main')).toHaveAttribute('data-state', 'queued');
  await expect(page.locator('dl.facts')).toContainText('#1');
  await page.getByRole('link', { name: 'Jobs', exact: true }).click();
  await expect(page.locator(`tr[data-job="${queued}"] td.queue`)).toHaveText('#1');
  await expect(page.locator(`tr[data-job="${story.job2}"]`)).toHaveAttribute('data-state', 'running');
  await expect(page.locator(`tr[data-job="${story.job2}"] progress`)).not.toHaveAttribute('value', '0');
  await screenshots(page, 'jobs');
  await page.locator(`tr[data-job="${queued}"] a`).first().click();
  await page.getByRole('button', { name: 'Cancel job' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel job' }).click();
  await expect(page.locator('main')).toHaveAttribute('data-state', 'cancelled');

  await page.goto(`/#/jobs/${story.job2}`);
  await expect(page.locator('main')).toHaveAttribute('data-state', 'running');
  // From the keyboard: Enter on the button asks; Escape (like "Keep it") keeps the job.
  const cancel = page.getByRole('button', { name: 'Cancel job' });
  await cancel.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole('button', { name: 'Keep it' })).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  await cancel.click();
  await page.getByRole('dialog').getByRole('button', { name: 'Keep it' }).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  await page.waitForTimeout(1000);
  expect(await state_of(page)).toBe('running');

  await cancel.click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel job' }).click();
  await expect(page.locator('main')).toHaveAttribute('data-state', 'cancelled', { timeout: 60_000 });
  const step_at_cancel = Number((await page.locator('.progress-box progress').getAttribute('value')) || 0);
  expect(step_at_cancel).toBeGreaterThan(0);

  // Resume asks too, then the job runs again from its checkpoint; cancel it for good.
  await page.getByRole('button', { name: 'Resume job' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Resume job' }).click();
  await expect(page.locator('main')).toHaveAttribute('data-state', /queued|running/);
  await expect(page.locator('main')).toHaveAttribute('data-state', 'running', { timeout: 60_000 });
  await cancel.click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel job' }).click();
  await expect(page.locator('main')).toHaveAttribute('data-state', 'cancelled', { timeout: 60_000 });

  // The jobs list: both jobs, their states, the owner column (alice is an admin).
  await page.getByRole('link', { name: 'Jobs', exact: true }).click();
  await expect(page.locator(`tr[data-job="${story.job1}"]`)).toHaveAttribute('data-state', 'succeeded');
  await expect(page.locator(`tr[data-job="${story.job2}"]`)).toHaveAttribute('data-state', 'cancelled');
  await expect(page.locator(`tr[data-job="${story.job1}"] td.owner`)).toHaveText('alice');
  await expect(page.locator(`tr[data-job="${story.job1}"] .spark`)).not.toHaveAttribute('data-points', '0');
});

test.describe('as bob', () => {
  // Opening alice's job by its address gets the server's 404 (it does not say the job exists).
  test.use({ expected_errors: [{ status: 404, url: /\/v1\/jobs\/[^/]+$/ }] });
  test('a second user sees neither job nor the dataset, not even by the job\'s address', async ({ page, server }) => {
    await sign_in(page, server.tokens.bob, 'bob');
    await expect(page.locator('#whoami .badge')).toHaveCount(0);
    await expect(page.getByText('No jobs yet')).toBeVisible();
    await expect(page.locator('table.jobs tbody tr')).toHaveCount(0);
    await page.goto(`/#/jobs/${encodeURIComponent(story.job1)}`);
    await expect(page.getByRole('heading', { name: 'No such job' })).toBeVisible();
    await page.getByRole('link', { name: 'Datasets' }).click();
    await expect(page.getByText('No datasets yet')).toBeVisible();
    const jobs = await (await api(server, 'bob', 'GET', '/v1/jobs')).json();
    expect(jobs.jobs).toEqual([]);
    expect((await api(server, 'bob', 'GET', `/v1/jobs/${story.job1}`)).status).toBe(404);
  });
});

test('reloading a running job\'s page keeps following its log without losing a line', async ({ page, server }) => {
  await sign_in(page, server.tokens.alice, 'alice');
  const id = await (await submit_job(page, { steps: 200000 }))();
  const log_lines = async () => (await page.locator('#log').textContent()).split('\n').length;
  await expect(page.locator('main')).toHaveAttribute('data-state', 'running', { timeout: 60_000 });
  await expect.poll(log_lines, { timeout: 60_000 }).toBeGreaterThan(3);
  await page.reload();
  await expect(page.locator('main')).toHaveAttribute('data-state', 'running');
  await expect(page.locator('#log')).not.toBeEmpty();
  const after_reload = await log_lines();
  // It keeps following: lines written after the reload arrive.
  await expect.poll(log_lines, { timeout: 60_000 }).toBeGreaterThan(after_reload + 5);
  await page.getByRole('button', { name: 'Cancel job' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel job' }).click();
  await expect(page.locator('main')).toHaveAttribute('data-state', 'cancelled', { timeout: 60_000 });
  // Everything the server has, once and in order: what the page shows is the whole log.
  const res = await api(server, 'alice', 'GET', `/v1/jobs/${encodeURIComponent(id)}/logs?offset=0`);
  expect(res.ok).toBe(true);
  const whole = await res.text();
  await expect.poll(() => page.locator('#log').textContent(), { timeout: 10_000 }).toBe(whole);
});
