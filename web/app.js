// The router: one shell for every page URL (GitLab's shapes); each page reads the JSON API.
import { h, add } from './dom.js';
import { ApiError, currentSession, loadSession, post } from './api.js';
import * as pages from './pages.js';
import * as packages from './packages.js';

function decodePath(p) {
  return p.split('/').map((s) => {
    try { return decodeURIComponent(s); } catch (e) { return s; }
  }).join('/');
}

function header(session) {
  const who = document.getElementById('who');
  who.replaceChildren();
  if (session.signed_in) {
    add(who, [
      h('span', { class: 'user' }, session.user.username),
      h('button', {
        type: 'button', class: 'link', onclick: async () => {
          await post('/-/sign_out').catch(() => null);
          location.assign('/-/sign_out');
        },
      }, 'Sign out'),
    ]);
  } else {
    const back = location.pathname.startsWith('/-/') ? '/' : location.pathname + location.search;
    add(who, h('a', { href: `/-/sign_in?return_to=${encodeURIComponent(back)}` }, 'Sign in'));
  }
  const q = new URLSearchParams(location.search).get('search');
  if (q && location.pathname === '/') document.getElementById('site-search').value = q;
}

export function errorPage(e) {
  const status = e instanceof ApiError ? e.status : 0;
  const signIn = h('a', { href: `/-/sign_in?return_to=${encodeURIComponent(location.pathname)}` },
    'Sign in');
  if (e && e.expired)
    return { title: 'Session ended', nodes: [h('h1', null, 'Your session has ended'),
      h('p', null, 'The token you signed in with was revoked or has expired. ', signIn,
        ' again with a valid personal access token.')] };
  if (status === 401)
    return { title: 'Sign in required', nodes: [h('h1', null, 'Sign in required'),
      h('p', null, signIn, ' to see this page.')] };
  if (status === 403)
    return { title: 'Forbidden', nodes: [h('h1', null, '403: Forbidden'),
      h('p', null, 'You are not allowed to see or change this.'), h('p', null, e.message)] };
  if (status === 404)
    return { title: 'Not found', nodes: [h('h1', null, '404: Page not found'),
      h('p', null, 'Nothing is here, or you are not allowed to see it.'),
      currentSession().signed_in ? null
        : h('p', null, 'If it is private: ', signIn, ' to see it.'),
      h('p', null, h('a', { href: '/' }, 'Explore projects'))] };
  return { title: 'Error', nodes: [h('h1', null, 'Something went wrong'),
    h('p', null, e && e.message ? e.message : String(e))] };
}

async function render() {
  const main = document.getElementById('main');
  const session = await loadSession();
  header(session);
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const params = new URLSearchParams(location.search);
  let view;
  let m;
  try {
    if (session.expired) {
      const e = new ApiError(401, 'session ended');
      e.expired = true;
      throw e;
    }
    if (path === '/') view = await pages.explore(session, params);
    else if (path === '/-/sign_in') view = pages.signIn(session, params);
    else if (path === '/-/sign_out') view = pages.signOut(session);
    else if ((m = path.match(/^\/(.+?)\/-\/packages\/(\d+)$/)))
      view = await packages.packagePage(session, decodePath(m[1]), m[2]);
    else if ((m = path.match(/^\/(.+?)\/-\/packages$/)))
      view = await packages.listPage(session, decodePath(m[1]), params);
    else if ((m = path.match(/^\/(.+?)\/-\/settings\/packages$/)))
      view = await packages.settingsPage(session, decodePath(m[1]));
    else if (!path.includes('/-/'))
      view = await pages.namespacePage(session, decodePath(path.slice(1)), params);
    else throw new ApiError(404, 'no such page');
  } catch (e) {
    if (!(e instanceof ApiError)) console.error(e);
    view = errorPage(e);
  }
  document.title = `${view.title} · depot`;
  main.replaceChildren(...view.nodes);
  document.body.dataset.ready = 'true';
}

render();
