/**
 * Secrets in connection URLs (`--redis redis://user:password@host`) never reach a message: the
 * user-info part of a URL (everything before its last `@`, after the scheme) is shown as `***`,
 * and a password that turns up in an error text (from a library that echoes its input) is
 * replaced there too. Both work on text that does not parse as a URL.
 */

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/*/;

function split(url: string): { scheme: string; userinfo: string; rest: string } | undefined {
  const at = url.lastIndexOf('@');
  if (at < 0) return undefined;
  const scheme = SCHEME.exec(url)?.[0] ?? '';
  const start = scheme.length <= at ? scheme.length : 0;
  return { scheme: url.slice(0, start), userinfo: url.slice(start, at), rest: url.slice(at + 1) };
}

/** The URL with its user-info replaced by `***`. */
export function redactUrl(url: string): string {
  const parts = split(url);
  return parts ? `${parts.scheme}***@${parts.rest}` : url;
}

/** `text` without the user-info or password of `url`, if it has them. */
export function redactSecrets(text: string, url: string | undefined): string {
  const userinfo = url ? split(url)?.userinfo : undefined;
  if (!userinfo) return text;
  const secrets = new Set<string>([userinfo]);
  const colon = userinfo.indexOf(':');
  if (colon >= 0 && colon < userinfo.length - 1) {
    const password = userinfo.slice(colon + 1);
    secrets.add(password);
    try {
      secrets.add(decodeURIComponent(password));
    } catch {
      // not percent-encoded
    }
  }
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) if (s.length >= 3) out = out.split(s).join('***');
  return out;
}
