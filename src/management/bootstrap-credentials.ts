import { readSecretFile, SecretFileError } from '../secret-file.js';

const KEY = '[cwmp] bootstrap_credentials_file';

/**
 * The factory CWMP credentials of CPE models (one username/password shared by every unit of a model):
 * `username:password` a line, `#` comments and blank lines ignored; the password may be empty. A CPE
 * logging in with such a pair is identified by its Inform's DeviceId instead of its username.
 * @throws SecretFileError naming the key and the line
 */
export function loadBootstrapCredentials(path: string): ReadonlyMap<string, string> {
  const pairs = new Map<string, string>();
  readSecretFile(KEY, path)
    .split('\n')
    .forEach((line, i) => {
      const l = line.replace(/\r$/, '');
      if (l.trim() === '' || l.trimStart().startsWith('#')) return;
      const colon = l.indexOf(':');
      if (colon <= 0) throw new SecretFileError(KEY, path, `line ${i + 1}: expected username:password`);
      const username = l.slice(0, colon);
      if (pairs.has(username)) throw new SecretFileError(KEY, path, `line ${i + 1}: username ${JSON.stringify(username)} is listed twice`);
      pairs.set(username, l.slice(colon + 1));
    });
  return pairs;
}
