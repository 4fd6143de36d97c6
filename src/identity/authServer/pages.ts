/**
 * The authorization server's pages, rendered on the server as plain HTML: no scripts, no outside assets, one
 * inline stylesheet allowed by hash. Every value is escaped.
 */

export const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:30rem;margin:3rem auto;background:#fff;border-radius:10px;padding:2rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.35rem;margin:0 0 1rem}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #aab;border-radius:6px;font:inherit}
button{font:inherit;padding:.55rem 1.1rem;border-radius:6px;border:1px solid #2451b8;background:#2f62d8;color:#fff;cursor:pointer;margin:1rem .5rem 0 0}
button.secondary{background:#fff;color:#2451b8}
a.button{display:inline-block;padding:.5rem 1rem;border:1px solid #2451b8;border-radius:6px;color:#2451b8;text-decoration:none;margin:.4rem 0}
.error{background:#fde8e8;border:1px solid #e0a0a0;padding:.6rem;border-radius:6px}
.warn{background:#fff6df;border:1px solid #e6c777;padding:.6rem;border-radius:6px}
.muted{color:#5a6275;font-size:.9rem}
code{background:#eef0f4;padding:.05rem .3rem;border-radius:4px;word-break:break-all}
ul{padding-left:1.2rem}
hr{border:0;border-top:1px solid #dde;margin:1.5rem 0}
`;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]!);

export function layout(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${esc(title)} · Portcullis</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

export interface ClientView {
  name: string;
  id: string;
  /** How the client is known: its id is a URL (metadata document), configured, or registered dynamically. */
  kind: 'metadata document' | 'configured' | 'registered';
  redirectUri: string;
  /** The redirect lands on this computer (loopback or a private scheme). */
  localRedirect: boolean;
}

function clientBlock(c: ClientView): string {
  let host = '';
  try { host = new URL(c.redirectUri).host; } catch { /* private-use scheme */ }
  const where = host ? `<code>${esc(host)}</code> (<code>${esc(c.redirectUri)}</code>)` : `<code>${esc(c.redirectUri)}</code>`;
  const idLine = c.kind === 'metadata document'
    ? `Identified by its metadata document <code>${esc(c.id)}</code>.`
    : `Client id <code>${esc(c.id)}</code> (${c.kind === 'configured' ? 'configured on this server' : 'registered itself with this server'}).`;
  return `<p><strong>${esc(c.name)}</strong> is asking for access.</p>
<p class="muted">${idLine}<br>The answer is sent to ${where}.</p>
${c.localRedirect ? '<p class="warn">The answer goes to a program on this computer. Continue only if you just started signing in from an application you trust: another program could claim to be it.</p>' : ''}`;
}

export interface ScopeView {
  resourceName: string;
  resource: string;
  granted: readonly string[];
  refused: readonly string[];
}

function scopeList(scopes: readonly ScopeView[]): string {
  return `<ul>${scopes.map((s) => `<li><strong>${esc(s.resourceName)}</strong> <span class="muted">(<code>${esc(s.resource)}</code>)</span>: ${
    s.granted.length ? s.granted.map((g) => `<code>${esc(g)}</code>`).join(' ') : '<em>no permissions</em>'
  }${s.refused.length ? `<br><span class="muted">Not available to your account: ${s.refused.map((g) => `<code>${esc(g)}</code>`).join(' ')}</span>` : ''}</li>`).join('')}</ul>`;
}

export interface LoginView {
  client: ClientView;
  scopes: readonly ScopeView[];
  action: string;
  csrf: string;
  username?: string;
  error?: string;
  federation: ReadonlyArray<{ label: string; href: string }>;
}

export function loginPage(v: LoginView): string {
  return layout('Sign in', `<h1>Sign in to Portcullis</h1>
${clientBlock(v.client)}
<p>It wants to use:</p>
${scopeList(v.scopes)}
${v.error ? `<p class="error" role="alert">${esc(v.error)}</p>` : ''}
<form method="post" action="${esc(v.action)}" autocomplete="on">
<input type="hidden" name="csrf" value="${esc(v.csrf)}">
<label for="username">User name</label>
<input type="text" id="username" name="username" value="${esc(v.username ?? '')}" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
${v.federation.length ? `<hr><p>Or sign in with</p>${v.federation.map((f) => `<p><a class="button" href="${esc(f.href)}">${esc(f.label)}</a></p>`).join('')}` : ''}`);
}

export interface ConsentView {
  client: ClientView;
  account: string;
  scopes: readonly ScopeView[];
  protocolScopes: readonly string[];
  action: string;
  csrf: string;
}

export function consentPage(v: ConsentView): string {
  const anything = v.scopes.some((s) => s.granted.length > 0);
  return layout('Allow access', `<h1>Allow access?</h1>
${clientBlock(v.client)}
<p>Signed in as <strong>${esc(v.account)}</strong>. If you allow it, it can act as you on:</p>
${scopeList(v.scopes)}
${v.protocolScopes.length ? `<p class="muted">Also: ${v.protocolScopes.map((s) => `<code>${esc(s)}</code>`).join(' ')}</p>` : ''}
<p class="muted">Your answer is remembered for this application; you can withdraw it later.</p>
${anything ? '' : '<p class="error">None of the requested permissions are available to your account.</p>'}
<form method="post" action="${esc(v.action)}">
<input type="hidden" name="csrf" value="${esc(v.csrf)}">
${anything ? '<button type="submit" name="decision" value="allow">Allow</button>' : ''}
<button type="submit" name="decision" value="deny" class="secondary">${anything ? 'Deny' : 'Back to the application'}</button>
</form>`);
}

export function messagePage(title: string, message: string): string {
  return layout(title, `<h1>${esc(title)}</h1><p>${esc(message)}</p>`);
}

export interface SetupView {
  username: string;
  action: string;
  csrf: string;
  error?: string;
}

export function setupPage(v: SetupView): string {
  return layout('Choose your password', `<h1>Choose your password</h1>
<p>Account <strong>${esc(v.username)}</strong>. This link works once.</p>
${v.error ? `<p class="error" role="alert">${esc(v.error)}</p>` : ''}
<form method="post" action="${esc(v.action)}">
<input type="hidden" name="csrf" value="${esc(v.csrf)}">
<input type="text" name="username" value="${esc(v.username)}" autocomplete="username" hidden>
<label for="password">New password</label>
<input type="password" id="password" name="password" autocomplete="new-password" required minlength="12">
<label for="confirm">Repeat it</label>
<input type="password" id="confirm" name="confirm" autocomplete="new-password" required minlength="12">
<button type="submit">Set password</button>
</form>`);
}
