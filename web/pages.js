// Explore, sign in and out, groups.
import { h, pathOf, tableBox, announce } from './dom.js';
import { api, apiAll, post, enc, ApiError } from './api.js';

function projectLink(p) {
  return h('a', { href: `${pathOf(p.path_with_namespace.split('/'))}/-/packages` },
    p.name_with_namespace || p.path_with_namespace);
}

function groupLink(g) {
  return h('a', { href: pathOf(g.full_path.split('/')) }, g.full_name || g.full_path);
}

function list(items, render, empty) {
  return items.length ? h('ul', { class: 'list' }, items.map((i) => h('li', null, render(i))))
    : h('p', { class: 'muted' }, empty);
}

export async function explore(session, params) {
  const search = params.get('search') || '';
  const q = search ? `&search=${enc(search)}` : '';
  const nodes = [h('h1', null, search ? `Search: ${search}` : 'Explore')];
  if (session.signed_in) {
    const [groups, projects] = await Promise.all([
      api(`/groups?min_access_level=10&per_page=100${q}`),
      api(`/projects?membership=true&order_by=path&sort=asc&per_page=100${q}`)]);
    nodes.push(h('section', { 'aria-labelledby': 'your-groups' },
      h('h2', { id: 'your-groups' }, 'Your groups'),
      list(groups.data, groupLink, 'No groups.')));
    nodes.push(h('section', { 'aria-labelledby': 'your-projects' },
      h('h2', { id: 'your-projects' }, 'Your projects'),
      list(projects.data, projectLink, 'No projects.')));
  }
  const pub = await api(`/projects?visibility=public&order_by=path&sort=asc&per_page=100${q}`);
  nodes.push(h('section', { 'aria-labelledby': 'public-projects' },
    h('h2', { id: 'public-projects' }, 'Public projects'),
    list(pub.data, (p) => [projectLink(p), p.description ? h('span', { class: 'muted' },
      ` ${p.description}`) : null], 'No public projects.')));
  if (!session.signed_in)
    nodes.push(h('p', null, h('a', { href: '/-/sign_in' }, 'Sign in'),
      ' with a personal access token to see your private groups and projects.'));
  return { title: search ? `Search ${search}` : 'Explore', nodes };
}

export function signIn(session, params) {
  const ret = params.get('return_to') || '/';
  const target = ret.startsWith('/') && !ret.startsWith('//') ? ret : '/';
  const err = h('p', { class: 'error', role: 'alert' });
  const input = h('input', { id: 'token', name: 'token', type: 'password', required: true,
    autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'token-help' });
  const form = h('form', {
    class: 'stack', onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        await post('/-/sign_in', { token: input.value });
        location.assign(target);
      } catch (x) {
        err.textContent = x.status === 401 ? 'That is not a valid personal access token.'
          : x.message;
        input.focus();
      }
    },
  },
  h('label', { for: 'token' }, 'Personal access token'),
  input,
  h('p', { id: 'token-help', class: 'muted' },
    'depot has no passwords: create a token with `depot token create personal --user NAME ',
    '--scopes api` (read_api for browsing only). Signing out, or revoking the token, ends ',
    'the session.'),
  h('button', { type: 'submit', class: 'primary' }, 'Sign in'), err);
  const nodes = [h('h1', null, 'Sign in')];
  if (session.signed_in) nodes.push(h('p', null, `You are signed in as ${session.user.username}.`));
  nodes.push(form);
  return { title: 'Sign in', nodes };
}

export function signOut(session) {
  if (session.signed_in)
    return { title: 'Sign out', nodes: [h('h1', null, 'Sign out'),
      h('p', null, `Signed in as ${session.user.username}.`),
      h('button', { type: 'button', class: 'primary', onclick: async () => {
        await post('/-/sign_out').catch(() => null);
        location.assign('/-/sign_out');
      } }, 'Sign out')] };
  return { title: 'Signed out', nodes: [h('h1', null, 'You are signed out'),
    h('p', null, h('a', { href: '/-/sign_in' }, 'Sign in again'), ' or ',
      h('a', { href: '/' }, 'explore public projects'), '.')] };
}

async function duplicateSettings(session, group) {
  if (!session.signed_in) return null;
  let owner = session.user.is_admin;
  if (!owner) {
    const m = await api(`/groups/${group.id}/members/all/${session.user.id}`).catch(() => null);
    owner = m && m.data.access_level >= 50;
  }
  if (!owner) return null;
  const { data } = await api(`/groups/${group.id}/packages/settings`);
  const allowed = h('input', { id: 'dup-allowed', type: 'checkbox',
    checked: data.generic_duplicates_allowed });
  const regex = h('input', { id: 'dup-regex', type: 'text',
    value: data.generic_duplicate_exception_regex || '' });
  const msg = h('p', { role: 'alert', class: 'error' });
  const form = h('form', { class: 'stack', onsubmit: async (e) => {
    e.preventDefault();
    msg.textContent = '';
    try {
      await api(`/groups/${group.id}/packages/settings`, { method: 'PUT', body: {
        generic_duplicates_allowed: allowed.checked,
        generic_duplicate_exception_regex: regex.value } });
      announce('Settings saved');
      msg.textContent = 'Saved.';
    } catch (x) { msg.textContent = x.message; }
  } },
  h('div', { class: 'check' }, allowed, h('label', { for: 'dup-allowed' },
    'Allow duplicate generic packages (same name, version and file name)')),
  h('label', { for: 'dup-regex' }, 'Exceptions (packages matching this regex may be duplicated)'),
  regex,
  h('button', { type: 'submit', class: 'primary' }, 'Save duplicate settings'), msg);
  return h('section', { 'aria-labelledby': 'dup-h' }, h('h2', { id: 'dup-h' },
    'Duplicate packages'), form);
}

export async function namespacePage(session, path, params) {
  let group;
  try {
    group = (await api(`/groups/${enc(path)}`)).data;
  } catch (e) {
    if (e.status !== 404) throw e;
    // Not a group: a project's page is its packages.
    const { listPage } = await import('./packages.js');
    return listPage(session, path, params);
  }
  const [subgroups, projects] = await Promise.all([
    apiAll(`/groups/${group.id}/subgroups`), apiAll(`/groups/${group.id}/projects`)]);
  const base = pathOf(group.full_path.split('/'));
  const nodes = [
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, crumbs(group.full_path)),
    h('h1', null, group.full_name || group.name),
    group.description ? h('p', null, group.description) : null,
    h('p', null, h('a', { href: `${base}/-/packages`, class: 'button' }, 'Packages of this group')),
    h('section', { 'aria-labelledby': 'subgroups-h' }, h('h2', { id: 'subgroups-h' }, 'Subgroups'),
      list(subgroups, groupLink, 'No subgroups.')),
    h('section', { 'aria-labelledby': 'projects-h' }, h('h2', { id: 'projects-h' }, 'Projects'),
      list(projects, projectLink, 'No projects.')),
    await duplicateSettings(session, group),
  ];
  return { title: group.full_name || group.name, nodes };
}

// Breadcrumb links for each namespace of a full path.
export function crumbs(full) {
  const parts = full.split('/');
  const ol = h('ol');
  parts.forEach((p, i) => ol.append(h('li', null,
    h('a', { href: pathOf(parts.slice(0, i + 1)) }, p))));
  return ol;
}

export { ApiError, tableBox };
