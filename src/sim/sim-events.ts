import type { TransportAddress } from '../stun/address.js';
import type { CertFetchResult } from './cert-client.js';
import type { InformEvent } from './cwmp-agent.js';
import type { StunOutcome } from './stun-agent.js';
import { CR_REJECT_REASONS, type CrRejectReason } from './udp-cr.js';

/** What a simulator reports, by event name (`sim.on(name, listener)`). */
export interface SimEventMap {
  'session-start': [{ readonly device: string; readonly events: readonly InformEvent[]; readonly retryCount: number }];
  'session-end': [
    {
      readonly device: string;
      readonly ok: boolean;
      readonly events: readonly InformEvent[];
      /** RPCs the ACS sent, in order. */
      readonly rpcs: readonly string[];
      readonly error?: string;
    },
  ];
  /** An ACS RPC was answered (`fault`: the CWMP fault code it was answered with). */
  rpc: [{ readonly device: string; readonly method: string; readonly fault?: number }];
  'cr-accepted': [{ readonly device: string; readonly transport: 'udp' | 'http' }];
  'cr-rejected': [{ readonly device: string; readonly transport: 'udp' | 'http'; readonly reason: CrRejectReason | 'bad-auth' }];
  /** Dropped before validation by --loss or --drop-cr. */
  'cr-dropped': [{ readonly device: string; readonly why: 'loss' | 'drop-cr' }];
  /** A STUN success response; `changed` when the mapped address is new or moved. */
  'stun-binding': [{ readonly device: string; readonly address: TransportAddress; readonly changed: boolean }];
  /** Every STUN packet sent, lost (--loss), answered, refused (401) or given up on. */
  stun: [{ readonly device: string; readonly outcome: StunOutcome }];
  /** The device went down ("rebooting") and came back up. */
  reboot: [{ readonly device: string; readonly phase: 'down' | 'up' }];
  /** A certificate fetch finished (seed 002): what the proxy answered last, and for `valid` what the STB presented. */
  cert: [{ readonly device: string } & CertFetchResult];
  /** The device itself changed a notified value (changeValue, --value-change-every): an Inform with "4 VALUE CHANGE" follows. */
  'value-change': [{ readonly device: string; readonly name: string; readonly value: string; readonly notification: 'passive' | 'active' }];
  /** An Upload was carried out (PUT or POST of the file): `ok` a 2xx answer, `status` the HTTP status if one came. */
  upload: [{ readonly device: string; readonly commandKey: string; readonly what: 'config' | 'log'; readonly bytes: number; readonly ok: boolean; readonly status?: number }];
  /**
   * A Download was carried out: `ok` the file arrived whole (200, FileSize matched), `bytes` as received,
   * `firmware` the version of a simulator firmware image, `outcome` what the STB then did.
   */
  download: [{ readonly device: string; readonly commandKey: string; readonly ok: boolean; readonly bytes: number; readonly status?: number; readonly firmware?: string; readonly outcome: 'installed' | 'lied' | 'bricked' | 'failed' | 'stored'; readonly error?: string }];
  /** The ACS set X_STBD_Certificate.UpdateRequired ("certificate needs update"); a fetch follows after the session. */
  'cert-update-notice': [{ readonly device: string; readonly certId: string }];
}

/** Counters over every device of a simulator. */
export interface SimStats {
  sessionsOk: number;
  sessionsFailed: number;
  informs: number;
  /** RPCs received, by method. */
  rpcs: Record<string, number>;
  faultsSent: number;
  crAccepted: number;
  crRejected: Record<CrRejectReason | 'bad-auth', number>;
  /** Connection requests dropped by --loss or --drop-cr. */
  crDropped: number;
  stunSent: number;
  /** STUN packets --loss dropped instead of sending. */
  stunLost: number;
  stunResponses: number;
  stun401: number;
  /** Transactions that got no answer after every retransmission. */
  stunTimeouts: number;
  /** Requests sent to the certificate proxy (proofs and acknowledgements). */
  certRequests: number;
  /** Certificate fetches that ended with a usable certificate, and those that did not. */
  certsValid: number;
  certsFailed: number;
  certNotices: number;
  /** Notified values the devices changed themselves. */
  valueChanges: number;
  /** Uploads the server took (2xx), and those it did not (or that got no answer). */
  uploads: number;
  uploadsFailed: number;
  /** Downloads that arrived whole, those that did not (or were reported failed), firmware installed, STBs bricked. */
  downloads: number;
  downloadsFailed: number;
  firmwareInstalled: number;
  bricked: number;
}

export function newStats(): SimStats {
  const crRejected = Object.fromEntries([...CR_REJECT_REASONS, 'bad-auth'].map((r) => [r, 0])) as SimStats['crRejected'];
  return {
    sessionsOk: 0,
    sessionsFailed: 0,
    informs: 0,
    rpcs: {},
    faultsSent: 0,
    crAccepted: 0,
    crRejected,
    crDropped: 0,
    stunSent: 0,
    stunLost: 0,
    stunResponses: 0,
    stun401: 0,
    stunTimeouts: 0,
    certRequests: 0,
    certsValid: 0,
    certsFailed: 0,
    certNotices: 0,
    valueChanges: 0,
    uploads: 0,
    uploadsFailed: 0,
    downloads: 0,
    downloadsFailed: 0,
    firmwareInstalled: 0,
    bricked: 0,
  };
}

export const totalRejected = (s: SimStats): number => Object.values(s.crRejected).reduce((a, b) => a + b, 0);
