/** A campaign command refused, with a stable code (the API's `error`) and the reason in words. Nothing changed. */
export class CampaignError extends Error {
  constructor(
    readonly code: 'not-found' | 'exists' | 'conflict' | 'bad-request' | 'bad-selector' | 'file-not-found',
    message: string,
  ) {
    super(message);
    this.name = 'CampaignError';
  }
}
