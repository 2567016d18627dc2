/** The six credentials a device holds. Passwords are secrets: never logged, shown once at creation. */
export interface DeviceCredentials {
  /** Sent by the STB as STUN USERNAME; identifies the device on the keepalive path. */
  readonly stunUsername: string;
  /** Raw HMAC-SHA1 key of STUN MESSAGE-INTEGRITY. */
  readonly stunPassword: string;
  /** `un` of UDP Connection Requests; the password is their HMAC key. */
  readonly crUsername: string;
  readonly crPassword: string;
  /** HTTP Basic/Digest credentials of the STB's CWMP sessions. */
  readonly cwmpUsername: string;
  readonly cwmpPassword: string;
}

export interface DeviceRecord {
  /** CWMP style OUI-ProductClass-SerialNumber; any printable text is accepted. */
  readonly id: string;
  readonly credentials: DeviceCredentials;
  /** Unix ms. */
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What a caller may give when registering a device: the id, and any credentials it wants to fix. */
export type DeviceInput = { readonly id: string } & Partial<DeviceCredentials>;
