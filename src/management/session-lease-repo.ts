/**
 * One CWMP session per device in the whole cluster: the session holding a device's lease may send it RPCs;
 * a lease not renewed (its node died, or was cut off) runs out, and the device's next session, on any node,
 * takes it over and sends the RPC in flight again. A session's lease is taken with its Inform
 * (CwmpDeviceRepo.recordInform's claim); this repository renews and gives it up.
 */
export interface SessionLeaseRepo {
  /** Leases other nodes see (a cluster); false: one node, whose map of sessions is the lease. */
  readonly shared: boolean;
  /** Renews it; false when the lease is no longer this session's (taken over after it ran out). */
  renew(deviceId: string, session: string, until: number): Promise<boolean>;
  /** The session ended: the lease is given up. */
  release(deviceId: string, session: string): Promise<void>;
}

/** One node (SQLite): the daemon's own map of sessions is the lease; nothing is stored. */
export class LocalSessionLeases implements SessionLeaseRepo {
  readonly shared = false;

  async renew(): Promise<boolean> {
    return true;
  }

  async release(): Promise<void> {}
}
