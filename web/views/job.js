// One job: state and progress, the live loss curve (training and held-out eval), throughput
// and real against simulated step time, the mesh quote, the newest reconstruction grid, the
// log (following it), the artifacts, and cancel / resume.
//
// Where the data comes from:
//   - the job's record (GET /v1/jobs/{id}) every two seconds, and at each state event;
//   - metrics rows: metrics.jsonl once on opening (the history), then the event stream
//     (SSE, which resumes with Last-Event-ID after a dropped connection); both feed charts
//     keyed by step, so a row seen twice counts once; a resume event, and the job's end,
//     rebuild them from metrics.jsonl (the truth: its resume rows drop abandoned steps);
//   - the log by byte offset (GET logs?offset=N): each read starts where the last one ended,
//     so a reload or a reconnect neither loses nor repeats a line.

import { ApiError, request } from '../api.js';
import { StepChart } from '../charts.js';
import { confirm_dialog, h, replace } from '../dom.js';
import { bytes, duration, kFinalStates, number, when } from '../format.js';
import { MetricsReader, artifact_list, artifact_url } from '../metrics.js';
import { quote_table } from '../quote.js';
import { progress, state_badge } from './jobs.js';

const kPollMs = 2000;
const kLogPollMs = 1500;

// One read of the log from byte `offset`: {text, next, more}. The body is the log's bytes from
// `offset`; X-Next-Offset says where the next read starts, X-Log-Size how long the log is.
async function read_log(job_id, offset) {
  const res = await fetch(`/v1/jobs/${encodeURIComponent(job_id)}/logs?offset=${offset}`, { credentials: 'same-origin' });
  if (!res.ok) throw new ApiError(res.status, `log: ${res.status} ${res.statusText}`);
  const buf = new Uint8Array(await res.arrayBuffer());
  const next = res.headers.get('X-Next-Offset');
  const size = res.headers.get('X-Log-Size');
  return {
    text: new TextDecoder().decode(buf),
    next: next ? Number(next) : offset + buf.length,
    more: next && size ? Number(next) < Number(size) : false, // the server sends at most 1 MB at once
  };
}

export function mount(el, { id }) {
  const base = `/v1/jobs/${encodeURIComponent(id)}`;
  let stopped = false;
  let job = null;
  let source = null;
  const timers = [];

  const title = h('h1', {}, `Job ${id}`);
  const badge = h('span');
  const cancel_button = h('button', { type: 'button', class: 'danger', hidden: true }, 'Cancel job');
  const resume_button = h('button', { type: 'button', hidden: true }, 'Resume job');
  const action_error = h('p', { class: 'field-error', role: 'alert' });
  const progress_box = h('div', { class: 'progress-box' });
  const facts = h('dl', { class: 'facts' });
  const quote_box = h('div');
  const loss_box = h('div', { class: 'chart', id: 'loss-chart', 'aria-label': 'Loss against step' });
  const time_box = h('div', { class: 'chart', id: 'time-chart', 'aria-label': 'Step time against step' });
  const recon_img = h('img', { id: 'recon', alt: 'Reconstruction grid: input, masked input, reconstruction', hidden: true });
  const recon_caption = h('figcaption', {}, 'No reconstruction yet (one is written at each eval).');
  const artifacts_body = h('tbody');
  const follow = h('input', { type: 'checkbox', id: 'follow', checked: true });
  const log_pre = h('pre', { id: 'log', class: 'log', tabindex: '0', 'aria-label': 'Job log' });
  // Scrolling up to read stops following; scrolling back to the end follows again.
  log_pre.addEventListener('scroll', () => {
    follow.checked = log_pre.scrollHeight - log_pre.scrollTop - log_pre.clientHeight < 24;
  });
  follow.addEventListener('change', () => {
    if (follow.checked) log_pre.scrollTop = log_pre.scrollHeight;
  });

  el.append(
    h('div', { class: 'title-row' }, title, badge, h('span', { class: 'spacer' }), cancel_button, resume_button),
    action_error, progress_box,
    h('section', { class: 'grid2' },
      h('div', { class: 'card' }, h('h2', {}, 'Status'), facts),
      h('div', { class: 'card' }, h('h2', {}, 'Mesh quote'), quote_box)),
    h('section', { class: 'card' }, h('h2', {}, 'Loss'), loss_box),
    h('section', { class: 'grid2' },
      h('div', { class: 'card' }, h('h2', {}, 'Step time: real and simulated'), time_box),
      h('figure', { class: 'card recon' }, h('h2', {}, 'Latest reconstruction'), recon_img, recon_caption)),
    h('section', { class: 'card' }, h('div', { class: 'title-row' }, h('h2', {}, 'Log'), h('span', { class: 'spacer' }),
      h('label', { class: 'inline' }, follow, ' follow')), log_pre),
    h('section', { class: 'card' }, h('h2', {}, 'Artifacts'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'artifacts' },
        h('thead', {}, h('tr', {}, h('th', {}, 'File'), h('th', { class: 'num' }, 'Size'))), artifacts_body))));

  const loss_chart = new StepChart(loss_box, {
    series: [{ label: 'training loss' }, { label: 'held-out eval loss', points: true }],
    y_label: 'loss (log scale)',
  });
  const time_chart = new StepChart(time_box, {
    series: [{ label: 'real step time (s)' }, { label: 'simulated step time on the mesh (s)' }],
    y_label: 'seconds per step (log)', height: 220,
  });
  const step_rows = new Map(); // step -> the newest row of that step
  const eval_rows = new Map();
  const newest = (rows) => (rows.size ? rows.get(Math.max(...rows.keys())) : null);
  let last_row = null;
  let last_eval = null;

  function add_row(row) {
    if (!row || !Number.isFinite(row.step)) return;
    if (row.kind === 'resume') {
      loss_chart.drop_after(row.step);
      time_chart.drop_after(row.step);
      for (const rows of [step_rows, eval_rows]) {
        for (const s of [...rows.keys()]) if (s > row.step) rows.delete(s);
      }
      last_row = newest(step_rows);
      last_eval = newest(eval_rows);
    } else if (row.kind === 'eval' || row.eval_loss !== undefined) {
      loss_chart.add(1, row.step, row.eval_loss);
      eval_rows.set(row.step, row);
      if (!last_eval || row.step >= last_eval.step) last_eval = row;
      schedule_artifacts(400);
    } else {
      loss_chart.add(0, row.step, row.loss);
      time_chart.add(0, row.step, row.step_s);
      time_chart.add(1, row.step, row.sim_step_s);
      step_rows.set(row.step, row);
      if (!last_row || row.step >= last_row.step) last_row = row;
    }
  }

  function show_job() {
    if (!job) return;
    title.textContent = `${job.kind === 'ingest' ? 'Ingest' : 'Job'} ${job.name || job.id}`;
    replace(badge, state_badge(job.state));
    el.dataset.state = job.state;
    cancel_button.hidden = !['queued', 'running'].includes(job.state);
    resume_button.hidden = !(job.kind !== 'ingest' && ['cancelled', 'failed'].includes(job.state));
    replace(progress_box, progress(job));
    const sim = last_row && last_row.sim_step_s;
    const real = last_row && last_row.step_s;
    const items = [
      ['Owner', job.user],
      ['Dataset', job.dataset ? h('a', { href: `#/datasets/${job.dataset}` }, `dataset ${job.dataset}`) : null],
      ['Held-out dataset', job.eval_dataset ? h('a', { href: `#/datasets/${job.eval_dataset}` }, `dataset ${job.eval_dataset}`) : null],
      ['Ranks', job.ranks],
      ['Queue position', job.state === 'queued' && job.queue_position != null ? `#${job.queue_position}` : null],
      ['Last loss', number(job.loss ?? (last_row && last_row.loss))],
      ['Held-out eval loss', last_eval ? `${number(last_eval.eval_loss)} (step ${last_eval.step})` : null],
      ['Clips/s', number(job.clips_per_s ?? (last_row && last_row.clips_per_s), 3)],
      ['Step time, real', real ? duration(real) : null],
      ['Step time, simulated mesh', sim ? `${duration(sim)}${real ? ` (${number(real / sim, 3)}× faster than here)` : ''}` : null],
      ['ETA', job.state === 'running' ? duration(job.eta_s) : null],
      ['Failure', job.failure_reason],
      ['Executor', job.executor ? `${job.executor}${job.executor_id ? ` (${job.executor_id})` : ''}` : null],
      ['Submitted', job.created_s ? when(job.created_s) : null],
      ['Started', job.started_s ? when(job.started_s) : null],
      ['Finished', job.finished_s ? when(job.finished_s) : null],
      ['Attempts', job.attempts > 1 ? job.attempts : null],
    ].filter(([, v]) => v !== null && v !== undefined && v !== '');
    replace(facts, items.map(([k, v]) => [h('dt', {}, k), h('dd', { class: k === 'Failure' ? 'error' : '' }, v instanceof Node ? v : String(v))]));
  }

  let shown_quote = false;
  async function refresh_job() {
    try {
      job = await request('GET', base);
    } catch (err) {
      if (err.status === 404) {
        replace(el, h('h1', {}, 'No such job'), h('p', { class: 'error', role: 'alert' }, `There is no job ${id} that you can see.`),
          h('p', {}, h('a', { href: '#/jobs' }, 'Back to the jobs')));
        stop();
        return false;
      }
      action_error.textContent = `Could not load the job: ${err.message}`;
      return true;
    }
    if (stopped) return false;
    action_error.textContent = '';
    if (!shown_quote && job.quote) {
      replace(quote_box, quote_table(job.quote));
      shown_quote = true;
    }
    show_job();
    if (kFinalStates.has(job.state)) {
      finish_streams();
    }
    return true;
  }

  // --- metrics ---------------------------------------------------------------------------
  const metrics = new MetricsReader(id);
  async function read_metrics(artifacts) {
    try {
      for (const row of await metrics.read(artifacts)) add_row(row);
      show_job();
    } catch (_) {
      // The next artifact refresh tries again.
    }
  }
  // Everything again from metrics.jsonl: after a resume the events before it carry steps
  // the run abandoned, and the file (with its resume rows) says which.
  async function rebuild_metrics() {
    metrics.restart();
    try {
      const rows = await metrics.read();
      loss_chart.clear();
      time_chart.clear();
      step_rows.clear();
      eval_rows.clear();
      last_row = null;
      last_eval = null;
      for (const row of rows) add_row(row);
      show_job();
    } catch (_) {
      // The next artifact refresh reads on from where the reader stands.
    }
  }

  // --- artifacts and the reconstruction grid ---------------------------------------------
  let artifact_timer = null;
  function schedule_artifacts(ms) {
    clearTimeout(artifact_timer);
    artifact_timer = setTimeout(refresh_artifacts, ms);
  }
  async function refresh_artifacts() {
    if (stopped) return;
    let list;
    try {
      list = artifact_list(await request('GET', `${base}/artifacts`)).sort((a, b) => a.name.localeCompare(b.name));
    } catch (_) {
      return;
    }
    if (stopped) return;
    replace(artifacts_body, list.map((a) => h('tr', {},
      h('td', {}, h('a', { href: artifact_url(id, a.name), download: a.name.split('/').pop() }, a.name)),
      h('td', { class: 'num' }, bytes(a.bytes)))));
    // The visible-stats grid: the reconstruction de-normalised with what a real one can know
    // (the nearest visible tubelet's statistics), not the hidden tubelets' own.
    const samples = list.map((a) => a.name).filter((n) => /^samples\/step-\d+-visible-stats\.png$/.test(n)).sort();
    if (samples.length) {
      const newest = samples[samples.length - 1];
      if (recon_img.dataset.name !== newest) {
        recon_img.dataset.name = newest;
        recon_img.src = artifact_url(id, newest);
        recon_img.hidden = false;
        recon_caption.textContent = `Held-out clips at step ${Number(newest.match(/\d+/)[0])}: input | masked | reconstruction (de-normalised with the nearest visible tubelet's statistics)`;
      }
    }
    await read_metrics(list);
  }

  // --- the log -----------------------------------------------------------------------------
  let log_offset = 0;
  let log_busy = false;
  let log_again = false;
  async function read_more_log() {
    if (log_busy) {
      log_again = true;
      return;
    }
    log_busy = true;
    try {
      do {
        log_again = false;
        const { text, next, more } = await read_log(id, log_offset);
        if (more) log_again = true;
        if (stopped) return;
        if (next > log_offset && text) {
          log_offset = next;
          log_pre.append(text);
          log_pre.dataset.bytes = String(log_offset);
          if (follow.checked) log_pre.scrollTop = log_pre.scrollHeight;
        }
      } while (log_again && !stopped);
    } catch (_) {
      // Read again at the next tick.
    } finally {
      log_busy = false;
    }
  }

  // A burst of state events (the stream replays a job's history) makes one refresh.
  let refresh_timer = null;
  function schedule_refresh() {
    clearTimeout(refresh_timer);
    refresh_timer = setTimeout(async () => {
      if (await refresh_job()) schedule_artifacts(0);
    }, 150);
  }

  // --- the event stream ----------------------------------------------------------------------
  function on_event(type, data) {
    if (stopped) return;
    if (type === 'resume') rebuild_metrics();
    else if (type === 'metrics' || type === 'eval') add_row(data.row || data);
    else if (type === 'log') read_more_log();
    else if (type === 'state') schedule_refresh();
    if (type === 'metrics' || type === 'eval') show_job();
  }
  function open_stream() {
    source = new EventSource(`${base}/events`);
    for (const type of ['metrics', 'eval', 'resume', 'log', 'state']) {
      source.addEventListener(type, (e) => {
        let data = {};
        try {
          data = JSON.parse(e.data);
        } catch (_) {
          data = { text: e.data };
        }
        on_event(type, data);
      });
    }
    source.onmessage = (e) => {
      try {
        const data = JSON.parse(e.data);
        on_event(data.type || data.kind || 'metrics', data);
      } catch (_) {
        // Heartbeats and comments carry no JSON.
      }
    };
  }

  function finish_streams() {
    if (source) {
      source.close();
      source = null;
      // Everything the run wrote after the last event: the final rows, log lines, files.
      rebuild_metrics();
      read_more_log();
      schedule_artifacts(0);
    }
  }

  function stop() {
    stopped = true;
    if (source) source.close();
    source = null;
    timers.forEach(clearInterval);
    clearTimeout(artifact_timer);
    clearTimeout(refresh_timer);
  }

  // --- actions --------------------------------------------------------------------------------
  async function act(verb, question, label) {
    action_error.textContent = '';
    if (!(await confirm_dialog(question, label))) return;
    try {
      await request('POST', `${base}/${verb}`, {});
      await refresh_job();
      if (verb === 'resume' && !source && job && !kFinalStates.has(job.state)) open_stream();
    } catch (err) {
      action_error.textContent = `${label} failed: ${err.message}`;
    }
  }
  cancel_button.addEventListener('click', () =>
    act('cancel', 'Cancel this job? It writes a checkpoint and stops; you can resume it later.', 'Cancel job'));
  resume_button.addEventListener('click', () =>
    act('resume', 'Resume this job from its last checkpoint? It joins the queue again.', 'Resume job'));

  (async () => {
    if (!(await refresh_job())) return;
    await refresh_artifacts();
    await read_more_log();
    if (stopped) return;
    if (!kFinalStates.has(job.state)) open_stream();
    timers.push(setInterval(() => {
      refresh_job();
    }, kPollMs));
    timers.push(setInterval(() => {
      if (job && job.state === 'running') read_more_log();
    }, kLogPollMs));
    timers.push(setInterval(() => {
      if (job && job.state === 'running') refresh_artifacts();
    }, 5000));
  })();

  return () => {
    stop();
    loss_chart.destroy();
    time_chart.destroy();
  };
}
