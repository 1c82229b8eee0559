/**
 * Secrets in connection URLs (`--redis redis://user:password@host`) never reach a message: the
 * user-info part of a URL is shown as `***`, and a password that turns up in an error text (from
 * a library that echoes its input) is replaced there too.
 */

/** The URL with anything between `scheme://` and `@` replaced by `***`, whether or not it parses. */
export function redactUrl(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?[^/?#]*@/, (_m, scheme: string | undefined) => `${scheme ?? ''}***@`);
}

/** `text` without the password or user-info of `url`, if it has any. */
export function redactSecrets(text: string, url: string | undefined): string {
  if (!url) return text;
  const secrets = new Set<string>();
  const userinfo = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)@/.exec(url)?.[1];
  if (userinfo) {
    secrets.add(userinfo);
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
  }
  let out = text;
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) if (s.length >= 3) out = out.split(s).join('***');
  return out;
}
