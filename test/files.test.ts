import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import t from 'tap';
import type * as Tap from 'tap';
import { run, STBCTL } from './helpers/daemon.js';
import { type InProcessDaemon, startInProcess } from './helpers/in-process.js';

/** One request to the file server, the whole answer read. */
function fetchFile(url: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

const ctl = (d: InProcessDaemon, ...args: string[]) => run(STBCTL, ['--api', d.url, '--token', d.token, ...args]);

/** Adds `size` random bytes as firmware `version`, then flips a bit of the stored copy: the bytes added, and the stored file's path. */
async function addThenAlter(t: { equal(a: unknown, b: unknown): void }, d: InProcessDaemon, dir: string, version: string, size: number) {
  const content = randomBytes(size);
  writeFileSync(join(dir, 'fw.bin'), content);
  t.equal((await ctl(d, 'file', 'add', join(dir, 'fw.bin'), '--type', 'firmware', '--version', version)).code, 0);
  const [name] = readdirSync(join(dir, 'files'));
  const stored = join(dir, 'files', name!);
  const altered = Buffer.from(content);
  const at = Math.floor(size / 2);
  altered.writeUInt8(altered.readUInt8(at) ^ 1, at);
  writeFileSync(stored, altered);
  return { content, stored };
}

async function withDevice(t: Tap.Test, overrides = {}) {
  const dir = t.testdir();
  const d = await startInProcess(dir, overrides);
  t.teardown(() => d.daemon.stop());
  t.equal((await d.api('POST', '/v1/devices', { json: { id: 'stb-1', cwmpPassword: 'stb-1-pw' } })).status, 201);
  t.equal((await d.api('POST', '/v1/devices', { json: { id: 'stb-2', cwmpPassword: 'stb-2-pw' } })).status, 201);
  return { d, dir };
}

const metric = (text: string, line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

t.test('stbctl file add streams a file to the daemon, which records its size and SHA-256; list, show, url', async (t) => {
  const { d, dir } = await withDevice(t);
  const content = randomBytes(300_000);
  const path = join(dir, 'fw.bin');
  writeFileSync(path, content);
  const added = await ctl(d, 'file', 'add', path, '--type', 'firmware', '--version', '2.1.0', '--product-class', 'STB', '--oui', '00d09e');
  t.equal(added.code, 0, added.stderr);
  const sha = createHash('sha256').update(content).digest('hex');
  t.equal(added.stdout, `added file firmware-2.1.0-stb-00d09e: 300,000 bytes, SHA-256 ${sha}\n`);
  const shown = JSON.parse((await ctl(d, 'file', 'show', 'firmware-2.1.0-stb-00d09e', '--json')).stdout);
  t.match(shown, { id: 'firmware-2.1.0-stb-00d09e', type: 'firmware', version: '2.1.0', productClass: 'STB', oui: '00D09E', size: 300_000, sha256: sha });
  t.match((await ctl(d, 'file', 'list')).stdout, /^ID +TYPE +VERSION +PRODUCT CLASS +OUI +SIZE +ADDED\nfirmware-2\.1\.0-stb-00d09e +firmware +2\.1\.0 +STB +00D09E +300000 /);
  const again = await ctl(d, 'file', 'add', path, '--type', 'firmware', '--version', '2.1.0', '--product-class', 'STB', '--oui', '00D09E');
  t.equal(again.code, 1);
  t.match(again.stderr, /file firmware-2\.1\.0-stb-00d09e exists already/);
  const bad = await ctl(d, 'file', 'add', path, '--type', 'firmware', '--version', '2.1.0', '--oui', 'xyz');
  t.equal(bad.code, 1);
  t.match(bad.stderr, /oui: must be 6 hexadecimal digits/);
  t.equal((await ctl(d, 'file', 'add', path, '--type', 'kernel', '--version', '1')).code, 2, 'a type outside the set is a usage error');
  t.equal(readdirSync(join(dir, 'files')).length, 1, 'one file on disk: refusals kept nothing');
  const url = (await ctl(d, 'file', 'url', 'firmware-2.1.0-stb-00d09e', 'stb-1')).stdout.trim();
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/stbd-files\/firmware-2\.1\.0-stb-00d09e\/stb-1\/[A-Za-z0-9_-]+$/);
  t.ok(url.length <= 256, 'fits TR-069\'s 256-character URL');
  const got = await fetchFile(url);
  t.equal(got.status, 200);
  t.ok(got.body.equals(content), 'the device gets the very bytes');
  t.equal((await ctl(d, 'file', 'url', 'firmware-2.1.0-stb-00d09e', 'nobody')).code, 1, 'no URL for a device that is not registered');
});

t.test('the file server: HEAD, one Range, 416, ETag and If-None-Match, token per device and file, expiry on the clock', async (t) => {
  const { d, dir } = await withDevice(t, { files: { url_validity: '1h' } });
  const content = Buffer.from('0123456789abcdefghij');
  writeFileSync(join(dir, 'c.bin'), content);
  t.equal((await ctl(d, 'file', 'add', join(dir, 'c.bin'), '--type', 'config', '--version', '7')).code, 0);
  writeFileSync(join(dir, 'other.bin'), 'other');
  t.equal((await ctl(d, 'file', 'add', join(dir, 'other.bin'), '--type', 'config', '--version', '8')).code, 0);
  const url = d.daemon.files.downloadUrl('config-7', 'stb-1');
  const etag = `"${createHash('sha256').update(content).digest('hex')}"`;

  const full = await fetchFile(url);
  t.match(full, { status: 200, headers: { etag, 'accept-ranges': 'bytes', 'content-length': '20', 'content-type': 'application/octet-stream' } });
  t.same(full.body, content);
  const head = await fetchFile(url, 'HEAD');
  t.match(head, { status: 200, headers: { etag, 'content-length': '20' } });
  t.equal(head.body.length, 0);
  const part = await fetchFile(url, 'GET', { range: 'bytes=5-9' });
  t.match(part, { status: 206, headers: { 'content-range': 'bytes 5-9/20', 'content-length': '5' } });
  t.equal(part.body.toString(), '56789');
  t.equal((await fetchFile(url, 'GET', { range: 'bytes=-3' })).body.toString(), 'hij');
  t.equal((await fetchFile(url, 'GET', { range: 'bytes=15-' })).body.toString(), 'fghij', 'a resumed download');
  t.match(await fetchFile(url, 'GET', { range: 'bytes=20-' }), { status: 416, headers: { 'content-range': 'bytes */20' } });
  t.match(await fetchFile(url, 'GET', { range: 'bytes=0-1', 'if-range': '"stale"' }), { status: 200 }, 'If-Range with another ETag: the whole file');
  const cached = await fetchFile(url, 'GET', { 'if-none-match': etag });
  t.match(cached, { status: 304, headers: { etag } });
  t.equal(cached.body.length, 0);
  t.equal((await fetchFile(url, 'POST')).status, 405);

  const forbidden = async (u: string, why: string) => {
    const r = await fetchFile(u);
    t.equal(r.status, 403, why);
    t.notOk(r.body.includes(content.subarray(0, 5)), `${why}: no byte of the file`);
  };
  await forbidden(url.replace('/stb-1/', '/stb-2/'), "another device's id in the URL");
  await forbidden(url.replace('/config-7/', '/config-8/'), "the token of another file");
  await forbidden(url.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), 'an altered token');
  t.equal((await fetchFile(url.replace(/\/stbd-files\/.*/, '/stbd-files/nothing'))).status, 404);

  d.clock.advance(60 * 60_000 - 1);
  t.equal((await fetchFile(url)).status, 200, 'still valid a moment before url_validity');
  d.clock.advance(1);
  const expired = await fetchFile(url);
  t.equal(expired.status, 403);
  t.equal(expired.body.toString(), 'the download URL expired\n');

  const metrics = (await (await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${d.token}` } })).text());
  t.equal(metric(metrics, 'stbd_file_bytes_total'), 20 + 5 + 3 + 5 + 20 + 20, 'every body byte counted');
  t.equal(metric(metrics, 'stbd_file_fetches_total{result="ok"}'), 3);
  t.equal(metric(metrics, 'stbd_file_fetches_total{result="partial"}'), 3);
  t.equal(metric(metrics, 'stbd_file_fetches_total{result="head"}'), 1);
  t.equal(metric(metrics, 'stbd_file_fetches_total{result="not-modified"}'), 1);
  t.equal(metric(metrics, 'stbd_file_fetches_total{result="unsatisfiable"}'), 1);
  t.equal(metric(metrics, 'stbd_file_fetches_total{result="forbidden"}'), 3);
  t.equal(metric(metrics, 'stbd_file_fetches_total{result="expired"}'), 1);
});

t.test('file remove is refused while something says the file is in use; then it goes, bytes and all', async (t) => {
  const { d, dir } = await withDevice(t);
  writeFileSync(join(dir, 'fw.bin'), 'firmware');
  t.equal((await ctl(d, 'file', 'add', join(dir, 'fw.bin'), '--type', 'firmware', '--version', '3')).code, 0);
  const url = d.daemon.files.downloadUrl('firmware-3', 'stb-1');
  let user: string | undefined = 'campaign spring';
  d.daemon.files.addUseChecker(async (id) => (id === 'firmware-3' ? user : undefined));
  const refused = await ctl(d, 'file', 'remove', 'firmware-3');
  t.equal(refused.code, 1);
  t.equal(refused.stderr, 'stbctl: file firmware-3 is in use (campaign spring); it can be removed once nothing uses it\n');
  t.equal((await fetchFile(url)).status, 200, 'still served');
  t.equal(readdirSync(join(dir, 'files')).length, 1);
  user = undefined;
  const removed = await ctl(d, 'file', 'remove', 'firmware-3');
  t.equal(removed.code, 0, removed.stderr);
  t.equal(removed.stdout, 'removed file firmware-3 (8 bytes)\n');
  t.equal((await fetchFile(url)).status, 404, 'a removed file is not served');
  t.same(readdirSync(join(dir, 'files')), [], 'its bytes are gone from disk');
  t.match(await ctl(d, 'file', 'remove', 'firmware-3'), { code: 1, stderr: /no file firmware-3/ });
  t.equal((await ctl(d, 'file', 'list')).stdout, 'no files (add one: stbctl file add PATH --type firmware --version V)\n');
});

t.test('[files] max_size: a larger file is refused (413), declared or streamed, and nothing is kept', async (t) => {
  const { d, dir } = await withDevice(t, { files: { max_size: '1KiB' } });
  writeFileSync(join(dir, 'big.bin'), randomBytes(1025));
  const r = await ctl(d, 'file', 'add', join(dir, 'big.bin'), '--type', 'firmware', '--version', '9');
  t.equal(r.code, 1);
  t.match(r.stderr, /over the limit of 1024 bytes \(\[files\] max_size\)/);
  // Chunked, no Content-Length: cut as it streams in.
  const chunked = await new Promise<number>((resolve, reject) => {
    const req = request(`${d.url}/v1/files?type=firmware&version=9`, { method: 'POST', headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/octet-stream' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.write(randomBytes(800));
    req.end(randomBytes(800));
  });
  t.equal(chunked, 413);
  t.same(readdirSync(join(dir, 'files')), [], 'no file, no leftover temporary file');
  writeFileSync(join(dir, 'ok.bin'), randomBytes(1024));
  t.equal((await ctl(d, 'file', 'add', join(dir, 'ok.bin'), '--type', 'firmware', '--version', '9')).code, 0, 'exactly max_size is fine');
});

t.test('HTTPS on [files] tls_listen: the URLs say https, and the builtin CA vouches for the server', async (t) => {
  const { d, dir } = await withDevice(t, { files: { listen: '', tls_listen: '127.0.0.1:0' } });
  writeFileSync(join(dir, 'fw.bin'), 'STBSIM-FIRMWARE version=9.9\n');
  t.equal((await ctl(d, 'file', 'add', join(dir, 'fw.bin'), '--type', 'firmware', '--version', '9.9')).code, 0);
  const url = d.daemon.files.downloadUrl('firmware-9.9', 'stb-1');
  t.match(url, new RegExp(`^https://127\\.0\\.0\\.1:${d.daemon.filesEndpoint.tls?.port}/stbd-files/firmware-9\\.9/stb-1/`));
  t.equal(d.daemon.filesEndpoint.plain, undefined, 'no plain HTTP listener');
  const ca = (await d.api('GET', '/v1/ca')).body.pem as string;
  const got = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpsRequest(url, { ca }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
  t.same(got, { status: 200, body: 'STBSIM-FIRMWARE version=9.9\n' }, 'verified against the builtin CA');
});

t.test('no file listener and no [files] url: files are kept, but no device URL can be made (409, said why)', async (t) => {
  const { d, dir } = await withDevice(t, { files: { listen: '' } });
  writeFileSync(join(dir, 'c.bin'), 'x');
  t.equal((await ctl(d, 'file', 'add', join(dir, 'c.bin'), '--type', 'config', '--version', '1')).code, 0);
  const r = await ctl(d, 'file', 'url', 'config-1', 'stb-1');
  t.equal(r.code, 1);
  t.match(r.stderr, /devices cannot fetch files: \[files\] listen and tls_listen are both off and \[files\] url is empty/);
});

t.test('bytes altered on disk after the file was added are not served (500, logged); a failed read is tried again', async (t) => {
  const { d, dir } = await withDevice(t);
  const { content, stored } = await addThenAlter(t, d, dir, '4', 200_000);
  const url = d.daemon.files.downloadUrl('firmware-4', 'stb-1');
  const bad = await fetchFile(url);
  t.equal(bad.status, 500);
  t.notOk(bad.body.includes(content.subarray(0, 16)), 'no byte of it');
  writeFileSync(stored, content);
  const good = await fetchFile(url);
  t.equal(good.status, 200);
  t.ok(good.body.equals(content));
  const metrics = await (await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${d.token}` } })).text();
  t.equal(metric(metrics, 'stbd_file_fetches_total{result="error"}'), 1);
  t.equal(metric(metrics, 'stbd_file_bytes_total'), 200_000);
});

t.test('a file larger than [files] cache_size is streamed from disk: the same bytes, ranges and counters', async (t) => {
  const { d, dir } = await withDevice(t, { files: { cache_size: '100KiB' } });
  const content = randomBytes(300_000);
  writeFileSync(join(dir, 'fw.bin'), content);
  t.equal((await ctl(d, 'file', 'add', join(dir, 'fw.bin'), '--type', 'firmware', '--version', '5')).code, 0);
  const url = d.daemon.files.downloadUrl('firmware-5', 'stb-1');
  const [full, part] = await Promise.all([fetchFile(url), fetchFile(url, 'GET', { range: 'bytes=100000-199999' })]);
  t.equal(full.status, 200);
  t.ok(full.body.equals(content));
  t.equal(part.status, 206);
  t.ok(part.body.equals(content.subarray(100_000, 200_000)));
  const metrics = await (await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${d.token}` } })).text();
  t.equal(metric(metrics, 'stbd_file_bytes_total'), 400_000);
});

t.test('a file larger than [files] cache_size is checked on disk too: altered bytes are not served (500); restored, they are', async (t) => {
  const { d, dir } = await withDevice(t, { files: { cache_size: '100KiB' } });
  const { content, stored } = await addThenAlter(t, d, dir, '6', 300_000);
  const url = d.daemon.files.downloadUrl('firmware-6', 'stb-1');
  for (const range of [undefined, 'bytes=0-99']) {
    const bad = await fetchFile(url, 'GET', range ? { range } : {});
    t.equal(bad.status, 500, `${range ?? 'the whole file'}: refused`);
    t.notOk(bad.body.includes(content.subarray(0, 16)), 'no byte of it');
  }
  // Put back as a restore does (a new file renamed into place).
  writeFileSync(`${stored}.restore`, content);
  renameSync(`${stored}.restore`, stored);
  const good = await fetchFile(url);
  t.equal(good.status, 200);
  t.ok(good.body.equals(content));
});
