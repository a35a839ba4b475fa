// Reads a job's metrics.jsonl (the trainer's per-step and per-eval rows) incrementally: each
// read asks only for the bytes after the last complete line it has seen (a Range request),
// and only when the artifact list shows the file has grown, so polling an idle job costs one
// small request.

import { fetch_text, request } from './api.js';

export function artifact_url(job_id, name) {
  return `/v1/jobs/${encodeURIComponent(job_id)}/artifacts/${name.split('/').map(encodeURIComponent).join('/')}`;
}

export function artifact_list(body) {
  return body.artifacts;
}

export class MetricsReader {
  constructor(job_id) {
    this.job_id = job_id;
    this.offset = 0; // bytes of complete lines consumed
    this.queue = Promise.resolve();
  }

  // The next read starts again from the file's first byte (after the reads already asked
  // for).
  restart() {
    this.queue = this.queue.then(() => { this.offset = 0; });
  }

  // Returns the new rows (parsed JSON objects) since the last call. `artifacts` may be given
  // when the caller has just listed them. Calls run one after another (each starts at the
  // offset the previous one reached), so overlapping callers never read a row twice or skip
  // one.
  read(artifacts) {
    const next = this.queue.then(() => this.read_now(artifacts));
    this.queue = next.catch(() => {});
    return next;
  }

  async read_now(artifacts) {
    if (!artifacts) artifacts = artifact_list(await request('GET', `/v1/jobs/${encodeURIComponent(this.job_id)}/artifacts`));
    const file = artifacts.find((a) => a.name === 'metrics.jsonl');
    if (!file || file.bytes <= this.offset) return [];
    const text = await fetch_text(artifact_url(this.job_id, 'metrics.jsonl'), this.offset);
    const bytes = new TextEncoder().encode(text);
    const last_newline = bytes.lastIndexOf(10);
    if (last_newline < 0) return [];
    const complete = new TextDecoder().decode(bytes.subarray(0, last_newline + 1));
    this.offset += last_newline + 1;
    const rows = [];
    for (const line of complete.split('\n')) {
      if (!line.trim()) continue;
      try {
        rows.push(JSON.parse(line));
      } catch (_) {
        // A line that is not JSON is not a metrics row; skip it.
      }
    }
    return rows;
  }
}
