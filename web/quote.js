// The mesh quote of a job, as the service computes it before a single step runs:
//   {model, steps, global_batch, targets: [{preset, available, ranks, replicas, global_batch,
//    step_s, total_s, clips_per_s, utilization} | {preset, available: false, reason}]}
// One row per target preset (this cluster's `host`, a tile, an ExaPOD).

import { h } from './dom.js';
import { duration, number } from './format.js';

function percent(x) {
  return Number.isFinite(x) ? `${(100 * x).toPrecision(3)} %` : '–';
}

export function quote_table(quote) {
  const targets = (quote && quote.targets) || [];
  if (targets.length === 0) return h('p', { class: 'empty' }, 'No quote.');
  const rows = targets.map((t) => h('tr', { dataset: { preset: t.preset } },
    h('th', { scope: 'row' }, t.preset),
    t.available
      ? [h('td', { class: 'num' }, duration(t.step_s)), h('td', { class: 'num' }, duration(t.total_s)),
        h('td', { class: 'num' }, number(t.clips_per_s, 3)), h('td', { class: 'num' }, percent(t.utilization)),
        h('td', { class: 'num' }, `${t.ranks}×${t.replicas}`)]
      : h('td', { colspan: 5, class: 'reason' }, `not available: ${t.reason}`)));
  return h('div', { class: 'quote' },
    h('div', { class: 'table-wrap' }, h('table', { class: 'quote-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Preset'), h('th', { class: 'num' }, 'Step'), h('th', { class: 'num' }, 'Whole job'),
        h('th', { class: 'num' }, 'Clips/s'), h('th', { class: 'num' }, 'FLOP use'), h('th', { class: 'num', title: 'ranks × data-parallel replicas' }, 'Ranks×repl.'))),
      h('tbody', {}, rows))),
    h('p', { class: 'hint' }, `Model ${quote.model}, ${quote.steps} steps, global batch ${quote.global_batch}; projected by dojo's mesh simulation.`));
}
