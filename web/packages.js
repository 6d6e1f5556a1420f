// A project's or group's packages, one package version, and a project's package settings.
import { h, pathOf, fmtSize, timeEl, tableBox, copyButton, confirmDialog, announce } from './dom.js';
import { api, apiAll, enc, ApiError } from './api.js';
import { crumbs } from './pages.js';

const SVG = 'http://www.w3.org/2000/svg';

async function projectOrGroup(path) {
  try {
    // statistics: the project's total, for its Reporters and above
    return { project: (await api(`/projects/${enc(path)}?statistics=true`)).data };
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  return { group: (await api(`/groups/${enc(path)}`)).data };
}

// May the caller change the project's package settings (a maintainer)?
async function canAdmin(session, project) {
  if (!session.signed_in) return false;
  return api(`/projects/${project.id}/packages/cleanup_policy`).then(() => true, () => false);
}

function pager(params, page, pages) {
  const link = (p, label, rel) => {
    const q = new URLSearchParams(params);
    q.set('page', String(p));
    return h('a', { href: `?${q}`, rel }, label);
  };
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    page > 1 ? link(page - 1, 'Previous', 'prev') : null,
    h('span', null, `Page ${page} of ${pages}`),
    page < pages ? link(page + 1, 'Next', 'next') : null);
}

function filterForm(params) {
  const field = (id, label, type, value) => [h('label', { for: id }, label),
    h('input', { id, name: id, type, value: value || '' })];
  const sel = (id, label, options, value) => [h('label', { for: id }, label),
    h('select', { id, name: id }, options.map(([v, t]) =>
      h('option', { value: v, selected: v === value }, t)))];
  return h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter packages' },
    h('div', null, field('search', 'Name contains', 'search', params.get('search'))),
    h('div', null, field('version', 'Version', 'text', params.get('version'))),
    h('div', null, sel('order_by', 'Sort by', [['created_at', 'Created'], ['name', 'Name'],
      ['version', 'Version']], params.get('order_by') || 'created_at')),
    h('div', null, sel('sort', 'Order', [['desc', 'Descending'], ['asc', 'Ascending']],
      params.get('sort') || 'desc')),
    h('div', null, h('button', { type: 'submit', class: 'primary' }, 'Filter')));
}

function listQuery(params) {
  const q = new URLSearchParams();
  if (params.get('search')) q.set('package_name', params.get('search'));
  if (params.get('version')) q.set('package_version', params.get('version'));
  q.set('order_by', params.get('order_by') || 'created_at');
  q.set('sort', params.get('sort') || 'desc');
  q.set('page', params.get('page') || '1');
  q.set('per_page', '20');
  return q;
}

// The largest packages (listed by order_by=size), as bars.
function sizeChart(pkgs, withProject) {
  const top = pkgs.filter((p) => p.size > 0);
  if (!top.length) return null;
  const max = top[0].size;
  const bar = 22, w = 320;
  const label = (p) => `${withProject ? `${p.project_path} ` : ''}${p.name} ${p.version}`;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${top.length * bar}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'Largest packages: ' + top.map((p) =>
    `${label(p)} ${fmtSize(p.size)}`).join(', '));
  top.forEach((p, i) => {
    const width = Math.max(2, (p.size / max) * (w * 0.55));
    const rect = document.createElementNS(SVG, 'rect');
    rect.setAttribute('x', '0');
    rect.setAttribute('y', String(i * bar + 3));
    rect.setAttribute('height', String(bar - 6));
    rect.setAttribute('width', String(width));
    rect.setAttribute('class', 'bar');
    const t = document.createElementNS(SVG, 'text');
    t.setAttribute('x', String(width + 4));
    t.setAttribute('y', String(i * bar + bar / 2 + 4));
    t.textContent = `${label(p)} · ${fmtSize(p.size)}`;
    svg.append(rect, t);
  });
  return svg;
}

function packagesTable(rows, withProject, caption) {
  return tableBox(caption, h('table', null, h('caption', null, caption),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'),
      withProject ? h('th', { scope: 'col' }, 'Project') : null,
      h('th', { scope: 'col' }, 'Version'), h('th', { scope: 'col' }, 'Files'),
      h('th', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, 'Created'),
      h('th', { scope: 'col' }, 'Last downloaded'))),
    h('tbody', null, rows.map((p) => h('tr', null,
      h('td', null, p._links && p._links.web_path ? h('a', { href: p._links.web_path }, p.name)
        : p.name, p.status !== 'default' ? h('span', { class: 'badge' }, p.status) : null),
      withProject ? h('td', null, p.project_path) : null,
      h('td', null, p.version),
      h('td', { class: 'num' }, String(p.file_count)),
      h('td', { class: 'num' }, fmtSize(p.size)),
      h('td', null, timeEl(p.created_at)),
      h('td', null, timeEl(p.last_downloaded_at)))))));
}

export async function listPage(session, path, params) {
  const { project, group } = await projectOrGroup(path);
  const subject = project || group;
  const full = project ? project.path_with_namespace : group.full_path;
  const apiBase = project ? `/projects/${project.id}` : `/groups/${group.id}`;
  const q = listQuery(params);
  const { data: rows, headers } = await api(`${apiBase}/packages?${q}`);
  // the largest packages of the whole project or group, whatever page is open
  const largest = api(`${apiBase}/packages?order_by=size&sort=desc&per_page=10`)
    .then((r) => r.data, () => []);
  let hidden = [];
  if (project && session.signed_in) {
    // uploads not published yet (@publish), for the members who can see them
    const hq = new URLSearchParams(q);
    hq.set('status', 'hidden');
    hq.set('page', '1');
    hidden = await api(`${apiBase}/packages?${hq}`).then((r) => r.data, () => []);
  }
  const page = Number(headers.get('X-Page') || 1), pages = Number(headers.get('X-Total-Pages') || 1);
  const total = Number(headers.get('X-Total') || rows.length);
  const admin = project && await canAdmin(session, project);
  const title = `${project ? project.name : group.full_name || group.name}: packages`;
  const nodes = [
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, crumbs(full)),
    h('h1', null, title),
    admin ? h('p', null, h('a', { href: `${pathOf(full.split('/'))}/-/settings/packages` },
      'Package settings')) : null,
    filterForm(params),
    h('p', { class: 'muted' }, `${total} package${total === 1 ? '' : 's'}`),
    rows.length ? packagesTable(rows, !project, 'Packages') : h('p', null, 'No packages found.'),
    pages > 1 ? pager(params, page, pages) : null,
  ];
  if (hidden.length)
    nodes.push(h('section', { 'aria-labelledby': 'hidden-h' },
      h('h2', { id: 'hidden-h' }, 'Hidden (not published yet)'),
      packagesTable(hidden, false, 'Hidden packages')));
  const top = await largest;
  const stats = project && project.statistics;
  if (stats || top.length)
    nodes.push(h('section', { 'aria-labelledby': 'storage-h' },
      h('h2', { id: 'storage-h' }, 'Storage'),
      stats ? h('p', { id: 'project-size' }, 'This project\'s packages take ',
        h('strong', null, fmtSize(stats.packages_size)), '.') : null,
      top.length ? [h('p', null, `The largest package${top.length === 1 ? '' : 's'}:`),
        sizeChart(top, !project)] : null));
  void subject;
  return { title, nodes };
}

// The files as a tree of directories: {dirs: Map(name -> node), files: []}.
function tree(files) {
  const root = { dirs: new Map(), files: [] };
  for (const f of files) {
    const parts = f.file_name.split('/');
    let node = root;
    for (const d of parts.slice(0, -1)) {
      if (!node.dirs.has(d)) node.dirs.set(d, { dirs: new Map(), files: [] });
      node = node.dirs.get(d);
    }
    node.files.push({ name: parts[parts.length - 1], f });
  }
  return root;
}

function shq(s) {
  return `'${String(s).replace(/'/g, "'\\''")}'`;
}

function urlPath(name) {
  return name.split('/').map(encodeURIComponent).join('/');
}

function commandBlock(id, title, text) {
  return h('div', { class: 'command' },
    h('div', { class: 'command-head' }, h('h3', { id }, title),
      copyButton(text, `Copy: ${title}`)),
    h('pre', { tabindex: '0', 'aria-labelledby': id }, h('code', null, text)));
}

function commands(session, project, pkg, files) {
  const origin = location.origin;
  const token = session.signed_in ? '<your_personal_access_token>' : '<your_access_token>';
  const user = session.signed_in ? session.user.username : '<username>';
  const base = `${origin}/api/v4/projects/${project.id}/packages/generic/` +
    `${encodeURIComponent(pkg.name)}/${encodeURIComponent(pkg.version)}`;
  const file = files.length ? files[0].file_name : 'file.txt';
  const fileUrl = `${base}/${urlPath(file)}`;
  const local = file.split('/').pop();
  return [
    commandBlock('cmd-dl', 'Download with curl (header)',
      `curl --location --header "PRIVATE-TOKEN: ${token}" \\\n     --output ${shq(local)} \\\n` +
      `     ${shq(fileUrl)}`),
    commandBlock('cmd-dl-basic', 'Download with curl (Basic)',
      `curl --location --user "${user}:${token}" \\\n     --output ${shq(local)} \\\n` +
      `     ${shq(fileUrl)}`),
    commandBlock('cmd-up', 'Upload with curl (header)',
      `curl --location --header "PRIVATE-TOKEN: ${token}" \\\n     --upload-file ${shq(local)} \\\n` +
      `     ${shq(fileUrl)}`),
    commandBlock('cmd-up-basic', 'Upload with curl (Basic)',
      `curl --location --user "${user}:${token}" \\\n     --upload-file ${shq(local)} \\\n` +
      `     ${shq(fileUrl)}`),
    commandBlock('cmd-all', 'Download the entire package',
      `TOKEN="${token}"\nPROJECT_ID="${project.id}"\nPACKAGE_NAME=${shq(pkg.name)}\n` +
      `PACKAGE_VERSION=${shq(pkg.version)}\nOUTPUT_DIR="./downloaded_package"\n\n` +
      `# Create output directory\nmkdir -p "$OUTPUT_DIR"\n\n# Get list of files in the package\n` +
      `files=$(curl --location --header  "PRIVATE-TOKEN: $TOKEN" \\\n` +
      `     "${origin}/api/v4/projects/$PROJECT_ID/packages/generic/$PACKAGE_NAME/$PACKAGE_VERSION/files" \\\n` +
      `     | jq -r '.[].file_name')\n\n# Download each file\nfor file in $files; do\n` +
      `    curl --location --header  "PRIVATE-TOKEN: $TOKEN" \\\n` +
      `         --output "$OUTPUT_DIR/$file" \\\n         --create-dirs \\\n` +
      `         "${origin}/api/v4/projects/$PROJECT_ID/packages/generic/$PACKAGE_NAME/$PACKAGE_VERSION/$file"\n` +
      `    echo "Downloaded: $file"\ndone`),
    commandBlock('cmd-py', 'python-gitlab',
      `import gitlab\n\ngl = gitlab.Gitlab(${JSON.stringify(origin)}, private_token=${JSON.stringify(token)})\n` +
      `project = gl.projects.get(${project.id})\n` +
      `data = project.generic_packages.download(\n    package_name=${JSON.stringify(pkg.name)},\n` +
      `    package_version=${JSON.stringify(pkg.version)},\n    file_name=${JSON.stringify(file)},\n)\n` +
      `open(${JSON.stringify(local)}, "wb").write(data)`),
    commandBlock('cmd-ci', '.gitlab-ci.yml job',
      `download-${pkg.name.replace(/[^A-Za-z0-9_-]/g, '-')}:\n  script:\n` +
      `    - 'curl --location --header "JOB-TOKEN: $CI_JOB_TOKEN" --output ${shq(local).replace(/'/g, "''")} ` +
      `"\${CI_API_V4_URL}/projects/${project.id}/packages/generic/${encodeURIComponent(pkg.name)}/` +
      `${encodeURIComponent(pkg.version)}/${urlPath(file)}"'`),
  ];
}

export async function packagePage(session, path, id) {
  const project = (await api(`/projects/${enc(path)}`)).data;
  const pkg = (await api(`/projects/${project.id}/packages/${id}`)).data;
  const files = await apiAll(`/projects/${project.id}/packages/${id}/package_files`, 10000);
  const canDelete = Boolean(pkg._links && pkg._links.delete_api_path);
  const full = project.path_with_namespace;
  const listUrl = `${pathOf(full.split('/'))}/-/packages`;
  const total = files.reduce((a, f) => a + f.size, 0);
  const label = `${pkg.name} ${pkg.version}`;

  const fileItem = (name, f) => {
    const dl = `/api/v4/projects/${project.id}/packages/${pkg.id}/package_files/${f.id}/download`;
    const sums = [['MD5', f.file_md5], ['SHA-1', f.file_sha1], ['SHA-256', f.file_sha256]];
    return h('li', { class: 'file', 'data-file': f.file_name },
      h('div', { class: 'file-head' },
        h('span', { class: 'file-name' }, name),
        h('span', { class: 'muted' }, ` ${fmtSize(f.size)} · `, timeEl(f.created_at),
          ' · ', f.uploaded_by ? h('span', { class: 'uploader' }, `uploaded by ${f.uploaded_by}`)
            : 'uploader not recorded'),
        h('a', { href: dl, class: 'button', download: name,
          'aria-label': `Download ${f.file_name}` }, 'Download'),
        canDelete ? h('button', { type: 'button', class: 'danger',
          'aria-label': `Delete ${f.file_name}`, onclick: async () => {
            if (!await confirmDialog('Delete this file?', [
              `The file ${f.file_name} (${fmtSize(f.size)}) of ${label} will be deleted.`,
              'This cannot be undone.'], 'Delete file')) return;
            try {
              await api(`/projects/${project.id}/packages/${pkg.id}/package_files/${f.id}`,
                { method: 'DELETE' });
              announce(`Deleted ${f.file_name}`);
              location.reload();
            } catch (e) { announce(e.message); alertBox.textContent = e.message; }
          } }, 'Delete') : null),
      h('dl', { class: 'sums' }, sums.map(([k, v]) => [h('dt', null, k),
        h('dd', null, h('code', null, v || '—'),
          v ? copyButton(v, `Copy ${k} of ${f.file_name}`) : null)])));
  };
  const renderDir = (node) => h('ul', { class: 'tree' },
    [...node.dirs.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, sub]) =>
      h('li', { class: 'dir' }, h('details', null, h('summary', null, `${name}/`),
        renderDir(sub)))),
    node.files.sort((a, b) => a.name.localeCompare(b.name)).map(({ name, f }) => fileItem(name, f)));

  const alertBox = h('p', { role: 'alert', class: 'error' });
  const others = (pkg.versions || []).filter((v) => v.id !== pkg.id);
  const nodes = [
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, crumbs(full),
      h('a', { href: listUrl }, 'Packages')),
    h('h1', null, pkg.name, ' ', h('span', { class: 'version' }, pkg.version),
      pkg.status !== 'default' ? h('span', { class: 'badge' }, pkg.status) : null),
    h('dl', { class: 'facts' },
      h('dt', null, 'Files'), h('dd', null, String(files.length)),
      h('dt', null, 'Total size'), h('dd', null, fmtSize(total)),
      h('dt', null, 'Created'), h('dd', null, timeEl(pkg.created_at)),
      h('dt', null, 'Last downloaded'), h('dd', null, timeEl(pkg.last_downloaded_at))),
    alertBox,
    canDelete ? h('p', null, h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (!await confirmDialog('Delete this version?', [
        `${label} and its ${files.length} file${files.length === 1 ? '' : 's'} ` +
        `(${fmtSize(total)}) will be deleted.`, 'This cannot be undone.'], 'Delete version')) return;
      try {
        await api(`/projects/${project.id}/packages/${pkg.id}`, { method: 'DELETE' });
        location.assign(listUrl);
      } catch (e) { alertBox.textContent = e.message; }
    } }, `Delete version ${pkg.version}`)) : null,
    h('section', { 'aria-labelledby': 'files-h' }, h('h2', { id: 'files-h' }, 'Files'),
      files.length ? renderDir(tree(files)) : h('p', null, 'No files.')),
    h('section', { 'aria-labelledby': 'versions-h' }, h('h2', { id: 'versions-h' }, 'Other versions'),
      others.length ? h('ul', { class: 'list' }, others.map((v) => h('li', null,
        v._links && v._links.web_path ? h('a', { href: v._links.web_path }, v.version) : v.version,
        ' ', h('span', { class: 'muted' }, timeEl(v.created_at)))))
        : h('p', { class: 'muted' }, 'No other versions.')),
    h('section', { 'aria-labelledby': 'cmd-h' }, h('h2', { id: 'cmd-h' }, 'Commands'),
      commands(session, project, pkg, files)),
  ];
  return { title: label, nodes };
}

const LEVELS = { push: ['maintainer', 'owner', 'admin'], delete: ['owner', 'admin'] };

function levelSelect(id, label, levels, value) {
  return [h('label', { for: id }, label), h('select', { id },
    h('option', { value: '' }, 'No restriction'),
    levels.map((l) => h('option', { value: l, selected: l === value }, l)))];
}

export async function settingsPage(session, path) {
  if (!session.signed_in) throw new ApiError(401, 'sign in');
  const project = (await api(`/projects/${enc(path)}`)).data;
  const base = `/projects/${project.id}/packages`;
  const [rules, policy] = await Promise.all([apiAll(`${base}/protection/rules`),
    api(`${base}/cleanup_policy`).then((r) => r.data)]);
  const full = project.path_with_namespace;
  const msg = h('p', { role: 'alert', class: 'error' });
  const fail = (e) => { msg.textContent = e.message; };

  const rulesTable = rules.length ? tableBox('Protection rules', h('table', null,
    h('caption', null, 'Protection rules'),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Package name pattern'),
      h('th', { scope: 'col' }, 'Push: at least'), h('th', { scope: 'col' }, 'Delete: at least'),
      h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'Actions')))),
    h('tbody', null, rules.map((r) => h('tr', null, h('td', null, h('code', null, r.package_name_pattern)),
      h('td', null, r.minimum_access_level_for_push || '—'),
      h('td', null, r.minimum_access_level_for_delete || '—'),
      h('td', null, h('button', { type: 'button', class: 'danger',
        'aria-label': `Delete rule ${r.package_name_pattern}`, onclick: async () => {
          if (!await confirmDialog('Delete this rule?', [`The protection rule for ` +
            `${r.package_name_pattern} will be deleted.`], 'Delete rule')) return;
          try {
            await api(`${base}/protection/rules/${r.id}`, { method: 'DELETE' });
            location.reload();
          } catch (e) { fail(e); }
        } }, 'Delete'))))))) : h('p', { class: 'muted' }, 'No protection rules.');

  const pattern = h('input', { id: 'rule-pattern', type: 'text', required: true,
    placeholder: 'release-*' });
  const addRule = h('form', { class: 'stack', onsubmit: async (e) => {
    e.preventDefault();
    const body = { package_name_pattern: pattern.value, package_type: 'generic' };
    const push = document.getElementById('rule-push').value;
    const del = document.getElementById('rule-delete').value;
    if (push) body.minimum_access_level_for_push = push;
    if (del) body.minimum_access_level_for_delete = del;
    try {
      await api(`${base}/protection/rules`, { method: 'POST', body });
      location.reload();
    } catch (x) { fail(x); }
  } },
  h('label', { for: 'rule-pattern' }, 'Package name pattern (* matches anything)'), pattern,
  levelSelect('rule-push', 'Minimum role to push', LEVELS.push, 'maintainer'),
  levelSelect('rule-delete', 'Minimum role to delete', LEVELS.delete, ''),
  h('button', { type: 'submit', class: 'primary' }, 'Add rule'));

  const num = (id, label, v) => [h('label', { for: id }, label),
    h('input', { id, type: 'number', min: '0', value: v === null || v === undefined ? '' : v })];
  const keepFiles = h('select', { id: 'keep-files' }, ['all', '1', '10', '20', '30', '40', '50']
    .map((v) => h('option', { value: v, selected: v === policy.keep_n_duplicated_package_files },
      v === 'all' ? 'All' : v)));
  const cleanup = h('form', { class: 'stack', onsubmit: async (e) => {
    e.preventDefault();
    const val = (id) => document.getElementById(id).value;
    const n = (id) => (val(id) === '' ? null : Number(val(id)));
    try {
      await api(`${base}/cleanup_policy`, { method: 'PUT', body: {
        keep_n_duplicated_package_files: keepFiles.value, keep_n_versions: n('keep-versions'),
        older_than_days: n('older-than'), not_downloaded_days: n('not-downloaded'),
        keep_regex: val('keep-regex') } });
      announce('Cleanup policy saved');
      msg.textContent = 'Cleanup policy saved.';
    } catch (x) { fail(x); }
  } },
  h('label', { for: 'keep-files' }, 'Duplicate files to keep of each name'), keepFiles,
  num('keep-versions', 'Versions to keep of each package (empty: all)', policy.keep_n_versions),
  num('older-than', 'Delete versions older than (days)', policy.older_than_days),
  num('not-downloaded', 'Delete versions not downloaded for (days)', policy.not_downloaded_days),
  h('label', { for: 'keep-regex' }, 'Always keep packages matching (regex)'),
  h('input', { id: 'keep-regex', type: 'text', value: policy.keep_regex || '' }),
  h('button', { type: 'submit', class: 'primary' }, 'Save cleanup policy'));

  return { title: `${project.name}: package settings`, nodes: [
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, crumbs(full),
      h('a', { href: `${pathOf(full.split('/'))}/-/packages` }, 'Packages')),
    h('h1', null, `${project.name}: package settings`), msg,
    h('section', { 'aria-labelledby': 'rules-h' }, h('h2', { id: 'rules-h' }, 'Protection rules'),
      rulesTable, h('h3', null, 'Add a rule'), addRule),
    h('section', { 'aria-labelledby': 'cleanup-h' }, h('h2', { id: 'cleanup-h' }, 'Cleanup policy'),
      cleanup)] };
}
