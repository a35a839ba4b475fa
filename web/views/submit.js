// Submit a training job: a dataset (and optionally a held-out one), a preset or a pasted YAML
// config, steps and ranks. Every change asks the server for a dry run, so the mesh quote is
// on the page before the job is submitted; an error the server reports for a field (a config
// key, the dataset, ranks) is shown next to that field.

import { ApiError, request } from '../api.js';
import { h, replace } from '../dom.js';
import { quote_table } from '../quote.js';

const kPresets = ['tiny', 'demo', 'bench'];

export function dataset_list(body) {
  return body.datasets;
}

function field(id, label_text, control, hint) {
  const error = h('p', { id: `${id}-error`, class: 'field-error', role: 'alert' });
  control.id = id;
  control.setAttribute('aria-describedby', `${id}-error`);
  return { row: h('div', { class: 'field' }, h('label', { for: id }, label_text), control, hint ? h('p', { class: 'hint' }, hint) : null, error), error, control };
}

export function mount(el) {
  let stopped = false;
  const dataset = field('dataset', 'Dataset', h('select', { name: 'dataset', required: true }));
  const eval_dataset = field('eval-dataset', 'Held-out dataset (optional)', h('select', { name: 'eval_dataset' }));
  const mode_preset = h('input', { type: 'radio', name: 'mode', value: 'preset', id: 'mode-preset', checked: true });
  const mode_yaml = h('input', { type: 'radio', name: 'mode', value: 'yaml', id: 'mode-yaml' });
  const preset = field('preset', 'Preset', h('select', { name: 'preset' }, kPresets.map((p) => h('option', { value: p }, p))));
  const yaml = field('config', 'YAML config', h('textarea', { name: 'config', rows: 10, spellcheck: 'false',
    placeholder: 'model: tiny\ntrain:\n  lr: 0.003\n' }), 'Any key of dojo train\'s config; the service sets every path.');
  yaml.row.hidden = true;
  const steps = field('steps', 'Steps', h('input', { name: 'steps', type: 'number', min: 1, step: 1, value: 200, inputmode: 'numeric' }));
  const ranks = field('ranks', 'Ranks', h('input', { name: 'ranks', type: 'number', min: 1, step: 1, value: 1, inputmode: 'numeric' }));
  const form_error = h('p', { class: 'field-error', role: 'alert', id: 'form-error' });
  const quote_box = h('div', { id: 'quote', 'aria-live': 'polite' }, h('p', { class: 'empty' }, 'Choose a dataset to see the quote.'));
  const quote_button = h('button', { type: 'button' }, 'Get quote');
  const submit_button = h('button', { type: 'submit', disabled: true }, 'Submit job');
  const fields = { dataset, eval_dataset, preset, config: yaml, steps, ranks };

  const form = h('form', { class: 'card', 'aria-label': 'Submit a training job', novalidate: true },
    dataset.row, eval_dataset.row,
    h('fieldset', { class: 'mode' }, h('legend', {}, 'Configuration'),
      h('label', { class: 'inline', for: 'mode-preset' }, mode_preset, ' a preset'),
      h('label', { class: 'inline', for: 'mode-yaml' }, mode_yaml, ' my own YAML')),
    preset.row, yaml.row,
    h('div', { class: 'grid2 tight' }, steps.row, ranks.row),
    form_error,
    h('div', { class: 'buttons' }, quote_button, submit_button));
  el.append(h('h1', {}, 'Submit a job'), h('div', { class: 'grid2' }, form,
    h('section', { class: 'card' }, h('h2', {}, 'Mesh quote (dry run)'), quote_box)));

  function body(dry_run) {
    const b = { kind: 'train', dataset: Number(dataset.control.value), ranks: Number(ranks.control.value), dry_run };
    if (eval_dataset.control.value) b.eval_dataset = Number(eval_dataset.control.value);
    if (mode_yaml.checked) b.config = yaml.control.value;
    else b.preset = preset.control.value;
    if (steps.control.value !== '') b.set = { 'train.steps': Number(steps.control.value) };
    return b;
  }

  function clear_errors() {
    form_error.textContent = '';
    for (const f of Object.values(fields)) {
      f.error.textContent = '';
      f.control.removeAttribute('aria-invalid');
    }
  }

  // Which form field a server error names: the request's own fields, or a config key (shown
  // by the steps box for train.steps, else by the YAML box or the preset).
  function field_for(name) {
    if (!name) return null;
    const n = name.replace(/^set\./, '');
    if (n === 'dataset' || n === 'data.shards') return dataset;
    if (n === 'eval_dataset' || n === 'data.eval_shards') return eval_dataset;
    if (n === 'ranks') return ranks;
    if (n === 'train.steps' || n === 'steps') return steps;
    if (n === 'preset') return preset;
    if (n === 'config' || n.includes('.') || n === 'model') return mode_yaml.checked ? yaml : preset;
    return null;
  }

  function show_error(err) {
    const f = err instanceof ApiError ? field_for(err.field) : null;
    if (f) {
      f.error.textContent = err.message;
      f.control.setAttribute('aria-invalid', 'true');
    } else {
      form_error.textContent = err.message;
    }
  }

  let quote_seq = 0;
  async function quote() {
    clear_errors();
    submit_button.disabled = true;
    if (!dataset.control.value) {
      replace(quote_box, h('p', { class: 'empty' }, 'Choose a dataset to see the quote.'));
      return;
    }
    const seq = ++quote_seq;
    replace(quote_box, h('p', { class: 'empty' }, 'Quoting…'));
    try {
      const answer = await request('POST', '/v1/jobs', body(true));
      if (stopped || seq !== quote_seq) return;
      replace(quote_box, quote_table(answer.quote || answer));
      quote_box.dataset.ready = 'true';
      submit_button.disabled = false;
    } catch (err) {
      if (stopped || seq !== quote_seq) return;
      delete quote_box.dataset.ready;
      replace(quote_box, h('p', { class: 'empty' }, 'No quote: fix the form first.'));
      show_error(err);
    }
  }
  // Asks again only when what would be submitted changed: a `change` event that follows the
  // `input` events (a field losing focus, e.g. to the Submit button) must not take the quote
  // away under the pointer.
  let debounce = null;
  let quoted_for = null;
  function requote() {
    const key = JSON.stringify(body(true));
    if (key === quoted_for) return;
    quoted_for = key;
    delete quote_box.dataset.ready;
    submit_button.disabled = true;
    clearTimeout(debounce);
    debounce = setTimeout(quote, 400);
  }
  form.addEventListener('input', requote);
  form.addEventListener('change', (e) => {
    if (e.target.name === 'mode') {
      yaml.row.hidden = !mode_yaml.checked;
      preset.row.hidden = mode_yaml.checked;
    }
    requote();
  });
  quote_button.addEventListener('click', () => {
    clearTimeout(debounce);
    quoted_for = JSON.stringify(body(true));
    quote();
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit_button.disabled) return;
    clear_errors();
    submit_button.disabled = true;
    try {
      const job = await request('POST', '/v1/jobs', body(false));
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } catch (err) {
      show_error(err);
      submit_button.disabled = false;
    }
  });

  (async () => {
    try {
      const all = dataset_list(await request('GET', '/v1/datasets'));
      if (stopped) return;
      const options = all.map((d) => h('option', { value: d.id }, `${d.name || d.id}${Number.isFinite(d.clips) ? ` (${d.clips} clips)` : ''}`));
      replace(dataset.control, h('option', { value: '' }, all.length ? 'Choose a dataset' : 'No datasets: upload one first'),
        options.map((o) => o.cloneNode(true)));
      replace(eval_dataset.control, h('option', { value: '' }, 'none (the training set)'), options);
      const wanted = new URLSearchParams(location.hash.split('?')[1] || '').get('dataset');
      if (wanted) dataset.control.value = wanted;
      if (dataset.control.value) {
        quoted_for = JSON.stringify(body(true));
        quote();
      }
    } catch (err) {
      form_error.textContent = `Could not load the datasets: ${err.message}`;
    }
  })();
  dataset.control.focus();
  return () => {
    stopped = true;
    clearTimeout(debounce);
  };
}
