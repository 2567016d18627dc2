/**
 * Makes a Node process started with `--inspect=HOST:PORT` collect its garbage as it does under memory pressure
 * (the inspector's HeapProfiler.collectGarbage: full collections that give freed pages back to the system), so
 * its RSS afterwards is what it keeps, not what the last burst left for a later collection. Without this an idle
 * node's RSS depends on when V8 last collected: the same node measured 130 or 200 MiB a minute apart.
 *
 *   node --experimental-websocket --import tsx bench/collect-garbage.ts HOST PORT   (Node 20; 22 and later
 *   have WebSocket without the flag)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rssBytes, sleep } from './processes.js';

/** The RSS of `pid` (inspector at host:port) after its garbage is collected; `raw`: before. */
export async function collectedRss(pid: number, host: string, port: number): Promise<{ rss: number; raw: number }> {
  const raw = rssBytes(pid);
  await collectGarbage(host, port);
  // The pages freed go back as the sweep finishes, just after the answer.
  await sleep(500);
  return { rss: rssBytes(pid), raw };
}

/** Resolves once the process at host:port has collected its garbage. */
export async function collectGarbage(host: string, port: number): Promise<void> {
  if (typeof globalThis.WebSocket === 'function') return viaInspector(host, port);
  // Node 20: WebSocket only behind a flag, so in a child that has it.
  const r = spawnSync(process.execPath, ['--experimental-websocket', '--import', 'tsx', fileURLToPath(import.meta.url), host, String(port)], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`collecting the garbage of ${host}:${port} failed: ${r.stderr.trim() || r.error?.message}`);
}

async function viaInspector(host: string, port: number): Promise<void> {
  const targets = (await (await fetch(`http://${host}:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise<void>((resolve, reject) => {
    ws.onerror = () => reject(new Error(`no inspector session at ${host}:${port}`));
    ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    ws.onmessage = (m) => {
      if ((JSON.parse(String(m.data)) as { id?: number }).id === 1) resolve();
    };
  });
  ws.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await viaInspector(process.argv[2]!, Number(process.argv[3]));
