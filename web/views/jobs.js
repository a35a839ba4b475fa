// Jobs: every job the signed-in user may see (an admin sees everyone's, with the owner),
// refreshed every two seconds: state, place in the queue, progress with ETA, last loss and a
// loss sparkline read from the job's metrics.

import { current_session, request } from '../api.js';
import { sparkline } from '../charts.js';
import { h, replace } from '../dom.js';
import { duration, number, when } from '../format.js';
import { MetricsReader } from '../metrics.js';

const kPollMs = 2000;
const kSparkPoints = 200;

export function job_list(body) {
  return body.jobs;
}

export function state_badge(state) {
  return h('span', { class: `state state-${state}` }, state);
}

export function progress(job) {
  if (job.kind === 'ingest') return h('span', { class: 'progress-text' }, 'ingest');
  const steps = job.steps || 0;
  const step = Math.min(job.step || 0, steps || Infinity);
  const pct = steps ? Math.round((100 * step) / steps) : 0;
  const eta = job.state === 'running' && Number.isFinite(job.eta_s) ? ` · ETA ${duration(job.eta_s)}` : '';
  return h('div', { class: 'progress-cell' },
    h('progress', { max: steps || 1, value: step, 'aria-label': `step ${step} of ${steps}` }),
    h('span', { class: 'progress-text' }, steps ? `${step} / ${steps}${eta}` : '–'));
}

export function mount(el) {
  const admin = !!(current_session() && current_session().admin);
  const status = h('p', { class: 'status', role: 'status' });
  const tbody = h('tbody');
  const table = h('table', { class: 'jobs' },
    h('thead', {}, h('tr', {},
      h('th', {}, 'Job'), h('th', {}, 'State'), h('th', { class: 'num wide-only' }, 'Queue'),
      h('th', {}, 'Progress'), h('th', { class: 'num' }, 'Loss'), h('th', { class: 'wide-only' }, 'Loss curve'),
      admin ? h('th', {}, 'Owner') : null, h('th', { class: 'wide-only' }, 'Submitted'))),
    tbody);
  const empty = h('p', { class: 'empty', hidden: true }, 'No jobs yet. ', h('a', { href: '#/submit' }, 'Submit one.'));
  el.append(h('div', { class: 'title-row' }, h('h1', {}, 'Jobs'), h('a', { class: 'button', href: '#/submit' }, 'Submit a job')),
    status, h('div', { class: 'table-wrap' }, table), empty);

  const sparks = new Map(); // job id -> {reader, losses: [{step, loss}], last_step, plot}
  let timer = null;
  let stopped = false;

  async function refresh_spark(job) {
    if (job.kind && job.kind !== 'train') return null;
    let s = sparks.get(job.id);
    if (!s) {
      s = { reader: new MetricsReader(job.id), losses: [], last_step: -1, plot: null, cell: h('div', { class: 'spark' }) };
      sparks.set(job.id, s);
    }
    const step = job.step || 0;
    if (step !== s.last_step && job.state !== 'queued') {
      s.last_step = step;
      try {
        for (const row of await s.reader.read()) {
          if (row.kind === 'resume') {
            s.losses = s.losses.filter((p) => p.step <= row.step); // abandoned steps
          } else if (row.kind !== 'eval' && Number.isFinite(row.loss)) {
            s.losses.push({ step: row.step, loss: row.loss });
          }
        }
      } catch (_) {
        s.last_step = -1; // try again next time
      }
      if (s.losses.length > kSparkPoints) s.losses.splice(0, s.losses.length - kSparkPoints);
      if (s.plot) s.plot.destroy();
      s.cell.replaceChildren();
      s.plot = sparkline(s.cell, s.losses.map((p) => p.loss));
    }
    return s.cell;
  }

  async function refresh() {
    try {
      const jobs = job_list(await request('GET', '/v1/jobs')).sort((a, b) => b.id - a.id); // newest first
      if (stopped) return;
      const rows = [];
      for (const job of jobs) {
        const spark = await refresh_spark(job);
        const queued = job.state === 'queued' && job.queue_position != null;
        if (stopped) return;
        rows.push(h('tr', { dataset: { job: job.id, state: job.state } },
          h('td', {}, h('a', { href: `#/jobs/${encodeURIComponent(job.id)}` }, job.name || job.id),
            h('div', { class: 'sub' }, job.kind || 'train')),
          h('td', {}, state_badge(job.state),
            queued ? h('div', { class: 'sub narrow-only' }, `#${job.queue_position} in the queue`) : null,
            job.failure_reason ? h('div', { class: 'sub error' }, job.failure_reason) : null),
          h('td', { class: 'num queue wide-only' }, queued ? `#${job.queue_position}` : '–'),
          h('td', {}, progress(job)),
          h('td', { class: 'num' }, number(job.loss)),
          h('td', { class: 'wide-only' }, spark),
          admin ? h('td', { class: 'owner' }, job.user) : null,
          h('td', { class: 'wide-only' }, when(job.created_s))));
      }
      replace(tbody, rows);
      empty.hidden = jobs.length > 0;
      status.textContent = `${jobs.length} job${jobs.length === 1 ? '' : 's'} · updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (!stopped) status.textContent = `Could not load jobs: ${err.message}`;
    }
    if (!stopped) timer = setTimeout(refresh, kPollMs);
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    for (const s of sparks.values()) if (s.plot) s.plot.destroy();
  };
}
