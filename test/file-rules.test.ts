import t from 'tap';
import { rangeOf, noneMatchHits } from '../src/files/file-range.js';
import { checkDescription, fileIdOf } from '../src/files/file-rules.js';
import { fileBaseUrl } from '../src/files/file-base-url.js';
import { parseFilePath, fileUrl } from '../src/files/file-url.js';

t.test('a file id is made of what the file is, readable in a campaign', async (t) => {
  t.equal(fileIdOf({ type: 'firmware', version: '2.1.0' }), 'firmware-2.1.0');
  t.equal(fileIdOf({ type: 'firmware', version: 'V2.1 beta/3', productClass: 'STB-4K', oui: '00D09E' }), 'firmware-v2.1-beta-3-stb-4k-00d09e');
  t.equal(fileIdOf({ type: 'config', version: '***' }), 'config--', 'nothing readable left: still an id');
});

t.test('descriptions: closed set of types, printable versions, OUI of 6 hex digits (upper-cased)', async (t) => {
  t.same(checkDescription({ type: 'firmware', version: '2.1', oui: '00d09e' }), { type: 'firmware', version: '2.1', oui: '00D09E' });
  t.match(checkDescription({ type: 'kernel', version: '1' }), /^type: must be one of firmware, config/);
  t.match(checkDescription({ type: 'firmware', version: ' 1' }), /^version:/);
  t.match(checkDescription({ type: 'firmware', version: 'x'.repeat(65) }), /^version:/);
  t.match(checkDescription({ type: 'firmware', version: '1', oui: '00D09' }), /^oui:/);
  t.match(checkDescription({ type: 'firmware', version: '1', productClass: '' }), /^productClass:/);
});

t.test('one byte range; several, malformed or reversed ones mean the whole file; past the end is unsatisfiable', async (t) => {
  t.same(rangeOf(undefined, 100), { kind: 'full' });
  t.same(rangeOf('bytes=0-9', 100), { kind: 'partial', start: 0, end: 9 });
  t.same(rangeOf('bytes=90-', 100), { kind: 'partial', start: 90, end: 99 });
  t.same(rangeOf('bytes=90-500', 100), { kind: 'partial', start: 90, end: 99 }, 'an end past the file is cut to it');
  t.same(rangeOf('bytes=-10', 100), { kind: 'partial', start: 90, end: 99 });
  t.same(rangeOf('bytes=-500', 100), { kind: 'partial', start: 0, end: 99 });
  t.same(rangeOf('bytes=100-', 100), { kind: 'unsatisfiable' });
  t.same(rangeOf('bytes=-0', 100), { kind: 'unsatisfiable' });
  t.same(rangeOf('bytes=0-1,5-6', 100), { kind: 'full' });
  t.same(rangeOf('items=0-1', 100), { kind: 'full' });
  t.same(rangeOf('bytes=5-1', 100), { kind: 'full' });
  t.same(rangeOf('bytes=-', 100), { kind: 'full' });
  t.same(rangeOf('bytes=0-', 0), { kind: 'unsatisfiable' }, 'no byte of an empty file');
});

t.test('If-None-Match: a list, weak tags, *', async (t) => {
  const etag = '"abc"';
  t.ok(noneMatchHits('"abc"', etag));
  t.ok(noneMatchHits('"x", W/"abc"', etag));
  t.ok(noneMatchHits('*', etag));
  t.notOk(noneMatchHits('"abd"', etag));
  t.notOk(noneMatchHits(undefined, etag));
});

t.test('download URLs: the device id travels encoded; the base URL comes from [files] url or the listener', async (t) => {
  const url = fileUrl('http://files:7550/', 'firmware-2.1', 'STB 1/ä', 'A'.repeat(40));
  t.equal(url, `http://files:7550/stbd-files/firmware-2.1/STB%201%2F%C3%A4/${'A'.repeat(40)}`);
  t.same(parseFilePath(new URL(url).pathname), { fileId: 'firmware-2.1', deviceId: 'STB 1/ä', token: 'A'.repeat(40) });
  t.equal(parseFilePath('/stbd-files/x/%E0%A4%A/' + 'A'.repeat(40)), undefined, 'bad percent-encoding');
  t.equal(parseFilePath('/stbd-files/UPPER/d/' + 'A'.repeat(40)), undefined);
  t.equal(fileBaseUrl('https://cdn.example.net/', { tls: undefined, plain: undefined }, 'h'), 'https://cdn.example.net');
  t.equal(fileBaseUrl('', { tls: { host: '0.0.0.0', port: 7551 }, plain: { host: '10.0.0.1', port: 7550 } }, 'acs1'), 'https://acs1:7551');
  t.equal(fileBaseUrl('', { tls: undefined, plain: { host: '::1', port: 7550 } }, 'acs1'), 'http://[::1]:7550');
  t.equal(fileBaseUrl('', { tls: undefined, plain: undefined }, 'acs1'), undefined);
});

t.test('[files] config: sizes with units, url checked, TLS files go with tls_listen', async (t) => {
  const { parseConfig } = await import('../src/config/load.js');
  const parse = (text: string) => parseConfig(text, '/etc/stbd/stbd.toml', '/');
  t.equal(parse('').files.max_size, 512 * 1024 ** 2);
  t.equal(parse('[files]\nmax_size = "64KiB"\n').files.max_size, 65_536);
  t.equal(parse('[files]\nmax_size = 2048\n').files.max_size, 2048);
  t.throws(() => parse('[files]\nmax_size = "lots"\n'), /\[files\] max_size: expected a size such as "64KiB"/);
  t.throws(() => parse('[files]\nurl = "files.example.net"\n'), /\[files\] url: expected ""/);
  t.equal(parse('[files]\nurl = "https://cdn.example.net:8443"\n').files.url, 'https://cdn.example.net:8443');
  t.throws(() => parse('[files]\ntls_cert_file = "/c.pem"\ntls_key_file = "/k.pem"\n'), /\[files\] tls_cert_file: is for the HTTPS file server/);
  t.throws(() => parse('[files]\ntls_listen = "0.0.0.0:7551"\ntls_cert_file = "/c.pem"\n'), /give both tls_cert_file and tls_key_file/);
});
