// A real `dojo serve` for the browser tests: a temporary state folder, two users made with
// `dojo serve user add` (alice, an admin, and bob), 127.0.0.1 on a free port, the local
// executor. stop() ends the server (SIGTERM, then SIGKILL) and removes the folder.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../..');
export const dojo_bin = process.env.DOJO_BIN || path.join(repo, 'build/bin/dojo');

// `dojo serve user add` prints the new token, alone, on stdout (its notes go to stderr).
function add_user(state, name, admin) {
  const args = ['serve', 'user', 'add', name, '--state', state];
  if (admin) args.push('--admin');
  const token = execFileSync(dojo_bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  if (!/^\S{32,}$/.test(token)) throw new Error(`dojo ${args.join(' ')} printed no token: '${token}'`);
  return token;
}

// The server listens on port 0 (any free port) and writes the port it got to --port-file.
async function wait_ready(port_file, server, log_path) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) {
      throw new Error(`dojo serve exited with ${server.exitCode}:\n${fs.readFileSync(log_path, 'utf8')}`);
    }
    const port = fs.existsSync(port_file) ? Number(fs.readFileSync(port_file, 'utf8').trim()) : 0;
    if (port > 0) {
      const url = `http://127.0.0.1:${port}`;
      try {
        const res = await fetch(`${url}/v1/session`);
        if (res.status === 401) return url;
      } catch (_) {
        // not answering yet
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`dojo serve did not answer within 60 s:\n${fs.readFileSync(log_path, 'utf8')}`);
}

// Cancels every job still queued or running (alice is an admin: she sees them all), waits
// for them to settle, and kills the process group of any that has not.
async function end_jobs(url, token) {
  const auth = { Authorization: `Bearer ${token}` };
  const live = async () => {
    const res = await fetch(`${url}/v1/jobs`, { headers: auth });
    return res.ok ? (await res.json()).jobs.filter((j) => j.state === 'queued' || j.state === 'running') : [];
  };
  let jobs = await live();
  for (const j of jobs) await fetch(`${url}/v1/jobs/${j.id}/cancel`, { method: 'POST', headers: auth });
  const deadline = Date.now() + 20_000;
  while (jobs.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    jobs = await live();
  }
  for (const j of jobs) {
    const pgid = Number(j.executor_id);
    if (j.executor === 'local' && pgid > 1) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch (_) {
        // already gone
      }
    }
  }
}

export async function start_server(out_dir) {
  if (!fs.existsSync(dojo_bin)) throw new Error(`DOJO_BIN ${dojo_bin} does not exist: build dojo first`);
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'dojo-web-state-'));
  const tokens = { alice: add_user(state, 'alice', true), bob: add_user(state, 'bob', false) };
  fs.mkdirSync(out_dir, { recursive: true });
  const port_file = path.join(state, 'port');
  const log_path = path.join(out_dir, 'dojo-serve.log');
  const log = fs.openSync(log_path, 'w');
  const args = ['serve', '--state', state, '--listen', '127.0.0.1:0', '--port-file', port_file,
    '--executor', 'local', '--slots', '2'];
  if (process.env.DOJO_WEB_DIR) args.push('--web-dir', process.env.DOJO_WEB_DIR);
  const server = spawn(dojo_bin, args, { stdio: ['ignore', log, log], env: process.env });
  fs.closeSync(log);
  const url = await wait_ready(port_file, server, log_path);
  return {
    url, state, tokens, log_path,
    async stop() {
      // SIGTERM leaves jobs running (a restarted server adopts them): end this run's first.
      if (server.exitCode === null) await end_jobs(url, tokens.alice);
      if (server.exitCode === null) {
        const exited = new Promise((r) => server.once('exit', r));
        server.kill('SIGTERM');
        const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(state, { recursive: true, force: true });
    },
  };
}

// A short video for the upload: the smallest real driving clip when the shared data is
// there, else one that `dojo synth` makes.
export function test_clip(work_dir) {
  const shared = process.env.DOJO_SHARED_DATA && path.join(process.env.DOJO_SHARED_DATA, 'driving');
  if (shared && fs.existsSync(shared)) {
    const clips = fs.readdirSync(shared).filter((f) => /\.(mp4|mkv|mov|avi|webm)$/i.test(f))
      .map((f) => path.join(shared, f)).sort((a, b) => fs.statSync(a).size - fs.statSync(b).size);
    if (clips.length) return clips[0];
  }
  const out = path.join(work_dir, 'synth');
  execFileSync(dojo_bin, ['synth', '--out', out, '--clips', '1', '--seconds', '2', '--size', '64x64'], { stdio: 'inherit' });
  const made = fs.readdirSync(out).filter((f) => f.endsWith('.mp4'));
  if (!made.length) throw new Error(`dojo synth made no .mp4 in ${out}`);
  return path.join(out, made[0]);
}
