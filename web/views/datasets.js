// Datasets: the user's datasets (files, clips, ingest state) and a form to make a new one.

import { request } from '../api.js';
import { h, replace } from '../dom.js';
import { dataset_list } from './submit.js';

export function ingest_state(d) {
  return d.ingest_state || 'not ingested';
}

export function mount(el) {
  let stopped = false;
  const name = h('input', { id: 'dataset-name', name: 'name', required: true, autocomplete: 'off', 'aria-describedby': 'dataset-name-error' });
  const error = h('p', { id: 'dataset-name-error', class: 'field-error', role: 'alert' });
  const form = h('form', { class: 'card inline-form', 'aria-label': 'Create a dataset' },
    h('label', { for: 'dataset-name' }, 'New dataset'), name, h('button', { type: 'submit' }, 'Create'), error);
  const tbody = h('tbody');
  const empty = h('p', { class: 'empty', hidden: true }, 'No datasets yet: create one, then upload videos into it.');
  el.append(h('h1', {}, 'Datasets'), form,
    h('div', { class: 'table-wrap' }, h('table', { class: 'datasets' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Dataset'), h('th', { class: 'num' }, 'Files'), h('th', { class: 'num' }, 'Clips'),
        h('th', {}, 'Ingest'))), tbody)), empty);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      const d = await request('POST', '/v1/datasets', { name: name.value.trim() });
      location.hash = `#/datasets/${encodeURIComponent(d.id)}`;
    } catch (err) {
      error.textContent = err.message;
    }
  });

  (async () => {
    try {
      const all = dataset_list(await request('GET', '/v1/datasets'));
      if (stopped) return;
      replace(tbody, all.map((d) => h('tr', { dataset: { dataset: d.id } },
        h('td', {}, h('a', { href: `#/datasets/${encodeURIComponent(d.id)}` }, d.name || d.id)),
        h('td', { class: 'num' }, d.file_count ?? '–'),
        h('td', { class: 'num' }, d.clips ?? '–'),
        h('td', {}, ingest_state(d)))));
      empty.hidden = all.length > 0;
    } catch (err) {
      error.textContent = `Could not load the datasets: ${err.message}`;
    }
  })();
  name.focus();
  return () => { stopped = true; };
}
