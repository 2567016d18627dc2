/**
 * Which values are secrets, by name: one list for CWMP parameters (TR-098 and TR-181 leaf names, vendor
 * `X_…_` names included), stbd's own fields (`password`, `stunPassword`, …) and the logs. A name is a secret
 * when its last part ends with one of these words. Words match in any case, except the short acronyms, which
 * match in capitals only (so `PINCheck` or a `…Ping` do not); a word must end the name, so the booleans and
 * counters beside secrets (`PasswordRequired`, `PasswordReset`, `WEPKeyIndex`, `PINCheck`) are not secrets.
 */
export const SECRET_SUFFIXES: readonly { readonly suffix: string; readonly anyCase: boolean }[] = [
  // Password, ConnectionRequestPassword, STUNPassword, AuthPassword, ConfigPassword, WPS.DevicePassword, …
  ...['Password', 'Passwd', 'Pwd', 'Passphrase', 'PreSharedKey', 'WEPKey', 'Secret', 'PrivateKey'].map((suffix) => ({ suffix, anyCase: true })),
  // USIM.PIN, WPS.PIN, vendor …WpsPin; a pre-shared key as X_…_PSK.
  ...['PIN', 'Pin', 'PSK'].map((suffix) => ({ suffix, anyCase: false })),
];

const PATTERN = new RegExp(
  `(?:${SECRET_SUFFIXES.map(({ suffix, anyCase }) => (anyCase ? [...suffix].map((c) => `[${c.toLowerCase()}${c.toUpperCase()}]`).join('') : suffix)).join('|')})$`,
);

/** The text that stands for a secret wherever one would be shown. */
export const SECRET_MASK = '(secret)';

/** A dotted parameter path or a field name whose value is a secret (only the suffix matters, so the leaf decides). */
export const isSecretName = (name: string): boolean => PATTERN.test(name);

/** `https://user:pass@host/…` → `https://user:(secret)@host/…`; userinfo without a password may be a token: hidden whole. */
export function hideUrlPassword(url: string): string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/?#@]*)@/.exec(url);
  if (!m) return url;
  const userinfo = m[2] as string;
  const colon = userinfo.indexOf(':');
  const shown = colon < 0 ? SECRET_MASK : `${userinfo.slice(0, colon)}:${SECRET_MASK}`;
  return `${m[1]}${shown}@${url.slice(m[0].length)}`;
}

const isPlain = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * JSON-like data as it may be shown: values of secret fields, the `value` of any `{name, value}` whose name
 * is a secret, and passwords in URLs replaced by SECRET_MASK. Anything that is not a plain object, an array
 * or a string (an Error, a Buffer, a request) is left as it is. Returns the very same value when there was
 * nothing to hide, so `redact(x) === x` says that x holds no secret. `extraKeys`: more field names to hide.
 */
export function redact<T>(value: T, extraKeys: ReadonlySet<string> = NONE, depth = 0): T {
  if (typeof value === 'string') return (value.includes('://') ? hideUrlPassword(value) : value) as T;
  if (depth > 8) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((item, i) => {
      const r = redact(item, extraKeys, depth + 1);
      if (r !== item) (out ??= [...value])[i] = r;
    });
    return (out ?? value) as T;
  }
  if (!isPlain(value)) return value;
  const secretPair = typeof value['name'] === 'string' && isSecretName(value['name']) && 'value' in value;
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const hide = v !== null && v !== undefined && v !== '' && ((secretPair && k === 'value') || isSecretName(k) || extraKeys.has(k));
    const r = hide ? SECRET_MASK : redact(v, extraKeys, depth + 1);
    if (r !== v) (out ??= { ...value })[k] = r;
  }
  return (out ?? value) as T;
}

const NONE: ReadonlySet<string> = new Set();
