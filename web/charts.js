// Charts on the page, drawn by uPlot (vendor/, copied from npm at install).
//
// StepChart: series over training steps (x = step), any of them sparse (held-out eval comes
// every few hundred steps): points are kept per step in a Map, so the same row arriving twice
// (an SSE replay after a reconnect, metrics.jsonl read after the stream began) is counted
// once; drop_after() forgets the steps a resumed run abandoned, clear() all of them. The
// chart's container carries data-points (how many steps have a value in the first
// series) so that a test can watch the data grow.
//
// Zoom: drag across the plot to zoom into a range of steps; "Reset zoom" or a double click
// shows everything again. While zoomed, new points do not move the view. The container's
// data-zoomed and data-x-range ("min..max" steps on view) say what is shown.

import uPlot from './vendor/uPlot.esm.js';

const kColors = ['#2b6cb0', '#d9480f', '#2f9e44', '#7048e8'];

// Tick labels that stay readable over many decades (uPlot's default rounds 1e-4 to "0").
function tick_label(v) {
  if (v === null || v === undefined) return '';
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-2 ? v.toExponential(0) : String(Number(v.toPrecision(3)));
}

export class StepChart {
  // series: [{label, points?}], y_label, log: log-scale y.
  constructor(container, { series, y_label, log = true, height = 280 }) {
    this.container = container;
    this.labels = series.map((s) => s.label);
    this.rows = new Map(); // step -> array of values (one per series, undefined when absent)
    this.zoomed = false;
    this.pending = false;
    const plot = document.createElement('div');
    plot.className = 'plot';
    const reset = document.createElement('button');
    reset.type = 'button';
    reset.className = 'small';
    reset.textContent = 'Reset zoom';
    reset.addEventListener('click', () => this.reset_zoom());
    container.append(plot, reset);
    container.dataset.points = '0';
    container.dataset.zoomed = 'false';
    const opts = {
      width: this.width(),
      height,
      scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
      axes: [
        { label: 'step', stroke: '#444' },
        { label: y_label, stroke: '#444', size: 70, values: (u, ticks) => ticks.map(tick_label) },
      ],
      series: [
        { label: 'step' },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: kColors[i % kColors.length],
          width: s.points ? 2 : 1.5,
          spanGaps: true,
          points: s.points ? { show: true, size: 7 } : { show: false },
        })),
      ],
      cursor: { drag: { x: true, y: false, setScale: true } },
      hooks: {
        setSelect: [(u) => { if (u.select.width > 0) this.set_zoomed(true); }],
        setScale: [(u, key) => {
          if (key === 'x') container.dataset.xRange = `${u.scales.x.min}..${u.scales.x.max}`;
        }],
      },
    };
    this.plot = new uPlot(opts, this.data(), plot);
    plot.addEventListener('dblclick', () => this.set_zoomed(false));
    this.resize_observer = new ResizeObserver(() => this.plot.setSize({ width: this.width(), height }));
    this.resize_observer.observe(container);
  }

  width() {
    return Math.max(240, Math.floor(this.container.clientWidth || 600));
  }

  // Sets series `index`'s value at `step` (non-positive or non-finite values are dropped:
  // a log axis cannot show them).
  add(index, step, value) {
    if (!Number.isFinite(step) || !Number.isFinite(value) || value <= 0) return;
    let row = this.rows.get(step);
    if (!row) {
      row = new Array(this.labels.length);
      this.rows.set(step, row);
    }
    row[index] = value;
    this.schedule();
  }

  // Forgets every step above `step`: a run resumed from `step` abandoned them
  // (train/report.hpp), and its new rows for those steps come after.
  drop_after(step) {
    for (const s of [...this.rows.keys()]) if (s > step) this.rows.delete(s);
    this.schedule();
  }

  clear() {
    this.rows.clear();
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.plot.setData(this.data(), !this.zoomed);
      let count = 0;
      for (const row of this.rows.values()) if (row[0] !== undefined) count++;
      this.container.dataset.points = String(count);
      this.container.dataset.evalPoints = String(this.count(1));
    });
  }

  count(index) {
    let n = 0;
    for (const row of this.rows.values()) if (row[index] !== undefined) n++;
    return n;
  }

  data() {
    const steps = [...this.rows.keys()].sort((a, b) => a - b);
    const columns = [steps];
    for (let i = 0; i < this.labels.length; i++) {
      columns.push(steps.map((s) => {
        const v = this.rows.get(s)[i];
        return v === undefined ? null : v;
      }));
    }
    return columns;
  }

  set_zoomed(zoomed) {
    this.zoomed = zoomed;
    this.container.dataset.zoomed = String(zoomed);
  }

  reset_zoom() {
    this.set_zoomed(false);
    this.plot.setData(this.data(), true);
  }

  destroy() {
    this.resize_observer.disconnect();
    this.plot.destroy();
  }
}

// A loss sparkline for the jobs list: no axes, no cursor, log y.
export function sparkline(container, losses) {
  const ys = losses.filter((v) => Number.isFinite(v) && v > 0);
  container.dataset.points = String(ys.length);
  if (ys.length < 2) return null;
  const xs = ys.map((_, i) => i);
  return new uPlot({
    width: 120,
    height: 28,
    scales: { x: { time: false }, y: { distr: 3 } },
    axes: [{ show: false }, { show: false }],
    series: [{}, { stroke: kColors[0], width: 1.25, points: { show: false } }],
    cursor: { show: false },
    legend: { show: false },
    select: { show: false },
  }, [xs, ys], container);
}
