/**
 * The console app: a shell with one page per hash route (#/approvals, #/audit, #/servers, #/sessions, #/policy,
 * #/metrics, #/accounts), shown by role; Accounts (the user's own) to everyone. The default route is the first page
 * the user has. Everything is rendered through Preact, which escapes text: no HTML from the server
 * is ever inserted as markup.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './app.css';
import { has, me, post, type Me } from './api.js';
import { Approvals } from './pages/Approvals.js';
import { Audit } from './pages/Audit.js';
import { Servers } from './pages/Servers.js';
import { Sessions } from './pages/Sessions.js';
import { Policy } from './pages/Policy.js';
import { Metrics } from './pages/Metrics.js';
import { Accounts } from './pages/Accounts.js';

/** `roles` empty: every signed-in user. */
interface PageDef { id: string; title: string; roles: string[]; view: (p: { me: Me }) => preact.JSX.Element }

const PAGES: PageDef[] = [
  { id: 'approvals', title: 'Approvals', roles: ['admin', 'approver', 'auditor'], view: Approvals },
  { id: 'audit', title: 'Audit log', roles: ['admin', 'auditor'], view: Audit },
  { id: 'servers', title: 'Servers', roles: ['admin', 'auditor'], view: Servers },
  { id: 'sessions', title: 'Sessions', roles: ['admin', 'auditor'], view: Sessions },
  { id: 'policy', title: 'Policy', roles: ['admin', 'auditor'], view: Policy },
  { id: 'metrics', title: 'Metrics', roles: ['admin', 'approver', 'auditor'], view: Metrics },
  { id: 'accounts', title: 'Accounts', roles: [], view: Accounts },
];

const route = () => location.hash.replace(/^#\/?/, '');

function App() {
  const [who, setWho] = useState<Me | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [page, setPage] = useState(route());
  useEffect(() => {
    me().then(setWho, (e: Error) => setError(e.message));
    const onHash = () => setPage(route());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  if (error) return <main class="message"><h1>Portcullis console</h1><p>{error}</p><p><a href="./">Reload</a></p></main>;
  if (!who) return <main class="message"><p>Loading…</p></main>;
  const pages = PAGES.filter((p) => p.roles.length === 0 || has(who, ...p.roles));
  const current = pages.find((p) => p.id === page) ?? pages[0];
  const logout = async () => { await post('logout'); location.href = 'signed-out'; };
  return (
    <div class="shell">
      <header>
        <strong>Portcullis</strong>
        <nav>{pages.map((p) => <a key={p.id} href={`#/${p.id}`} class={p === current ? 'active' : ''}>{p.title}</a>)}</nav>
        <span class="who" id="who">{who.subject}{who.roles.length ? ` · ${who.roles.join(', ')}` : ''}</span>
        <button type="button" class="link" onClick={logout}>Sign out</button>
      </header>
      <main>{current ? <current.view me={who} /> : <p>Your roles give access to no page.</p>}</main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
