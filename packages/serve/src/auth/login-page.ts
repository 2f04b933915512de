// The /login page and what a signed-in page carries: the session's CSRF token (a meta tag the pages'
// scripts send as X-CSRF-Token), the account name, and a sign-out form posting that token.
import type { Principal } from './principal';

export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderLoginPage(o: { csrf: string; next: string; error?: string; note?: string }): string {
  return /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Parts classifier</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; background: #f5f6f8; color: #1d2330; display: grid; place-items: center; min-height: 90vh; margin: 0; }
  form { background: #fff; border: 1px solid #e3e6ec; border-radius: 10px; padding: 24px 28px; width: min(340px, 90vw); }
  label { display: block; margin: 12px 0 4px; } input[type=text], input[type=password] { width: 100%; padding: 8px; font: inherit; box-sizing: border-box; }
  button { margin-top: 16px; padding: 8px 16px; font: inherit; } .error { color: #c0392b; } .muted { color: #667085; font-size: 13px; }
</style>
</head>
<body>
<form method="post" action="/login">
  <h1 style="font-size:20px;margin:0 0 8px">Sign in to review</h1>
  ${o.error ? `<p class="error" role="alert">${escapeHtml(o.error)}</p>` : ''}
  ${o.note ? `<p class="muted">${escapeHtml(o.note)}</p>` : ''}
  <input type="hidden" name="csrf" value="${escapeHtml(o.csrf)}">
  <input type="hidden" name="next" value="${escapeHtml(o.next)}">
  <label for="username">Name</label><input id="username" name="username" type="text" autocomplete="username" maxlength="64" required autofocus>
  <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" maxlength="1024" required>
  <button type="submit">Sign in</button>
</form>
</body>
</html>
`;
}

/** A page of this server for a signed-in reviewer: the CSRF token and name in meta tags, and a sign-out form. */
export function withSession(html: string, p: Principal | null): string {
  if (p?.kind !== 'reviewer') return html;
  const name = escapeHtml(p.name);
  const meta = `<meta name="csrf-token" content="${p.csrf}">\n<meta name="parts-user" content="${name}">`;
  const signOut =
    `<form method="post" action="/logout" style="position:fixed;top:6px;right:10px;margin:0;font:13px system-ui,sans-serif;background:#fff;padding:2px 6px;border-radius:6px">` +
    `Signed in as <b>${name}</b> <input type="hidden" name="csrf" value="${p.csrf}"><button type="submit">Sign out</button></form>`;
  return html.replace('<head>', `<head>\n${meta}`).replace('</body>', `${signOut}\n</body>`);
}
