// One dataset: upload videos (a progress bar per file), start an ingest, and see its files,
// its clips and every file the ingest skipped, with the reason.

import { request, upload } from '../api.js';
import { h, replace } from '../dom.js';
import { bytes } from '../format.js';
import { ingest_state } from './datasets.js';

const kPollMs = 2000;

function number_field(id, label, value, min) {
  const input = h('input', { id, name: id, type: 'number', min, step: 1, value, inputmode: 'numeric', 'aria-describedby': `${id}-error` });
  return { input, error: h('p', { id: `${id}-error`, class: 'field-error', role: 'alert' }),
    label: h('label', { for: id }, label) };
}

export function mount(el, { id }) {
  const base = `/v1/datasets/${encodeURIComponent(id)}`;
  let stopped = false;
  let timer = null;
  const title = h('h1', {}, `Dataset ${id}`);
  const summary = h('dl', { class: 'facts' });

  const files_input = h('input', { id: 'files', type: 'file', multiple: true, accept: 'video/*,.mp4,.mkv,.mov,.avi,.webm' });
  const upload_button = h('button', { type: 'submit' }, 'Upload');
  const uploads = h('ul', { class: 'uploads', 'aria-live': 'polite' });
  const upload_form = h('form', { class: 'card', 'aria-label': 'Upload videos' },
    h('h2', {}, 'Upload videos'), h('label', { for: 'files' }, 'Video files'), files_input,
    h('div', { class: 'buttons' }, upload_button), uploads);

  const frames = number_field('frames', 'Frames per clip', 4, 1);
  const size = { input: h('input', { id: 'size', name: 'size', value: '16x16', pattern: '\\d+x\\d+', 'aria-describedby': 'size-error' }),
    error: h('p', { id: 'size-error', class: 'field-error', role: 'alert' }), label: h('label', { for: 'size' }, 'Frame size (WxH)') };
  const frame_step = number_field('frame_step', 'Frame step', 1, 1);
  const ingest_error = h('p', { class: 'field-error', role: 'alert', id: 'ingest-error' });
  const ingest_button = h('button', { type: 'submit' }, 'Start ingest');
  const ingest_fields = { frames, size, frame_step };
  const ingest_form = h('form', { class: 'card', 'aria-label': 'Ingest' },
    h('h2', {}, 'Ingest into clips'),
    h('p', { class: 'hint' }, 'Decodes every uploaded video into fixed-size clips (HDF5 shards). Files already ingested are skipped.'),
    h('div', { class: 'grid3 tight' }, Object.values(ingest_fields).map((f) => h('div', { class: 'field' }, f.label, f.input, f.error))),
    ingest_error, h('div', { class: 'buttons' }, ingest_button));

  const files_body = h('tbody');
  const skipped_body = h('tbody');
  const skipped_empty = h('p', { class: 'empty' }, 'No file skipped.');
  el.append(title, h('section', { class: 'card' }, summary,
    h('p', {}, h('a', { class: 'button', href: `#/submit?dataset=${encodeURIComponent(id)}` }, 'Train on this dataset'))),
  h('section', { class: 'grid2' }, upload_form, ingest_form),
  h('section', { class: 'card' }, h('h2', {}, 'Files'), h('div', { class: 'table-wrap' }, h('table', { class: 'files' },
    h('thead', {}, h('tr', {}, h('th', {}, 'File'), h('th', { class: 'num' }, 'Size'), h('th', { class: 'num' }, 'Clips'))), files_body))),
  h('section', { class: 'card' }, h('h2', {}, 'Skipped files'), skipped_empty, h('div', { class: 'table-wrap' }, h('table', { class: 'skipped' },
    h('thead', {}, h('tr', {}, h('th', {}, 'File'), h('th', {}, 'Reason'))), skipped_body))));

  async function refresh() {
    clearTimeout(timer);
    let d;
    try {
      d = await request('GET', base);
    } catch (err) {
      if (err.status === 404) {
        replace(el, h('h1', {}, 'No such dataset'), h('p', { class: 'error', role: 'alert' }, `There is no dataset ${id} that you can see.`));
        stopped = true;
        return;
      }
      ingest_error.textContent = err.message;
      d = null;
    }
    if (stopped) return;
    if (d) {
      title.textContent = `Dataset ${d.name || d.id}`;
      const state = ingest_state(d);
      el.dataset.ingest = state;
      const files = d.files;
      const ingest = d.ingest || {};
      const clips_of = new Map((ingest.ok || []).map((f) => [f.file, f.clips]));
      const skipped = d.skipped;
      replace(summary, [['Clips', d.clips ?? 0], ['Files', files.length], ['Skipped', skipped.length], ['Ingest', state],
        ingest.job ? ['Ingest job', h('a', { href: `#/jobs/${encodeURIComponent(ingest.job)}` }, `job ${ingest.job}`)] : null,
        ingest.failure_reason ? ['Ingest failure', ingest.failure_reason] : null]
        .filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', { class: `ds-${k.toLowerCase().replace(/ /g, '-')}` }, v)]));
      replace(files_body, files.map((f) => h('tr', {}, h('td', {}, f.name), h('td', { class: 'num' }, bytes(f.bytes)),
        h('td', { class: 'num' }, clips_of.get(f.name) ?? '–'))));
      replace(skipped_body, skipped.map((s) => h('tr', {}, h('td', {}, s.file), h('td', { class: 'reason' }, s.reason))));
      skipped_empty.hidden = skipped.length > 0;
      const busy = ['queued', 'running'].includes(state);
      ingest_button.disabled = busy;
      if (busy) timer = setTimeout(refresh, kPollMs);
    }
  }

  upload_form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const files = [...files_input.files];
    if (!files.length) {
      files_input.focus();
      return;
    }
    upload_button.disabled = true;
    // One at a time: each file streams to disk on the server, a bar per file shows how far.
    const bars = files.map((file) => {
      const bar = h('progress', { max: file.size || 1, value: 0, 'aria-label': `upload of ${file.name}` });
      const note = h('span', { class: 'upload-note' }, 'waiting');
      uploads.append(h('li', { dataset: { file: file.name } }, h('span', { class: 'upload-name' }, file.name), bar, note));
      return { file, bar, note };
    });
    for (const { file, bar, note } of bars) {
      note.textContent = `0 / ${bytes(file.size)}`;
      try {
        await upload(`${base}/files/${encodeURIComponent(file.name)}`, file, (loaded, total) => {
          bar.max = total || 1;
          bar.value = loaded;
          note.textContent = `${bytes(loaded)} / ${bytes(total)}`;
        });
        note.textContent = `uploaded ${bytes(file.size)}`;
        bar.closest('li').dataset.done = 'true';
      } catch (err) {
        note.textContent = `failed: ${err.message}`;
        note.classList.add('error');
        bar.closest('li').dataset.done = 'false';
      }
    }
    files_input.value = '';
    upload_button.disabled = false;
    refresh();
  });

  ingest_form.addEventListener('submit', async (e) => {
    e.preventDefault();
    ingest_error.textContent = '';
    for (const f of Object.values(ingest_fields)) f.error.textContent = '';
    ingest_button.disabled = true;
    try {
      await request('POST', `${base}/ingest`, {
        frames: Number(frames.input.value), size: size.input.value.trim(), frame_step: Number(frame_step.input.value),
      });
    } catch (err) {
      const f = ingest_fields[err.field];
      (f ? f.error : ingest_error).textContent = err.message;
    }
    refresh();
  });

  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
