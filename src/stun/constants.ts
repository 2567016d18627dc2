/** STUN wire constants (RFC 3489, RFC 5389, TR-111 part 2). */

export const HEADER_LENGTH = 20;
export const MAGIC_COOKIE = 0x2112a442;
/** XORed into the CRC-32 of FINGERPRINT (RFC 5389 §15.5). */
export const FINGERPRINT_XOR = 0x5354554e;

export const MessageType = {
  BindingRequest: 0x0001,
  BindingIndication: 0x0011,
  BindingSuccess: 0x0101,
  BindingError: 0x0111,
} as const;

export const AttributeType = {
  MAPPED_ADDRESS: 0x0001,
  CHANGE_REQUEST: 0x0003,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  XOR_MAPPED_ADDRESS: 0x0020,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
  /** TR-111: present only on requests sent from the CPE's connection-request port. */
  CONNECTION_REQUEST_BINDING: 0xc001,
  /** TR-111: the CPE saw its mapped address change (length 0). */
  BINDING_CHANGE: 0xc002,
} as const;

/** The 20-byte value of CONNECTION-REQUEST-BINDING, trailing space included. */
export const CONNECTION_REQUEST_BINDING_TEXT = 'dslforum.org/TR-111 ';

/** Attribute types below 0x8000 are comprehension-required (RFC 5389 §15). */
export const isComprehensionRequired = (type: number): boolean => type < 0x8000;

export const MESSAGE_INTEGRITY_LENGTH = 20;
