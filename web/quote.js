// The mesh quote of a job (a dry run on the `host` preset and on mesh presets), as a table:
// one row per preset, one column per figure the server gives. Keys ending in _s are
// durations (but _per_s are rates).

import { h } from './dom.js';
import { duration, number } from './format.js';

function preset_rows(quote) {
  if (Array.isArray(quote)) return quote.map((q, i) => [q.preset || q.name || q.target || String(i + 1), q]);
  for (const key of ['presets', 'targets', 'quotes']) {
    if (quote && Array.isArray(quote[key])) return preset_rows(quote[key]);
    if (quote && quote[key] && typeof quote[key] === 'object') return preset_rows(quote[key]);
  }
  return Object.entries(quote || {}).filter(([, v]) => v && typeof v === 'object' && !Array.isArray(v));
}

const is_duration = (key) => key.endsWith('_s') && !key.endsWith('_per_s');

function label(key) {
  return key.replace(/_per_s$/, '/s').replace(/_s$/, '').replace(/_/g, ' ');
}

function cell(key, value) {
  if (typeof value === 'number') return is_duration(key) ? duration(value) : number(value);
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return value === null || value === undefined ? '–' : String(value);
}

export function quote_table(quote) {
  const rows = preset_rows(quote);
  if (rows.length === 0) return h('p', { class: 'empty' }, 'No quote.');
  const columns = [];
  for (const [, q] of rows) {
    for (const [k, v] of Object.entries(q)) {
      if (['preset', 'name', 'target'].includes(k) || (v !== null && typeof v === 'object')) continue;
      if (!columns.includes(k)) columns.push(k);
    }
  }
  const scalars = Object.entries(quote || {}).filter(([, v]) => v === null || typeof v !== 'object');
  return h('div', { class: 'quote' },
    h('div', { class: 'table-wrap' }, h('table', { class: 'quote-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'preset'), columns.map((c) => h('th', { class: 'num' }, label(c))))),
      h('tbody', {}, rows.map(([name, q]) => h('tr', { dataset: { preset: name } },
        h('th', { scope: 'row' }, name), columns.map((c) => h('td', { class: 'num' }, cell(c, q[c])))))))),
    scalars.length ? h('dl', { class: 'facts' }, scalars.map(([k, v]) => [h('dt', {}, label(k)), h('dd', {}, cell(k, v))])) : null);
}
