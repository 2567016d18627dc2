import t from 'tap';
import { XmlTreeReader } from '../src/management/xml-tree.js';

/** The tree CPE bodies are read into: what the SOAP layer looks names, attributes and values up in. */

t.test('attributes: kept by name above the qualified depth, without their prefix below it (namespace declarations as written)', async (t) => {
  const reader = new XmlTreeReader(new Set(['Item']), 2);
  const tree = reader.read(
    '<s:Envelope xmlns:s="urn:s" s:encodingStyle="enc"><s:Body a="1"><x:Op xmlns:x="urn:x" x:kind="k" plain="p"><x:Value xsi:type="xsd:int"> 7 </x:Value><Item/></x:Op></s:Body></s:Envelope>',
  );
  t.same(tree, {
    's:Envelope': {
      's:Body': {
        Op: { Value: { '#text': ' 7 ', '@type': 'xsd:int' }, Item: [''], '@xmlns:x': 'urn:x', '@kind': 'k', '@plain': 'p' },
        '@a': '1',
      },
      '@xmlns:s': 'urn:s',
      '@s:encodingStyle': 'enc',
    },
  });
});

t.test('two attributes that differ only by prefix below the qualified depth: one, the last value, where the first stood', async (t) => {
  const reader = new XmlTreeReader(new Set(), 1);
  const tree = reader.read('<r><e a:x="1" y="2" b:x="3">v</e></r>');
  t.same(Object.keys((tree['r'] as Record<string, Record<string, string>>)['e']!), ['#text', '@x', '@y']);
  t.same(tree, { r: { e: { '#text': 'v', '@x': '3', '@y': '2' } } });
});

t.test('list elements are arrays even when alone; other repeats become arrays; a leaf without attributes is its text', async (t) => {
  const reader = new XmlTreeReader(new Set(['Item']), Infinity);
  t.same(reader.read('<r><Item>1</Item><o>a</o><o>b</o><leaf/></r>'), { r: { Item: ['1'], o: ['a', 'b'], leaf: '' } });
  t.same(reader.read('<r><p:Item>1</p:Item><p:Item>2</p:Item></r>'), { r: { 'p:Item': ['1', '2'] } }, 'a list element by its local name, qualified or not');
  const deep = new XmlTreeReader(new Set(['Item']), 1);
  t.same(deep.read('<r><a:b:Item>1</a:b:Item></r>'), { r: { 'b:Item': ['1'] } }, 'a name of two prefixes: named by what follows the first, listed by what follows the last');
});
