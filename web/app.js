// The dashboard's shell: the session, the navigation bar and a hash router that mounts one
// view at a time. Each view module exports mount(element, params) and returns a function
// that stops whatever it started (timers, event streams, charts).

import { current_session, load_session, sign_out } from './api.js';
import { h, replace } from './dom.js';
import * as signin_view from './views/signin.js';
import * as jobs_view from './views/jobs.js';
import * as job_view from './views/job.js';
import * as submit_view from './views/submit.js';
import * as datasets_view from './views/datasets.js';
import * as dataset_view from './views/dataset.js';

const kRoutes = [
  { pattern: /^\/jobs$/, view: jobs_view, nav: 'jobs' },
  { pattern: /^\/jobs\/([^/]+)$/, view: job_view, nav: 'jobs', params: ['id'] },
  { pattern: /^\/submit$/, view: submit_view, nav: 'submit' },
  { pattern: /^\/datasets$/, view: datasets_view, nav: 'datasets' },
  { pattern: /^\/datasets\/([^/]+)$/, view: dataset_view, nav: 'datasets', params: ['id'] },
];

const main = document.getElementById('view');
const nav = document.getElementById('nav');
const whoami = document.getElementById('whoami');
const signout_button = document.getElementById('signout');
let unmount = null;

function route_of(hash) {
  const path = decodeURIComponent(hash.replace(/^#/, '').split('?')[0]) || '/jobs';
  for (const r of kRoutes) {
    const m = path.match(r.pattern);
    if (m) {
      const params = {};
      (r.params || []).forEach((name, i) => { params[name] = m[i + 1]; });
      return { route: r, params };
    }
  }
  return null;
}

function show_header(session) {
  nav.hidden = !session;
  signout_button.hidden = !session;
  replace(whoami, session ? [session.user, session.admin ? h('span', { class: 'badge admin' }, 'admin') : null] : []);
}

async function render() {
  if (unmount) {
    const stop = unmount;
    unmount = null;
    stop();
  }
  main.replaceChildren();
  const session = current_session();
  show_header(session);
  if (!session) {
    unmount = signin_view.mount(main, { on_signed_in: () => render() });
    return;
  }
  let found = route_of(location.hash);
  if (!found) {
    location.replace('#/jobs');
    return;
  }
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.nav === found.route.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  unmount = found.route.view.mount(main, found.params);
  main.focus({ preventScroll: true });
}

signout_button.addEventListener('click', async () => {
  try {
    await sign_out();
  } finally {
    location.hash = '#/jobs';
    render();
  }
});

window.addEventListener('hashchange', render);
window.addEventListener('dojo:signed-out', render);

(async () => {
  try {
    await load_session();
  } catch (err) {
    replace(main, h('p', { class: 'error', role: 'alert' }, `Cannot reach the server: ${err.message}`));
    return;
  }
  render();
})();
