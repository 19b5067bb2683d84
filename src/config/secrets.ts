/**
 * Settings whose values are secrets: never echoed in an error or a log line. A setting is secret
 * when its name ends in password, token or secret (`mqtt.password`); `api.tokenFile` and
 * `broker.passwordFile` name files, and their paths are shown.
 */
export function isSecretSetting(path: string): boolean {
  const name = path.split('.').pop() ?? '';
  return /(password|token|secret)$/i.test(name);
}

/** What an error says instead of a secret's value. */
export function describeSecret(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return `a value of ${text.length} character${text.length === 1 ? '' : 's'}`;
}

/** `mqtt://user:secret@host` → `mqtt://user:***@host`, for URLs shown in errors and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:\s]*):[^/@\s]*@/i, '$1:***@');
}
