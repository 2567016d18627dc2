import type { Task, TaskRequest } from '../management/task.js';
import type { Campaign } from './campaign.js';
import type { FileCatalog } from './file-source.js';

/** A campaign's task for a device's try: the idempotency key says which campaign and which try. */
export const campaignTaskKey = (campaignId: number, attempt: number): string => `campaign-${campaignId}-try-${attempt}`;

export function campaignOfTask(t: Task): { campaignId: number; attempt: number } | undefined {
  if (t.origin !== 'campaign' || t.idempotencyKey === null) return undefined;
  const m = /^campaign-(\d+)-try-(\d+)$/.exec(t.idempotencyKey);
  return m ? { campaignId: Number(m[1]), attempt: Number(m[2]) } : undefined;
}

/** The RPC a campaign sends a device: Download of its file (the device's own URL), or SetParameterValues. */
export async function campaignRequest(c: Campaign, deviceId: string, files: FileCatalog | undefined): Promise<TaskRequest | string> {
  const a = c.spec.action;
  if (a.kind === 'set') return { kind: 'setParameterValues', values: a.values };
  const file = await files?.get(a.fileId);
  if (!files || !file) return `firmware file ${a.fileId} is no longer there`;
  return { kind: 'download', url: files.downloadUrl(file.id, deviceId), fileType: '1 Firmware Upgrade Image', fileSize: file.size, targetFileName: file.id };
}
