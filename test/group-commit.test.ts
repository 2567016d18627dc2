import t from 'tap';
import { GroupCommit, type Settled } from '../src/store/group-commit.js';

/** Records each group it is given and answers each input with its double (odd inputs refused). */
const committer = (groups: number[][]) => async (inputs: readonly number[]): Promise<Settled<number>[]> => {
  groups.push([...inputs]);
  return inputs.map((i) => (i % 2 ? { ok: false, error: new Error(`refused ${i}`) } : { ok: true, value: 2 * i }));
};
const settle = (p: Promise<number>) => p.then((v) => v, (e: Error) => e.message);

t.test('without gather the first input is committed alone at once, the rest together behind it', async (t) => {
  const groups: number[][] = [];
  const g = new GroupCommit(committer(groups), { maxGroup: 10, key: String });
  t.same(await Promise.all([0, 2, 4].map((i) => settle(g.submit(i)))), [0, 4, 8]);
  t.same(groups, [[0], [2, 4]]);
});

t.test('with gather (a synchronous store) inputs of one turn form one group; a refused one fails alone', async (t) => {
  const groups: number[][] = [];
  const g = new GroupCommit(committer(groups), { maxGroup: 10, key: String, gather: () => new Promise((r) => setImmediate(r)) });
  t.same(await Promise.all([0, 1, 2, 4].map((i) => settle(g.submit(i)))), [0, 'refused 1', 4, 8]);
  t.same(groups, [[0, 1, 2, 4]], 'one commit for all four');
});

t.test('inputs with one key never share a group, and keep their order', async (t) => {
  const groups: number[][] = [];
  const g = new GroupCommit(committer(groups), { maxGroup: 2, key: (i: number) => String(i % 4), gather: () => new Promise((r) => setImmediate(r)) });
  await Promise.all([0, 4, 2, 6].map((i) => settle(g.submit(i))));
  t.same(groups, [[0, 2], [4, 6]]);
});
